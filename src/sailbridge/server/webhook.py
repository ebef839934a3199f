"""Segment Webhooks' request signature: ``X-Signature``, HMAC-SHA1 of the body.

Segment signs each webhook body with the destination's shared secret and sends the
lower-case hex digest. For a batch (Webhooks (Actions) with batching) the body is a
JSON array, and Segment computes the digest over ``JSON.stringify`` of the array's
*first element* rather than of the whole body; both forms are accepted. The compact
JSON of the first element is taken as it appears in the body (which is exactly
``JSON.stringify``'s output when Segment serialised the array), and also re-encoded
compactly, in case something in between reformatted the body.

`signed_body` settles which of those a request's signature covers and reads the body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Sequence

import msgspec

from sailbridge.intake.documents import Body, events_body
from sailbridge.server.bodies import read_document
from sailbridge.server.errors import IngestError, Unauthorized


def signature(secret: str, data: bytes) -> str:
    """The ``X-Signature`` Segment sends for ``data`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha1).hexdigest()


def first_element_forms(first_event: bytes) -> list[bytes]:
    """What a valid signature of an array body may be over besides the body: its first
    element as sent, and re-encoded compactly."""
    forms = [first_event]
    with contextlib.suppress(msgspec.MsgspecError, RecursionError):
        forms.append(msgspec.json.encode(msgspec.json.decode(first_event)))
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


def signed_body(given: str, secrets: tuple[str, ...], data: bytes) -> Body:
    """The body (one event or an array), if ``given`` signs it or, for an array, its
    first element; otherwise 401, without a word about what is in the body."""
    refused = Unauthorized(
        "X-Signature is not the HMAC-SHA1 of this body under any of SAILBRIDGE_WEBHOOK_SECRETS"
    )
    if secrets and signature_matches(given, secrets, [data]):
        return read_document(events_body, data)
    if not secrets or data.lstrip()[:1] != b"[":
        raise refused
    try:
        body = read_document(events_body, data)
    except IngestError:
        raise refused from None
    if not body.events or not signature_matches(
        given, secrets, first_element_forms(bytes(body.events[0]))
    ):
        raise refused
    return body
