"""``sailbridge send FILE``: queue a file's events in the store and wait for the outcome.

The file's events take the same path as events from Segment's SDKs — the durable
queue, per-user order, rate limits, retries, dead letters — with a worker running in
this process until every one of them has finished.

Re-sending is idempotent: each event has an identity (`sailbridge.identity`), and an
event whose identity an earlier send already queued is not queued again — this send
waits for that copy instead, wherever it stands (still queued after a pause, a Ctrl-C
or a ``kill -9``; delivered already). A copy that died is queued again (it was never
delivered). ``force`` queues every event anew, deliberately. Nothing is lost if the
command is interrupted: what was queued stays queued, and ``sailbridge serve`` or the
next ``send`` of the same file delivers it, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from sailbridge.delivery.executor import Outcome
from sailbridge.delivery.observers import DeliveryObserver
from sailbridge.events import Event
from sailbridge.intake.jobs import job_for
from sailbridge.settings import Settings
from sailbridge.store.accounts import pause_summary
from sailbridge.store.base import FINAL_STATES, SEND_WRITE_KEY, Job, OperatorReads, Result
from sailbridge.store.factory import open_store
from sailbridge.wiring import delivery_worker

POLL_SECONDS = 0.1
CHECK_PER_POLL = 64
"""Unfinished jobs looked at per poll: enough to notice progress, cheap for big files."""


@dataclass(frozen=True)
class IdentifiedEvent:
    """An event of the file with its identity (see `sailbridge.identity`)."""

    event: Event
    identity: str | None
    """``None`` queues the event whatever was sent before (`sailbridge forget`)."""


@dataclass(frozen=True)
class SendResult:
    """Each job the file's events went to, as it ended or stands now."""

    jobs: list[Job]
    paused_reason: str | None
    earlier: int = 0
    """Events whose identity an earlier send (or an earlier line) had queued already:
    not queued again."""
    requeued: int = 0
    """Of those, copies that had died and were queued again."""
    forgotten: int = 0
    """Jobs that finished and are gone: the deletion of a person, which forgets itself."""
    interrupted: bool = False
    """Stopped by Ctrl-C before every job finished."""


async def send_events(
    events: Sequence[IdentifiedEvent],
    settings: Settings,
    on_progress: Callable[[int], None] = lambda finished: None,
    on_retry: Callable[[str], None] = lambda reason: None,
    *,
    force: bool = False,
    accounts: Sequence[str] | None = None,
) -> SendResult:
    """Queue ``events`` (once per identity, unless ``force``) for each of ``accounts``
    (the only account when ``None`` and there is one) and deliver them; return when all
    finished, one of those accounts' delivery paused, or the caller was cancelled
    (Ctrl-C).

    ``on_retry(reason)`` hears each failed attempt that will be tried again, so a
    send waiting out retries (an unreachable host, Sailthru down) can say why."""
    deployment = settings.deployment()
    names = list(accounts) if accounts else [deployment.account(None).name]
    store = await open_store(settings.database)
    try:
        # A new send is a new try with the credentials configured now.
        for name in names:
            await store.set_paused(None, name)
        now = time.time()
        try:
            sent = await store.enqueue_sent(
                [
                    msgspec.structs.replace(
                        job_for(e.event, SEND_WRITE_KEY, now, identity=e.identity), accounts=(name,)
                    )
                    for e in events
                    for name in names
                ],
                now,
                force=force,
            )
        except asyncio.CancelledError:
            _uncancel()  # interrupted before anything was queued (for sure) by this send
            return SendResult([], None, interrupted=True)
        earlier = sorted({s.job_id for s in sent if not s.queued})
        job_ids = list(dict.fromkeys(s.job_id for s in sent))
        interrupted = False
        paused: str | None = None
        requeued = 0
        try:
            requeued = await store.replay(earlier, None, now) if earlier else 0
            async with delivery_worker(
                settings, store, observers=[_RetryReasons(on_retry)], accounts=names
            ) as worker:
                running = asyncio.create_task(worker.run())
                try:
                    paused = await _wait(store, job_ids, on_progress, names)
                finally:
                    worker.stop()
                    await running
        except asyncio.CancelledError:
            _uncancel()
            interrupted = True
        jobs = [job for job_id in job_ids if (job := await store.get_job(job_id)) is not None]
        return SendResult(
            jobs,
            paused,
            earlier=sum(not s.queued for s in sent),
            requeued=requeued,
            forgotten=len(job_ids) - len(jobs),
            interrupted=interrupted,
        )
    finally:
        await store.close()


def _uncancel() -> None:
    """Take back the cancellation a Ctrl-C caused (asyncio.run cancels the main task on
    the first SIGINT), so the outcome can still be read and reported; a second Ctrl-C
    interrupts for good."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


class _RetryReasons(DeliveryObserver):
    def __init__(self, on_retry: Callable[[str], None]) -> None:
        self._on_retry = on_retry

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        if result is Result.RETRY and outcome.reason:
            self._on_retry(outcome.reason)


async def _wait(
    store: OperatorReads,
    job_ids: Sequence[int],
    on_progress: Callable[[int], None],
    accounts: Sequence[str],
) -> str | None:
    """Until every job finished (``None``) or the delivery of one of ``accounts`` is
    paused (the reason)."""
    remaining = list(job_ids)
    while remaining:
        still: list[int] = []
        for index, job_id in enumerate(remaining):
            if len(still) >= CHECK_PER_POLL:
                still.extend(remaining[index:])
                break
            job = await store.get_job(job_id)
            if job is not None and job.state not in FINAL_STATES:
                still.append(job_id)
        if len(still) != len(remaining):
            on_progress(len(job_ids) - len(still))
        remaining = still
        if not remaining:
            return None
        paused = await store.paused_accounts()
        reasons = {name: paused[name] for name in accounts if name in paused}
        if reasons:
            return pause_summary(reasons)
        await asyncio.sleep(POLL_SECONDS)
    return None
