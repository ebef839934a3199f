"""What ``status``, ``/admin/status``, the console's overview and ``/metrics`` show of the
queue: read once here, so every surface counts the same jobs.

With an account named, its jobs only: its counts (`Store.counts`), pause and drain
time. With none, the whole store's counts, and each configured account's counts and
drain time beside them: accounts drain side by side, each at its own Sailthru limits,
so no single figure says when the store is empty but the slowest account's
(`StatusReading.drain_seconds`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sailbridge.drain import DrainEstimate, backlog_estimate, drain_view, reported_in
from sailbridge.operations import status_view
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.store.accounts import SOURCE_COUNTERS
from sailbridge.store.base import OperatorReads, StatusCounts

Reported = Callable[[], Mapping[str, RateLimitInfo | None]]


@dataclass(frozen=True)
class Limits:
    """What a drain time needs besides the store: each configured account's limits
    (account → route → calls/s) and Sailthru's latest headers, keyed as the limiter
    keys them (`sailbridge.route_usage.RouteUsage.reported_limits`)."""

    configured: Mapping[str, Mapping[str, float]]
    reported: Reported = field(default=dict)


@dataclass(frozen=True)
class AccountBacklog:
    """One account's counts and how long its queued events need at its limits."""

    account: str
    counts: StatusCounts
    drain: DrainEstimate


@dataclass(frozen=True)
class StatusReading:
    counts: StatusCounts
    """The named account's, else the whole store's."""
    paused: dict[str, str]
    """Each paused account (of those shown) → why."""
    accounts: tuple[AccountBacklog, ...]
    """The named account, else every configured account, in the configured order."""
    named: str | None

    @property
    def drain_seconds(self) -> float:
        """When the last shown account is through its backlog: the slowest one's time."""
        return max((backlog.drain.total_seconds for backlog in self.accounts), default=0.0)

    @property
    def draining(self) -> bool:
        """Whether any shown account has calls waiting."""
        return any(backlog.drain.routes for backlog in self.accounts)


async def read_status(
    store: OperatorReads, limits: Limits, account: str | None = None
) -> StatusReading:
    """Counts, pauses and drain times of ``account`` (``None``: the whole store, and
    each configured account beside it)."""
    paused = await store.paused_accounts()
    counts = await store.counts(account)
    names = tuple(limits.configured) if account is None else (account,)
    reported = limits.reported()
    backlogs = []
    for name in names:
        own = counts if name == account else await store.counts(name)
        sample = await store.queued_kinds(account=name)
        estimate = backlog_estimate(
            own, sample, limits.configured.get(name, {}), reported_in(name, reported)
        )
        backlogs.append(AccountBacklog(name, own, estimate))
    shown = {name: why for name, why in paused.items() if account in (None, name)}
    return StatusReading(counts, shown, tuple(backlogs), account)


def status_json(reading: StatusReading, now: float | None = None) -> dict[str, Any]:
    """The reading as JSON-ready data (``status --json``, ``/admin/status``): the counts
    as `status_view` shows them, ``drain`` (the named account's, else every account's
    routes with the slowest account's total) and, with several accounts and none named,
    ``accounts``: each account's counts, pause and drain, keyed by name."""
    view = status_view(reading.counts, now, reading.paused)
    view["drain"] = _drain_json(reading)
    if reading.named is None and len(reading.accounts) > 1:
        view["accounts"] = {
            backlog.account: account_json(backlog, reading.paused, now)
            for backlog in reading.accounts
        }
    return view


def account_json(
    backlog: AccountBacklog, paused: Mapping[str, str], now: float | None = None
) -> dict[str, Any]:
    """One account's entry in ``accounts``: its jobs' counts, age, pause and drain; not
    what ingest counts before an event is an account's (rejected, deduplicated, not
    yet sorted: the top-level figures)."""
    own = {name: why for name, why in paused.items() if name == backlog.account}
    view = status_view(backlog.counts, now, own)
    for name in (*SOURCE_COUNTERS, "not_yet_sorted", "paused_accounts"):
        view.pop(name, None)
    view["drain"] = drain_view(backlog.drain)
    return view


def _drain_json(reading: StatusReading) -> dict[str, Any]:
    if len(reading.accounts) == 1:
        return drain_view(reading.accounts[0].drain)
    routes = [
        {"account": backlog.account, **route}
        for backlog in reading.accounts
        for route in drain_view(backlog.drain)["routes"]
    ]
    return {"total_seconds": round(reading.drain_seconds, 1), "routes": routes}
