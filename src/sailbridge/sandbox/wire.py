"""Sailthru's request envelope: four parameters, checked in the order Sailthru checks them.

GET and DELETE carry ``api_key``, ``format``, ``json`` and ``sig`` in the query string,
POST in an ``application/x-www-form-urlencoded`` body. Form decoding turns ``+`` into
a space, exactly as on Sailthru's side, so a client that forgets to escape a ``+``
inside the JSON fails the signature here as it would there.

Order: a missing parameter (error 2), an unknown api key (3, HTTP 401), a bad
signature over every received parameter but ``sig`` (5, HTTP 401), then ``format``
other than json and a ``json`` that is not an object (99).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

import msgspec

from sailbridge.sailthru.signing import verify
from sailbridge.sandbox.errors import (
    INVALID_API_KEY,
    INVALID_SIGNATURE,
    ApiError,
    invalid,
    missing,
)

ENVELOPE: Final = ("api_key", "format", "json", "sig")


@dataclass(frozen=True)
class ApiCall:
    """An authenticated REST call: who sent it and its decoded ``json`` parameters."""

    api_key: str
    params: dict[str, Any]


def form_params(body: bytes) -> dict[str, str]:
    """The parameters of a urlencoded body (the last value wins for a repeated name)."""
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def authenticate(raw: Mapping[str, str], api_key: str, secret: str) -> ApiCall:
    """Check the envelope of ``raw`` and decode its ``json`` parameter."""
    for name in ENVELOPE:
        if name not in raw or raw[name] == "":
            raise missing(name)
    if raw["api_key"] != api_key:
        raise ApiError(INVALID_API_KEY, "Invalid API key", status=401)
    if not verify(secret, dict(raw)):
        raise ApiError(INVALID_SIGNATURE, "Invalid signature", status=401)
    if raw["format"] != "json":
        raise invalid(f"Unsupported format: {raw['format']} (the sandbox speaks json)")
    return ApiCall(api_key=raw["api_key"], params=decode_json_param(raw["json"]))


def decode_json_param(text: str) -> dict[str, Any]:
    """The ``json`` parameter as an object, or error 99."""
    try:
        params = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise invalid(f"Invalid JSON in the json parameter: {exc}") from None
    if not isinstance(params, dict):
        raise invalid("The json parameter must be a JSON object")
    return params
