"""Sailthru failures, classified by what the caller should do about them.

The classes follow the three answers a delivery service needs: try again later
(`RetryableError`, with `RateLimitedError` and `TransportError` as special cases),
stop everything until a person fixes the credentials (`CredentialsError`), or give up on
this event and keep its reason (`PermanentError`). Sailthru sometimes reports errors
with HTTP 200, so the body decides as much as the status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

RETRYABLE_CODES: Final = frozenset({9})
CREDENTIAL_CODES: Final = frozenset({3, 4, 5})
RATE_LIMIT_CODE: Final = 43


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``X-Rate-Limit-*`` headers of one response (``reset`` is an epoch second)."""

    limit: int
    remaining: int
    reset: int


class SailthruError(Exception):
    """A call that did not succeed. Never carries credentials: safe to log and store."""

    def __init__(
        self,
        message: str,
        *,
        route: str,
        status: int | None = None,
        code: int | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.route = route
        self.status = status
        self.code = code
        self.rate_limit = rate_limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "route": self.route,
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }

    @property
    def kind(self) -> str:
        return "error"


class RetryableError(SailthruError):
    """Worth trying again later: 5xx, Sailthru error 9, timeouts, dropped connections."""

    @property
    def kind(self) -> str:
        return "retryable"


class TransportError(RetryableError):
    """No usable HTTP answer at all (connection refused or dropped, timeout)."""

    @property
    def kind(self) -> str:
        return "transport"


class RateLimitedError(RetryableError):
    """HTTP 429 / error 43: wait until ``reset_at`` (epoch seconds); not a failed attempt."""

    def __init__(self, message: str, *, reset_at: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at

    @property
    def kind(self) -> str:
        return "rate_limited"


class CredentialsError(SailthruError):
    """Bad api key, secret, customer id or a disallowed IP: every call will fail alike."""

    @property
    def kind(self) -> str:
        return "credentials"


class PermanentError(SailthruError):
    """Sailthru refused this particular request; retrying it unchanged cannot help."""

    @property
    def kind(self) -> str:
        return "permanent"


def classify(
    route: str, status: int, body: Any, rate_limit: RateLimitInfo | None
) -> SailthruError | None:
    """Turn one HTTP answer into the error it represents, or ``None`` for success."""
    code = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    if code is None and 200 <= status < 300:
        return None
    message = _message(body, status)
    fields: dict[str, Any] = {
        "route": route,
        "status": status,
        "code": code,
        "rate_limit": rate_limit,
    }
    if status == 429 or code == RATE_LIMIT_CODE:
        reset_at = float(rate_limit.reset) if rate_limit else None
        return RateLimitedError(message, reset_at=reset_at, **fields)
    if status == 401 or code in CREDENTIAL_CODES:
        return CredentialsError(message, **fields)
    if status >= 500 or status == 408 or code in RETRYABLE_CODES:
        return RetryableError(message, **fields)
    return PermanentError(message, **fields)


def _message(body: Any, status: int) -> str:
    if isinstance(body, dict):
        for name in ("errormsg", "error_message", "message"):
            if isinstance(body.get(name), str):
                return str(body[name])
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return f"HTTP {status}"


def parse_rate_limit(headers: Any) -> RateLimitInfo | None:
    """Read ``X-Rate-Limit-Limit/-Remaining/-Reset``; ``None`` when absent or garbled."""
    try:
        return RateLimitInfo(
            limit=int(headers["X-Rate-Limit-Limit"]),
            remaining=int(headers["X-Rate-Limit-Remaining"]),
            reset=int(float(headers["X-Rate-Limit-Reset"])),
        )
    except (KeyError, TypeError, ValueError):
        return None
