"""Sailthru's request signature and parameter encoding (SPEC §1).

Kept apart from the HTTP client because three parties need exactly the same rules:
the client that signs, the sandbox that verifies, and the tests that compare both with
Sailthru's official package.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def encode_json(params: dict[str, Any]) -> str:
    """The compact JSON string sent as the ``json`` parameter (and covered by ``sig``)."""
    return _encoder.encode(params).decode("utf-8")


def signature(secret: str, values: list[str]) -> str:
    """MD5 hex of the secret followed by the parameter values sorted as plain strings."""
    joined = secret + "".join(sorted(values))
    return hashlib.md5(joined.encode("utf-8")).hexdigest()


def signed_params(api_key: str, secret: str, params: dict[str, Any]) -> dict[str, str]:
    """The four request parameters Sailthru expects: api_key, format, json and sig."""
    payload = {"api_key": api_key, "format": "json", "json": encode_json(params)}
    return {**payload, "sig": signature(secret, list(payload.values()))}


def verify(secret: str, params: dict[str, str]) -> bool:
    """True when ``params['sig']`` is the signature of every other parameter's value."""
    given = params.get("sig")
    if given is None:
        return False
    values = [value for name, value in params.items() if name != "sig"]
    return signature(secret, values) == given.lower()
