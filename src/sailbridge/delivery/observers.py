"""Delivery observers: what the service does with each attempt's result besides storing it.

The worker reports every attempt to one `DeliveryObserver` (the hook itself, which
observes nothing); these are the ones the service installs (metrics, the dead-event
log line) and the combinator that makes several of them one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sailbridge.delivery.executor import Outcome
from sailbridge.events import EventType
from sailbridge.logs import get_logger
from sailbridge.mapping.consent import WithoutConsent
from sailbridge.mapping.filters import Filtered
from sailbridge.metrics import NO_CALL, Metrics
from sailbridge.sailthru.errors import RetryableError
from sailbridge.store.base import Job, Result

events_log = get_logger("sailbridge.delivery")


class DeliveryObserver:
    """Hooks for metrics; the default observes nothing."""

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        """Called once per attempt with what it came to: `Result.DELIVERED`, `SKIPPED`,
        `RETRY`, `DEAD`, `PAUSED` or `RELEASED`."""


class MetricsObserver(DeliveryObserver):
    """Counts each attempt's result by event type and the Sailthru route it used."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        route = (
            outcome.error.route
            if outcome.error
            else (outcome.calls[-1].route if outcome.calls else NO_CALL)
        )
        record = {
            Result.DELIVERED: self._metrics.record_delivered,
            Result.SKIPPED: self._metrics.record_skipped,
            Result.RETRY: self._metrics.record_retried,
            Result.DEAD: self._metrics.record_dead,
        }.get(result)
        if record is not None:
            record(job.event_type, route, job.account)
        match outcome.skip:
            case Filtered(rule=rule):
                self._metrics.record_filtered(rule)
            case WithoutConsent(category=category):
                self._metrics.record_without_consent(category)


class DeadEventLog(DeliveryObserver):
    """One log line per event that went dead, with its reason and Sailthru's answer."""

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        if result is not Result.DEAD:
            return
        error = outcome.error
        events_log.warning(
            "event dead",
            job_id=job.id,
            account=job.account,
            type=job.event_type,
            event_name=job.event.get("event") if job.event_type == EventType.TRACK else None,
            user=job.user_key,
            reason=outcome.reason,
            sailthru_code=error.code if error else None,
            http_status=error.status if error else None,
            route=error.route if error else None,
            attempts=job.attempts + 1,
            gave_up_retrying=isinstance(error, RetryableError),
        )


class Observers(DeliveryObserver):
    """Several observers as one."""

    def __init__(self, observers: Sequence[DeliveryObserver]) -> None:
        self._observers = tuple(observers)

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        for observer in self._observers:
            observer.outcome(job, outcome, result, seconds)
