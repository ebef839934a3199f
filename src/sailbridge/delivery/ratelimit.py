"""Per-(endpoint, method) pacing that follows Sailthru's configured and actual limits.

Each route has its own bucket, so a throttled ``POST /purchase`` never holds up
``POST /user``. The configured rate paces calls evenly; the ``X-Rate-Limit-*`` headers
and 429 answers then override it: once Sailthru says a route has nothing left this
minute, that route waits for ``X-Rate-Limit-Reset`` even if the configured limit is
higher than the account's real one — but never longer than ``max_block`` seconds:
Sailthru's windows are one minute, so a reset an hour ahead (a clock gone wrong, a
proxy's header) would otherwise stop the route for the hour, and only a restart would
clear it. Past the cap the route simply tries again; if Sailthru still refuses, the
next 429 blocks it once more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sailbridge.clock import Clock
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.settings import (
    DEFAULT_MAX_RATE_LIMIT_BLOCK,
    DEFAULT_OTHER_LIMIT,
)

DEFAULT_BLOCK_SECONDS = 1.0
"""How long to hold a route after a 429 that came without a usable reset header."""
PAST_RESET_BLOCK_SECONDS = 0.05
"""How long to hold a route after a 429 whose reset has already passed here: Sailthru's
window has rolled over by our clock, so only a short pause (for clock skew) is due, not
the pause for an unknown reset — that would idle the route for a second at each window
boundary a response happened to straddle."""


@dataclass
class _Route:
    interval: float
    next_slot: float = 0.0
    blocked_until: float = 0.0
    lock: asyncio.Lock | None = None


class RateLimiter:
    """Spaces calls per route at the configured rate and obeys Sailthru's headers.

    ``clock`` is wall-clock epoch seconds because Sailthru's reset header is an epoch
    second; ``sleep`` is injectable for tests of the arithmetic. ``max_block`` is the
    longest any block holds a route (`RetryPolicy.max_rate_limit_block`).
    """

    def __init__(
        self,
        limits_per_second: Mapping[str, float],
        clock: Clock = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
        on_wait: Callable[[str, float], None] = lambda route, seconds: None,
        *,
        max_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK,
    ) -> None:
        self._limits = dict(limits_per_second)
        self.max_block = max_block
        self._on_wait = on_wait
        self._routes: dict[str, _Route] = {}
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds: dict[str, float] = {}

    def _route(self, route: str) -> _Route:
        state = self._routes.get(route)
        if state is None:
            rate = self._limits.get(route, DEFAULT_OTHER_LIMIT)
            state = self._routes[route] = _Route(interval=1.0 / rate, lock=asyncio.Lock())
        return state

    async def acquire(self, route: str) -> None:
        """Wait for this route's next slot (and any block Sailthru imposed)."""
        state = self._route(route)
        assert state.lock is not None
        waited = 0.0
        while True:
            async with state.lock:
                now = self._clock()
                start = max(now, state.next_slot, state.blocked_until)
                state.next_slot = start + state.interval
            if start > now:
                waited += start - now
                await self._sleep(start - now)  # type: ignore[misc]
            # Sailthru may have closed the route while we slept (a response with nothing
            # remaining): take a fresh slot after the block rather than earn a 429.
            if state.blocked_until <= self._clock():
                break
        if waited > 0:
            self.waited_seconds[route] = self.waited_seconds.get(route, 0.0) + waited
            self._on_wait(route, waited)

    def observe(self, route: str, info: RateLimitInfo | None) -> None:
        """Learn from a response's headers: nothing left means wait for the reset (unless
        the reset has passed already: the answer arrived after the window it counted)."""
        if info is not None and info.remaining <= 0 and info.reset > self._clock():
            self.block(route, float(info.reset))

    def block(self, route: str, until: float | None) -> None:
        """Hold ``route`` until the epoch second ``until`` (a short pause if unknown, a
        very short one if already past, at most ``max_block`` seconds)."""
        state = self._route(route)
        target = block_target(until, self._clock(), self.max_block)
        state.blocked_until = max(state.blocked_until, target)


def block_target(
    until: float | None, now: float, max_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK
) -> float:
    """Until when a block asked for with ``until`` (Sailthru's reset, if known) holds:
    the reset, but never more than ``max_block`` seconds after ``now``."""
    if not until:
        target = now + DEFAULT_BLOCK_SECONDS
    else:
        target = until if until > now else now + PAST_RESET_BLOCK_SECONDS
    return min(target, now + max_block)
