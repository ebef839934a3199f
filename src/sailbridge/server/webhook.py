"""Segment Webhooks' request signature: ``X-Signature``, HMAC-SHA1 of the body.

Segment signs each webhook body with the destination's shared secret and sends the
lower-case hex digest. For a batch (Webhooks (Actions) with batching) the body is a
JSON array, and Segment computes the digest over ``JSON.stringify`` of the array's
*first element* rather than of the whole body; both forms are accepted. The compact
JSON of the first element is taken as it appears in the body (which is exactly
``JSON.stringify``'s output when Segment serialised the array), and also re-encoded
compactly, in case something in between reformatted the body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

import msgspec


def signature(secret: str, data: bytes) -> str:
    """The ``X-Signature`` Segment sends for ``data`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha1).hexdigest()


def signed_forms(body: bytes, first_event: bytes | None) -> list[bytes]:
    """The byte strings a valid signature may be over: the body, and for an array its
    first element as sent and re-encoded compactly."""
    forms = [body]
    if first_event is not None:
        forms.append(first_event)
        try:
            forms.append(msgspec.json.encode(msgspec.json.decode(first_event)))
        except (msgspec.MsgspecError, RecursionError):
            pass
    return forms


def signature_matches(given: str, secrets: Iterable[str], forms: Sequence[bytes]) -> bool:
    """Whether ``given`` is the signature of any form under any secret. Every
    comparison runs (constant time each, and no early exit that timing could reveal
    which secret or form was close)."""
    wanted = given.strip().lower().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        for data in forms:
            matched |= hmac.compare_digest(signature(secret, data).encode("ascii"), wanted)
    return matched
