"""The HTTP errors ingest answers with, each one a JSON ``{"code", "message"}`` body.

The status codes are chosen for what Segment's SDKs do with them: 408, 429 and 5xx
are retried with the same batch, every other non-2xx drops the batch for good. So a
request we could never accept (bad JSON, unknown write key, too large) gets a 4xx,
and a request we merely cannot take *now* (overload, store trouble) gets 429 or 503
with ``Retry-After``.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response


class IngestError(Exception):
    """An ingest request refused as a whole; subclasses fix the status and code."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def response(self) -> Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return error_response(self.status, self.code, self.message, headers)


class Unauthorized(IngestError):
    status = 401
    code = "unauthorized"


class NotFound(IngestError):
    status = 404
    code = "not_found"


class InvalidJson(IngestError):
    code = "invalid_json"


class InvalidBody(IngestError):
    """Well-formed JSON that is not what the endpoint takes (not an object, no batch)."""

    code = "invalid_body"


class InvalidGzip(IngestError):
    code = "invalid_gzip"


class UnsupportedEncoding(IngestError):
    status = 415
    code = "unsupported_encoding"


class InvalidEventError(IngestError):
    """A single-event endpoint's event that fails validation (the batch path keeps going)."""

    code = "invalid_event"


class EndpointTypeMismatch(IngestError):
    code = "type_mismatch"


class PayloadTooLarge(IngestError):
    status = 413
    code = "payload_too_large"


class Overloaded(IngestError):
    status = 429
    code = "overloaded"


class QueueUnavailable(IngestError):
    status = 503
    code = "store_unavailable"


class _ErrorBody(msgspec.Struct):
    code: str
    message: str


_encoder = msgspec.json.Encoder()


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error body in the shape Segment's SDKs read (``code`` and ``message``)."""
    return Response(
        _encoder.encode(_ErrorBody(code, message)),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, as JSON like every other error we send."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = None if exc.headers is None else dict(exc.headers)
    return error_response(exc.status_code, code, str(exc.detail), headers)


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    """A bug answered as a retryable 500 in JSON; the traceback goes to the log."""
    return internal_error_response()


def internal_error_response() -> Response:
    """The answer to a bug: a retryable 500 in JSON that says where to look."""
    return error_response(500, "internal_error", "internal server error; see the server log")
