"""The overview page: queue depth and age, the last hour's deliveries, each Sailthru
route's limit and use; and resuming delivery when it is paused."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sailbridge import operations
from sailbridge.drain import DrainEstimate, backlog_estimate
from sailbridge.render import duration
from sailbridge.server.console import views
from sailbridge.server.console.chart import minute_chart
from sailbridge.server.console.rendering import Console, see_other
from sailbridge.store.accounts import account_limits

CHART_SECONDS = 3600
"""How far back the deliveries chart reaches."""


async def overview(console: Console, request: Request) -> Response:
    """The status at a glance (htmx refreshes it every few seconds)."""
    now = time.time()
    counts = await console.store.counts()
    minutes = await console.store.finished_per_minute(now - CHART_SECONDS, now)
    status = operations.status_view(counts, now)
    oldest = status["oldest_pending_age_seconds"]
    limits = console.settings.rate_limits_per_second
    drain = backlog_estimate(
        counts,
        await console.store.queued_kinds(),
        limits,
        console.metrics.route_usage.reported_limits(),
    )
    return await console.render(
        request,
        "overview.html",
        {
            "status": status,
            "stall": console.delivery(),
            "depth": counts.pending + counts.retrying + counts.claimed,
            "oldest": None if oldest is None else duration(oldest),
            "drains_in": duration(drain.total_seconds) if drain.routes else None,
            "chart": minute_chart(minutes, now),
            "routes": _route_rows(console, drain, now),
        },
    )


def _route_rows(console: Console, drain: DrainEstimate, now: float) -> list[dict[str, Any]]:
    """Each Sailthru route of each account (named ``account METHOD /path`` but for the
    account ``default``): the configured limit, this minute's use, and its backlog."""
    limits = account_limits(
        {
            account.name: account.settings.rate_limits_per_second
            for account in console.settings.deployment().accounts.values()
        }
    )
    usage = console.metrics.route_usage.snapshot()
    backlog = {route.route: route for route in drain.routes}
    rows = []
    for route in sorted(set(limits) | set(usage) | set(backlog)):
        use = usage.get(route)
        limit_per_minute = round(limits[route] * 60) if route in limits else None
        headers = use.sailthru if use else None
        waiting = backlog.get(route)
        rows.append(
            {
                "waiting": waiting.calls if waiting else 0,
                "drains_in": duration(waiting.seconds) if waiting else None,
                "route": route,
                "limit": limit_per_minute,
                "calls": use.calls_last_minute if use else 0,
                "throttled": use.throttled_last_minute if use else 0,
                "sailthru_limit": headers.limit if headers else None,
                "sailthru_remaining": headers.remaining if headers else None,
                "sailthru_reset": views.when(headers.reset, now) if headers else None,
            }
        )
    return rows


async def resume(console: Console, request: Request) -> Response:
    """Resume paused delivery (the pause the store holds for every node), of every
    paused account."""
    paused = await console.store.paused_accounts()
    if not paused:
        request.session["flash"] = "Delivery was not paused."
    else:
        for account in paused:
            await console.store.set_paused(None, account)
        request.session["flash"] = "Delivery resumed."
    return see_other("/console/")
