"""How much of each Sailthru route's rate limit is in use, for the console's overview.

Two views of one thing: the calls this process made on each route in the last minute
(and how many Sailthru answered 429), and the ``X-Rate-Limit-*`` headers of the
route's latest answer — Sailthru's own count for the whole account, so it covers
every node sharing the API key. Counting is per second in a ring of `WINDOW_SECONDS`
buckets, so recording a call is a few integer operations however busy the route.

`RouteUsage` is also a Prometheus collector: ``/metrics`` shows Sailthru's limit per
route and the share of it in use in the current window, so a dashboard can draw
delivery against the limit and an alert can fire on a route near it for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sailbridge.clock import Clock
from sailbridge.sailthru.errors import RateLimitInfo

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RouteUse:
    """One route's use: calls and 429s here in the last minute, Sailthru's last headers."""

    calls_last_minute: int
    throttled_last_minute: int
    sailthru: RateLimitInfo | None
    """The latest ``X-Rate-Limit-*`` headers seen on this route (limit per minute,
    remaining, reset epoch second), or ``None`` when Sailthru sent none."""


@dataclass
class _Ring:
    seconds: list[int] = field(default_factory=lambda: [-1] * WINDOW_SECONDS)
    calls: list[int] = field(default_factory=lambda: [0] * WINDOW_SECONDS)
    throttled: list[int] = field(default_factory=lambda: [0] * WINDOW_SECONDS)
    headers: RateLimitInfo | None = None


class RouteUsage(Collector):
    """Calls per route over the last minute, and Sailthru's latest rate-limit headers."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._routes: dict[str, _Ring] = {}

    def record(self, route: str, status: int | None, headers: RateLimitInfo | None) -> None:
        """One call on ``route``: its HTTP status (``None``: no answer) and headers."""
        ring = self._routes.get(route)
        if ring is None:
            ring = self._routes[route] = _Ring()
        second = int(self._clock())
        slot = second % WINDOW_SECONDS
        if ring.seconds[slot] != second:
            ring.seconds[slot], ring.calls[slot], ring.throttled[slot] = second, 0, 0
        ring.calls[slot] += 1
        if status == 429:
            ring.throttled[slot] += 1
        if headers is not None:
            ring.headers = headers

    def reported_limits(self) -> dict[str, RateLimitInfo | None]:
        """Each route's latest ``X-Rate-Limit-*`` headers (``None`` where none came)."""
        return {route: ring.headers for route, ring in self._routes.items()}

    def snapshot(self) -> dict[str, RouteUse]:
        """Every route called so far, with its use over the last `WINDOW_SECONDS`."""
        oldest = int(self._clock()) - WINDOW_SECONDS
        uses = {}
        for route, ring in self._routes.items():
            recent = [i for i, second in enumerate(ring.seconds) if second > oldest]
            uses[route] = RouteUse(
                sum(ring.calls[i] for i in recent),
                sum(ring.throttled[i] for i in recent),
                ring.headers,
            )
        return uses

    def collect(self) -> Iterable[Metric]:
        """Sailthru's limit per route (calls per window, account-wide) from its latest
        headers, and the share used in that window while the window lasts: once its
        reset second has passed the share is unknown, so the route has no sample (an
        alert on it then stops rather than firing on an old burst)."""
        limit = GaugeMetricFamily(
            "sailbridge_sailthru_rate_limit",
            "Sailthru's rate limit per route, calls per window (X-Rate-Limit-Limit).",
            labels=["route"],
        )
        used = GaugeMetricFamily(
            "sailbridge_sailthru_rate_limit_used_ratio",
            "Share of the route's Sailthru limit used in the current window, by the whole "
            "account (1 - X-Rate-Limit-Remaining / X-Rate-Limit-Limit).",
            labels=["route"],
        )
        now = self._clock()
        for route, ring in self._routes.items():
            headers = ring.headers
            if headers is None or headers.limit <= 0:
                continue
            limit.add_metric([route], headers.limit)
            if now < headers.reset:
                used.add_metric([route], max(headers.limit - headers.remaining, 0) / headers.limit)
        yield limit
        yield used
