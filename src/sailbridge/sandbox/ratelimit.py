"""Sailthru's rate limits: per (endpoint, method), counted in fixed windows.

Windows are aligned to multiples of the window length in epoch time (Sailthru counts
per calendar minute), so ``X-Rate-Limit-Reset`` is the next boundary as an integer
epoch second. Every request that passed authentication counts, refused ones included:
that is what makes hammering a limited route pointless.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sailbridge.clock import Clock


@dataclass(frozen=True)
class RateLimitStatus:
    """Where a route stands in its current window, as the headers tell it."""

    limit: int
    remaining: int
    reset: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


class FixedWindowRateLimiter:
    """Counts requests per route in the current window."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, route: str, limit: int, window: float) -> RateLimitStatus:
        """Count one request on ``route``; ``allowed`` is False past ``limit``."""
        index, reset = self._window(window)
        current_index, count = self._windows.get(route, (index, 0))
        count = count + 1 if current_index == index else 1
        self._windows[route] = (index, count)
        return RateLimitStatus(limit, max(0, limit - count), reset, count <= limit)

    def peek(self, route: str, limit: int, window: float) -> RateLimitStatus:
        """The status without counting (for answers to unauthenticated requests)."""
        index, reset = self._window(window)
        current_index, count = self._windows.get(route, (index, 0))
        used = count if current_index == index else 0
        return RateLimitStatus(limit, max(0, limit - used), reset, used < limit)

    def reset(self) -> None:
        self._windows.clear()

    def _window(self, window: float) -> tuple[int, int]:
        index = math.floor(self._clock() / window)
        return index, math.ceil((index + 1) * window)
