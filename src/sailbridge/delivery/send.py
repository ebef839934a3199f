"""``sailbridge send FILE``: queue a file's events in the store and wait for the outcome.

The file's events take the same path as events from Segment's SDKs — the durable
queue, per-user order, rate limits, retries, dead letters — with a worker running in
this process until every one of them has finished. Nothing is lost if the command is
interrupted: what was queued stays queued, and ``sailbridge serve`` (or the next
``send``) delivers it. De-duplication is off for ``send``: running a file again is a
deliberate request to send it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sailbridge.delivery.worker import DeliveryObserver
from sailbridge.events import Event
from sailbridge.executor import Outcome
from sailbridge.jobs import new_job
from sailbridge.service import build_worker, sailthru_sender
from sailbridge.settings import Settings
from sailbridge.store.base import Job, JobState, Store
from sailbridge.store.factory import open_store

SEND_WRITE_KEY = "sailbridge-send"
FINISHED = frozenset({JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD})
POLL_SECONDS = 0.1
CHECK_PER_POLL = 64
"""Unfinished jobs looked at per poll: enough to notice progress, cheap for big files."""


@dataclass(frozen=True)
class SendResult:
    """Each queued job as it ended (or stands, when delivery was paused)."""

    jobs: list[Job]
    paused_reason: str | None


async def send_events(
    events: Sequence[Event],
    settings: Settings,
    on_progress: Callable[[int], None] = lambda finished: None,
    on_retry: Callable[[str], None] = lambda reason: None,
) -> SendResult:
    """Queue ``events`` and deliver them; return when all finished or delivery paused.

    ``on_retry(reason)`` hears each failed attempt that will be tried again, so a
    send waiting out retries (an unreachable host, Sailthru down) can say why."""
    store = await open_store(settings.database)
    try:
        # A new send is a new try with the credentials configured now.
        await store.set_paused(None)
        now = time.time()
        queued = await store.enqueue([new_job(e, now, SEND_WRITE_KEY) for e in events], [], 0.0, now)
        async with sailthru_sender(settings, store) as sender:
            worker = build_worker(settings, store, sender, observers=[_RetryReasons(on_retry)])
            running = asyncio.create_task(worker.run())
            try:
                paused = await _wait(store, queued.job_ids, on_progress)
            finally:
                worker.stop()
                await running
        jobs = [job for job_id in queued.job_ids
                if (job := await store.get_job(job_id)) is not None]
        return SendResult(jobs, paused)
    finally:
        await store.close()


class _RetryReasons(DeliveryObserver):
    def __init__(self, on_retry: Callable[[str], None]) -> None:
        self._on_retry = on_retry

    def outcome(self, job: Job, outcome: Outcome, state: str, seconds: float) -> None:
        if state == "retrying" and outcome.reason:
            self._on_retry(outcome.reason)


async def _wait(store: Store, job_ids: Sequence[int],
                on_progress: Callable[[int], None]) -> str | None:
    """Until every job finished (``None``) or delivery is paused (the reason)."""
    remaining = list(job_ids)
    while remaining:
        still: list[int] = []
        for index, job_id in enumerate(remaining):
            if len(still) >= CHECK_PER_POLL:
                still.extend(remaining[index:])
                break
            job = await store.get_job(job_id)
            if job is not None and job.state not in FINISHED:
                still.append(job_id)
        if len(still) != len(remaining):
            on_progress(len(job_ids) - len(still))
        remaining = still
        if not remaining:
            return None
        reason = await store.paused_reason()
        if reason is not None:
            return reason
        await asyncio.sleep(POLL_SECONDS)
    return None
