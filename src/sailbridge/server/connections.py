"""Slow or too many clients cannot starve the others: read deadlines and a connection cap.

uvicorn gives a connection all the time it wants to send its request: 300 clients
sending a byte a second held 300 file descriptors for good and pushed a normal
client's latency past a second. `guarded_protocol` wraps uvicorn's HTTP protocol with

- a **header deadline**: a request's line and headers must arrive within
  ``header_timeout`` seconds of the connection opening (or of its first byte, for a
  kept-alive connection's next request);
- a **body deadline**: its body must arrive within ``body_timeout`` seconds of its
  headers;
- a **connection cap**: past ``max_connections`` open connections, a new one is
  answered 429 with ``Retry-After`` and closed at once.

A request that misses a deadline is answered 408 (which Segment's SDKs retry) and
its connection closed; nothing of it was stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sailbridge.settings import Settings

RETRY_AFTER_SECONDS: Final = 1


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many may be connected."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.header_timeout, settings.body_timeout, settings.max_connections)


def _raw_response(status: str, code: str, message: str, extra: str = "") -> bytes:
    body = f'{{"code":"{code}","message":"{message}"}}'.encode("ascii")
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


_TIMED_OUT: Final = _raw_response(
    "408 Request Timeout", "request_timeout", "the request was not received in time"
)
_TOO_MANY: Final = _raw_response(
    "429 Too Many Requests",
    "too_many_connections",
    "too many open connections; retry shortly",
    f"retry-after: {RETRY_AFTER_SECONDS}\r\n",
)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and a connection cap.

    A deadline is a time kept on the connection, not a timer per request: arming and
    disarming one per request (cancel, ``call_later``, twice a request) cost ~5 µs of
    a ~150 µs single-event request. One timer per connection wakes at most every
    ``min(header_timeout, body_timeout)`` seconds while a deadline is set and looks at
    it, so every deadline is still enforced on time; idle between requests, none runs.
    """

    limits: ConnectionLimits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: float | None = None  # loop time by which the current read ends
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.write(_TOO_MANY)
            transport.close()
            return
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.limits.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._deadline = None

    def _arm(self, seconds: float) -> None:
        now = self.loop.time()
        self._deadline = now + seconds
        if self._timer is None:
            self._schedule(now)

    def _schedule(self, now: float) -> None:
        """Wake at the deadline or within the shortest timeout, whichever is first: a
        deadline set later is never earlier than that, so the timer is never late."""
        assert self._deadline is not None
        limits = self.limits
        wake = min(self._deadline, now + min(limits.header_timeout, limits.body_timeout))
        self._timer = self.loop.call_at(wake, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._deadline is None:
            return  # the read finished; the next request arms a new timer
        now = self.loop.time()
        if now < self._deadline:
            self._schedule(now)
        else:
            self._expired()

    def _expired(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app's answer, if any, goes nowhere
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A `GuardedProtocol` class with these limits, for ``uvicorn.Config(http=...)``."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits})
