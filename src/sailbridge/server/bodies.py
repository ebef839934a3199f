"""Reading an ingest request: the write key from Basic auth, the body under a size cap,
and the intake's reading of that body with its refusals as HTTP errors.

Starlette neither decompresses request bodies nor limits their size, so both happen
here, in a way a hostile client cannot turn into memory use: the wire body is read
in chunks and abandoned past the cap, and a gzip body is inflated with a bounded
output size, so a small "zip bomb" stops at the cap instead of filling memory.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request

from sailbridge.intake.documents import Body, BodyError
from sailbridge.server.errors import (
    IngestError,
    InvalidBody,
    InvalidGzip,
    InvalidJson,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedEncoding,
)

_GZIP_WBITS = 16 + zlib.MAX_WBITS


def write_key_from_authorization(header: str | None) -> str | None:
    """The write key in ``Authorization: Basic base64(writeKey + ":")``, else ``None``.

    A present but unreadable Basic header — not base64, not UTF-8, non-ASCII bytes, or
    empty (``Basic `` alone, or no user name) — is refused rather than ignored: the
    client meant to authenticate, and silently falling back to the body's ``writeKey``
    would hide its bug. Other schemes (``Bearer`` OAuth tokens) are not supported and
    read as no key.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise Unauthorized("the Authorization header is not valid Basic credentials") from exc
    user, _, _password = decoded.partition(":")
    if not user:
        raise Unauthorized(
            "the Authorization header's Basic credentials hold no write key "
            '(expected base64 of "writeKey:")'
        )
    return user


def header_value(request: Request, name: bytes) -> str | None:
    """One request header (``name`` lower-case, as ASGI gives names), read straight from
    the scope: cheaper than building Starlette's `Headers` for a header or two."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, decompressed, refusing more than ``max_bytes`` either way.

    The cap applies to the bytes on the wire and again to the decompressed JSON,
    matching Segment's 500 KB batch limit, which is on the JSON itself.
    """
    declared = header_value(request, b"content-length")
    encoding = header_value(request, b"content-encoding")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    receive = request.receive  # the ASGI messages themselves: Request.stream() costs more
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip_capped(body, max_bytes)
    raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip")


def read_document(reader: Callable[[bytes], Body], data: bytes) -> Body:
    """The intake's reading of a body, its refusals as HTTP errors."""
    try:
        return reader(data)
    except BodyError as error:
        raise body_error(error) from error


def body_error(error: BodyError) -> IngestError:
    """The HTTP error for a body the intake cannot read."""
    if error.kind == "malformed":
        return InvalidJson(error.message)
    if error.kind == "too_many":
        return PayloadTooLarge(error.message)
    return InvalidBody(error.message)


def gunzip_capped(data: bytes, max_bytes: int) -> bytes:
    """Inflate gzip ``data`` (one or more members) but never past ``max_bytes``.

    ``decompressobj(...).decompress(data, max_length)`` produces at most
    ``max_length`` bytes per call and keeps the rest as ``unconsumed_tail``, so the
    work and memory are bounded by the cap however compressible the input is.
    """
    out = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            while True:
                out += inflater.decompress(pending, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    raise PayloadTooLarge(
                        f"decompressed body exceeds the limit of {max_bytes} bytes"
                    )
                pending = inflater.unconsumed_tail
                if inflater.eof or not pending:
                    break
        except zlib.error as exc:
            raise InvalidGzip(f"the gzip body cannot be decompressed: {exc}") from exc
        if not inflater.eof:
            raise InvalidGzip("the gzip body is truncated")
        pending = inflater.unused_data
    return bytes(out)
