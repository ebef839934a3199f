"""The overview page: queue depth and age, the last hour's deliveries, each Sailthru
route's limit and use; and resuming delivery when it is paused."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sailbridge import operations
from sailbridge.render import duration
from sailbridge.server.console import views
from sailbridge.server.console.chart import minute_chart
from sailbridge.server.console.rendering import Console, see_other
from sailbridge.status import StatusReading, account_json, read_status
from sailbridge.store.accounts import account_limits, route_key, split_route_key

CHART_SECONDS = 3600
"""How far back the deliveries chart reaches."""


async def overview(console: Console, request: Request) -> Response:
    """The status at a glance (htmx refreshes it every few seconds): of the account
    chosen in the selector, else of the whole store with a row per account."""
    now = time.time()
    chosen = console.chosen_account(request)
    reading = await read_status(console.store, console.metrics.limits, chosen)
    counts = reading.counts
    minutes = await console.store.finished_per_minute(now - CHART_SECONDS, now)
    status = operations.status_view(counts, now, reading.paused)
    oldest = status["oldest_pending_age_seconds"]
    return await console.render(
        request,
        "overview.html",
        {
            "status": status,
            "stall": console.delivery(),
            "depth": counts.pending + counts.retrying + counts.claimed,
            "oldest": None if oldest is None else duration(oldest),
            "drains_in": duration(reading.drain_seconds) if reading.draining else None,
            "several": len(reading.accounts) > 1,
            "per_account": _account_rows(reading, now) if chosen is None else [],
            "chart": minute_chart(minutes, now),
            "routes": _route_rows(console, reading, now),
        },
    )


def _account_rows(reading: StatusReading, now: float) -> list[dict[str, Any]]:
    """One row per account when there are several: its jobs and when they drain."""
    if len(reading.accounts) < 2:
        return []
    rows = []
    for backlog in reading.accounts:
        view = account_json(backlog, reading.paused, now)
        age = view["oldest_pending_age_seconds"]
        rows.append(
            {
                **view,
                "account": backlog.account,
                "oldest": None if age is None else duration(age),
                "drains_in": duration(backlog.drain.total_seconds)
                if backlog.drain.routes
                else None,
            }
        )
    return rows


def _route_rows(console: Console, reading: StatusReading, now: float) -> list[dict[str, Any]]:
    """Each Sailthru route of each account shown (named ``account METHOD /path`` but
    for the account ``default``): the configured limit, this minute's use, and its
    backlog at the account's limit."""
    shown = {backlog.account for backlog in reading.accounts}
    limits = account_limits(
        {
            name: routes
            for name, routes in console.metrics.limits.configured.items()
            if name in shown
        }
    )
    usage = {
        key: use
        for key, use in console.metrics.route_usage.snapshot().items()
        if split_route_key(key)[0] in shown
    }
    backlog = {
        route_key(each.account, route.route): route
        for each in reading.accounts
        for route in each.drain.routes
    }
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
