"""How long the queued events need to reach Sailthru, route by route (SPEC §13).

Sailthru's rate limits, not sailbridge, set how fast a backlog drains: each route
(``POST /user``, ``POST /purchase`` …) has its own limit per second. So the estimate
is, per route, the calls the queued events still need there divided by the route's
current limit: the one Sailthru last reported in ``X-Rate-Limit-Limit`` (its count for
the whole account, which may differ from the configuration), else the configured one.

Pure: the caller reads the queue (`Store.counts`, `Store.queued_kinds`) and the route
usage; this module only counts and divides, so ``status``, the console and ``/metrics``
agree. Each account drains at its own limits (`reported_in` picks its routes from the
limiter's keys), so an estimate is one account's. Every queued event is counted as one
call: with coalescing a backlog of profile updates and cart changes needs fewer, so the
estimate is an upper bound there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sailbridge.mapping import normalize_event_name
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.settings.rate_limits import DEFAULT_OTHER_LIMIT
from sailbridge.store.accounts import split_route_key
from sailbridge.store.base import QueuedKinds, StatusCounts

PAGEVIEW_ROUTE: Final = "POST /v1/track/event/pageview"

_TRACK_ROUTES: Final[dict[str, str]] = {
    "ordercompleted": "POST /purchase",
    "productadded": "POST /purchase",
    "productremoved": "POST /purchase",
    "orderrefunded": "POST /return",
    "userdeleted": "DELETE /user",
    "subscribed": "POST /user",
}


def route_of(event_type: str, event_name: str | None) -> str | None:
    """The route of the call that delivers an event of this type and (track) name, or
    ``None`` for events that make no call (a group).

    Only the call that writes is counted: the GET /user a cart or an order may need
    first is answered from memory when sailbridge knows the facts, and its route's
    limit (300/s) is rarely the one a backlog waits for.
    """
    match event_type:
        case "identify" | "alias":
            return "POST /user"
        case "page" | "screen":
            return PAGEVIEW_ROUTE
        case "track":
            name = normalize_event_name(event_name or "")
            return _TRACK_ROUTES.get(name, "POST /event")
    return None


def calls_waiting(
    kinds: Mapping[tuple[str, str | None], int], scale: float = 1.0
) -> dict[str, int]:
    """Calls per route for queued events counted by (type, track name); ``scale``
    extends a sample to the whole queue (depth ÷ events sampled)."""
    per_route: dict[str, float] = {}
    for (event_type, name), count in kinds.items():
        route = route_of(event_type, name)
        if route is not None:
            per_route[route] = per_route.get(route, 0.0) + count * scale
    return {route: round(calls) for route, calls in sorted(per_route.items())}


@dataclass(frozen=True)
class RouteDrain:
    """One route's share of the backlog: calls waiting, the limit they drain at (per
    second) and where that limit comes from."""

    route: str
    calls: int
    limit: float
    limit_from: Literal["sailthru", "configured"]

    @property
    def seconds(self) -> float:
        return self.calls / self.limit if self.limit > 0 else float("inf")


@dataclass(frozen=True)
class DrainEstimate:
    """Every route's drain time, and the total.

    The total is the sum of the routes' times: an upper bound, since each route is
    paced separately and they may drain side by side (the slowest route's time is
    then the lower bound); but one user's events wait for each other across routes,
    and a worker's slots held by the slowest route hold the others back, so the sum is
    what an operator can count on.
    """

    routes: tuple[RouteDrain, ...]

    @property
    def total_seconds(self) -> float:
        return sum(route.seconds for route in self.routes)

    @property
    def total_calls(self) -> int:
        return sum(route.calls for route in self.routes)


def estimate_drain(
    waiting: Mapping[str, int],
    configured: Mapping[str, float],
    reported: Mapping[str, RateLimitInfo | None] | None = None,
) -> DrainEstimate:
    """Per route with calls waiting: the time to clear them at the current limit.

    ``configured`` holds per-second limits by route (routes not named get Sailthru's
    documented 40/s); ``reported`` the latest ``X-Rate-Limit-*`` headers per route,
    whose per-minute limit wins when given.
    """
    routes = []
    for route, calls in sorted(waiting.items()):
        if calls <= 0:
            continue
        headers = (reported or {}).get(route)
        if headers is not None and headers.limit > 0:
            routes.append(RouteDrain(route, calls, headers.limit / 60.0, "sailthru"))
        else:
            routes.append(
                RouteDrain(route, calls, configured.get(route, DEFAULT_OTHER_LIMIT), "configured")
            )
    return DrainEstimate(tuple(routes))


def backlog_estimate(
    counts: StatusCounts,
    sample: QueuedKinds,
    configured: Mapping[str, float],
    reported: Mapping[str, RateLimitInfo | None] | None = None,
) -> DrainEstimate:
    """The drain time of the whole queue (pending, retrying, in flight; the unsorted
    inbox too), its mix of routes read from ``sample`` (the oldest unfinished jobs)."""
    unfinished = counts.pending + counts.retrying + counts.claimed
    scale = unfinished / sample.sampled if sample.sampled else 0.0
    return estimate_drain(calls_waiting(sample.kinds, scale), configured, reported)


def reported_in(
    account: str, reported: Mapping[str, RateLimitInfo | None]
) -> dict[str, RateLimitInfo | None]:
    """Of Sailthru's latest headers keyed as the limiter keys them (`route_key`: the
    account and the route), ``account``'s, by route: each account has its own limits,
    and one account's headers say nothing of another's."""
    picked: dict[str, RateLimitInfo | None] = {}
    for key, headers in reported.items():
        owner, route = split_route_key(key)
        if owner == account:
            picked[route] = headers
    return picked


def drain_view(estimate: DrainEstimate) -> dict[str, Any]:
    """The estimate as JSON-ready data (``status --json``, the admin API)."""
    return {
        "total_seconds": round(estimate.total_seconds, 1),
        "routes": [
            {
                "route": route.route,
                "calls": route.calls,
                "limit_per_second": round(route.limit, 3),
                "limit_from": route.limit_from,
                "seconds": round(route.seconds, 1),
            }
            for route in estimate.routes
        ],
    }
