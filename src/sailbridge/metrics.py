"""Prometheus metrics: what ingest, delivery and the console record and ``/metrics`` shows.

The HTTP endpoint is `sailbridge.server.metrics`; health checks are in
`sailbridge.server.health`.

`Metrics` owns its own `CollectorRegistry`, so two apps in one process (tests, a
sandbox beside the real thing) never share counters. Ingest records into it, the
delivery workers call the ``record_*`` methods, and ``/metrics`` refreshes the queue
gauges from ``store.counts()`` at scrape time, so depth and age are never stale.

Several uvicorn workers: prometheus-client keeps per-process values, so set
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, before Python starts) and every
worker writes its values to files there; `Metrics.render` then aggregates all of
them. The queue gauges are set by whichever worker was scraped last
(``mostrecent``), which is right because they describe the shared store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from sailbridge.route_usage import RouteUsage
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.settings.rate_limits import DEFAULT_RATE_LIMITS
from sailbridge.status import AccountBacklog, Limits
from sailbridge.store.accounts import route_key, split_route_key
from sailbridge.store.base import SHOWN_COUNTS, StatusCounts
from sailbridge.supervise import RESTARTS

log = logging.getLogger(__name__)

INGEST_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SAILTHRU_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

QUEUE_STATES = tuple(SHOWN_COUNTS.values())
"""The ``state`` labels of the queue gauge: the `StatusCounts` fields."""

NO_CALL = "none"
"""The ``route`` label of an outcome reached without calling Sailthru (e.g. skipped)."""
ALL_ROUTES = "all"
"""The ``route`` label of the whole backlog's drain time (the sum over routes)."""


class Metrics:
    """Every metric sailbridge exports, registered on a registry of its own.

    Label conventions: ``route`` of a Sailthru call is ``"METHOD /endpoint"`` as in the
    rate-limit settings (``"POST /user"``, ``"POST /v1/track/event/pageview"``);
    ``event_type`` is the Segment type (``identify``, ``track``, ...); an ingest
    ``route`` is the path (``/v1/batch``).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry

        # ingest
        self.ingest_requests = Counter(
            "sailbridge_ingest_requests",
            "Ingest HTTP requests answered, by path and status.",
            ["route", "status"],
            registry=r,
        )
        self.ingest_latency = Histogram(
            "sailbridge_ingest_request_duration_seconds",
            "Time to answer an ingest request, including the durable store write.",
            ["route"],
            buckets=INGEST_LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_inflight = Gauge(
            "sailbridge_ingest_inflight_requests",
            "Ingest requests currently waiting on the store.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.events_received = Counter(
            "sailbridge_events_received",
            "Valid events received at ingest (before de-duplication), by type.",
            ["type"],
            registry=r,
        )
        self.events_rejected = Counter(
            "sailbridge_events_rejected",
            "Events refused at ingest and recorded as rejections, by reason class.",
            ["reason"],
            registry=r,
        )
        # Duplicates are found by the store when it sorts accepted events into the
        # queue, so this counter is the store's own total, refreshed at scrape time.
        self.store_totals = _StoreTotals()
        r.register(self.store_totals)

        # delivery outcomes
        labels = ["account", "event_type", "route"]
        self.jobs_delivered = Counter(
            "sailbridge_jobs_delivered", "Jobs delivered to Sailthru.", labels, registry=r
        )
        self.jobs_skipped = Counter(
            "sailbridge_jobs_skipped",
            "Jobs finished without a call (not for Sailthru).",
            labels,
            registry=r,
        )
        self.jobs_retried = Counter(
            "sailbridge_jobs_retried",
            "Delivery attempts that failed and were scheduled again.",
            labels,
            registry=r,
        )
        self.jobs_dead = Counter("sailbridge_jobs_dead", "Jobs dead-lettered.", labels, registry=r)
        self.jobs_filtered = Counter(
            "sailbridge_jobs_filtered",
            "Jobs skipped by a destination filter, by rule.",
            ["rule"],
            registry=r,
        )
        self.jobs_without_consent = Counter(
            "sailbridge_jobs_without_consent",
            'Jobs skipped for lack of consent, by the category missing ("none": no '
            "consent object while consent is required).",
            ["category"],
            registry=r,
        )

        # Sailthru calls and throttling
        self.throttle_waits = Counter(
            "sailbridge_throttle_waits",
            "Times a call waited for its rate limit, by account and route.",
            ["account", "route"],
            registry=r,
        )
        self.throttle_wait_seconds = Counter(
            "sailbridge_throttle_wait_seconds",
            "Seconds spent waiting for rate limits, by account and route.",
            ["account", "route"],
            registry=r,
        )
        self.sailthru_latency = Histogram(
            "sailbridge_sailthru_request_duration_seconds",
            "Latency of Sailthru API calls, by account and route.",
            ["account", "route"],
            buckets=SAILTHRU_LATENCY_BUCKETS,
            registry=r,
        )
        self.sailthru_responses = Counter(
            "sailbridge_sailthru_responses",
            'Sailthru responses by account, route and HTTP status ("error" when none came back).',
            ["account", "route", "status"],
            registry=r,
        )

        # queue (set from store.counts() at scrape time)
        self.queue_jobs = Gauge(
            "sailbridge_queue_jobs",
            "Jobs in the store by state.",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.queue_inbox = Gauge(
            "sailbridge_queue_inbox_events",
            "Accepted events not yet sorted into the queue (included in pending).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.queue_oldest_pending_age = Gauge(
            "sailbridge_queue_oldest_pending_age_seconds",
            "Age of the oldest job still waiting for delivery (0 when none).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.backlog_drain = Gauge(
            "sailbridge_backlog_drain_seconds",
            "Seconds an account's queued events need at each Sailthru route's current "
            "limit (the one Sailthru reports for the account, else the configured one); "
            'route="all" is the sum over the account\'s routes.',
            ["account", "route"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.delivery_paused = Gauge(
            "sailbridge_delivery_paused",
            "1 while delivery is paused (e.g. bad credentials).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.delivery_stalled = Gauge(
            "sailbridge_delivery_stalled",
            "1 when readiness judges delivery stalled or not running, else 0.",
            registry=r,
            multiprocess_mode="max",
        )
        self._stalled: Callable[[], bool] | None = None
        self.task_restarts = _TaskRestarts()
        r.register(self.task_restarts)
        self.store_up = Gauge(
            "sailbridge_store_up",
            "1 when the store answered the last scrape, else 0.",
            registry=r,
            multiprocess_mode="mostrecent",
        )

        self._drain_routes: set[tuple[str, str]] = set()

        # per-route use of Sailthru's rate limits over the last minute (the console's view)
        self.route_usage = RouteUsage()
        r.register(self.route_usage)
        self.limits = Limits(
            {DEFAULT_ACCOUNT: dict(DEFAULT_RATE_LIMITS)}, self.route_usage.reported_limits
        )
        """Each account's configured limits the drain time falls back on (the service
        sets them from its settings), and Sailthru's latest headers."""

        # labelled children on the per-request path, looked up once (labels() is not free)
        self._ingest_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._received_children: dict[str, Counter] = {}

    # -- ingest -------------------------------------------------------------------------

    def observe_ingest_request(self, route: str, status: int, seconds: float) -> None:
        """One answered ingest request (any status) and how long it took."""
        children = self._ingest_children.get((route, status))
        if children is None:
            children = (
                self.ingest_requests.labels(route, str(status)),
                self.ingest_latency.labels(route),
            )
            self._ingest_children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def record_received(self, event_type: str, count: int = 1) -> None:
        """Valid events of ``event_type`` accepted for storage (duplicates included)."""
        child = self._received_children.get(event_type)
        if child is None:
            child = self._received_children[event_type] = self.events_received.labels(event_type)
        child.inc(count)

    def record_rejected(self, reason: str, count: int = 1) -> None:
        """Events rejected at ingest; ``reason`` is a short class such as ``too_large``."""
        self.events_rejected.labels(reason).inc(count)

    # -- delivery (called by the workers) ---------------------------------------------

    def record_delivered(self, event_type: str, route: str, account: str = DEFAULT_ACCOUNT) -> None:
        """A job delivered; ``route`` is its main Sailthru call (``"POST /user"``)."""
        self.jobs_delivered.labels(account, event_type, route).inc()

    def record_skipped(
        self, event_type: str, route: str = NO_CALL, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """A job finished as skipped (integrations off, group, no customer id...)."""
        self.jobs_skipped.labels(account, event_type, route).inc()

    def record_retried(self, event_type: str, route: str, account: str = DEFAULT_ACCOUNT) -> None:
        """A failed attempt scheduled for retry; ``route`` is the call that failed."""
        self.jobs_retried.labels(account, event_type, route).inc()

    def record_dead(
        self, event_type: str, route: str = NO_CALL, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """A job dead-lettered; ``route`` is the call that failed, if any was made."""
        self.jobs_dead.labels(account, event_type, route).inc()

    def record_filtered(self, rule: str) -> None:
        """A job skipped by the destination filter named ``rule``."""
        self.jobs_filtered.labels(rule).inc()

    def record_without_consent(self, category: str | None) -> None:
        """A job skipped because ``category`` was not granted (``None``: no consent
        object while consent is required)."""
        self.jobs_without_consent.labels(category or "none").inc()

    def record_throttle_wait(self, key: str, seconds: float) -> None:
        """A call that waited ``seconds`` for its rate limit; ``key`` is the limiter's
        (`sailbridge.store.accounts.route_key`: the account and the route)."""
        account, route = split_route_key(key)
        self.throttle_waits.labels(account, route).inc()
        self.throttle_wait_seconds.labels(account, route).inc(max(seconds, 0.0))

    def observe_sailthru_call(
        self,
        route: str,
        seconds: float,
        status: int | None,
        rate_limit: RateLimitInfo | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        """One Sailthru HTTP call: its latency and status (``None`` for a network error
        or timeout, counted as ``"error"``) and the rate-limit headers it came with."""
        self.route_usage.record(route_key(account, route), status, rate_limit)
        self.sailthru_latency.labels(account, route).observe(seconds)
        self.sailthru_responses.labels(
            account, route, "error" if status is None else str(status)
        ).inc()

    # -- queue --------------------------------------------------------------------------

    def update_queue(self, counts: StatusCounts, now: float) -> None:
        """Set the queue gauges from a `StatusCounts` taken at ``now`` (epoch seconds)."""
        for state in QUEUE_STATES:
            self.queue_jobs.labels(state).set(getattr(counts, state))
        self.queue_inbox.set(counts.inbox)
        self.store_totals.deduplicated = counts.deduplicated
        oldest = counts.oldest_pending_at
        self.queue_oldest_pending_age.set(max(now - oldest, 0.0) if oldest is not None else 0.0)
        self.delivery_paused.set(1 if counts.paused_reason else 0)
        self.store_up.set(1)

    def update_drain(self, backlogs: Iterable[AccountBacklog]) -> None:
        """Set the drain-time gauges of each account: one per route with calls waiting
        (routes drained since the last scrape go to 0), and route="all" for its total."""
        for account, seen in self._drain_routes:
            self.backlog_drain.labels(account, seen).set(0.0)
        for backlog in backlogs:
            for route in backlog.drain.routes:
                self._drain_routes.add((backlog.account, route.route))
                self.backlog_drain.labels(backlog.account, route.route).set(route.seconds)
            self.backlog_drain.labels(backlog.account, ALL_ROUTES).set(backlog.drain.total_seconds)

    def mark_store_down(self) -> None:
        self.store_up.set(0)

    def watch_delivery(self, stalled: Callable[[], bool]) -> None:
        """Set ``sailbridge_delivery_stalled`` from ``stalled()`` at every scrape (set,
        not a gauge function, so multiprocess mode writes it to its files too)."""
        self._stalled = stalled

    # -- exposition ---------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition, aggregated over processes in multiprocess mode."""
        if self._stalled is not None:
            self.delivery_stalled.set(1 if self._stalled() else 0)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            aggregate = CollectorRegistry()
            multiprocess.MultiProcessCollector(aggregate)  # type: ignore[no-untyped-call]
            aggregate.register(self.store_totals)  # the shared store's, not per process
            aggregate.register(self.route_usage)  # Sailthru's account-wide headers
            aggregate.register(self.task_restarts)
            return generate_latest(aggregate)
        return generate_latest(self.registry)


class _StoreTotals(Collector):
    """Lifetime totals kept by the store (shared by every process and node), exported
    as counters with the value of the latest ``store.counts()``."""

    def __init__(self) -> None:
        self.deduplicated = 0

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "sailbridge_events_deduplicated",
            "Events dropped as duplicates of a recent messageId (the store's total).",
        )
        family.add_metric([], self.deduplicated)
        yield family


class _TaskRestarts(Collector):
    """``sailbridge_background_task_restarts_total{task}``: the restarts of each
    background task of this process (`sailbridge.supervise.RESTARTS`)."""

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "sailbridge_background_task_restarts",
            "Background tasks (delivery worker, heartbeat, housekeeping, SQLite writer...) "
            "restarted after failing, by task.",
            labels=["task"],
        )
        for task, count in sorted(RESTARTS.items()):
            family.add_metric([task], count)
        yield family
