"""Builders for the store contract suite."""

from __future__ import annotations

import itertools
from typing import Any

from sailbridge.store.base import (
    Attempt,
    Job,
    JobQuery,
    JobState,
    ListState,
    NewJob,
    OperatorReads,
    Store,
    list_state,
)

WINDOW = 86_400.0
_message_ids = itertools.count(1)


class FakeClock:
    """A clock the tests move by hand (used where the store reads the time itself)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_job(
    user: str = "u1",
    *,
    keys: tuple[str, ...] | None = None,
    message_id: str | None = "auto",
    write_key: str = "wk",
    event: dict[str, Any] | None = None,
    event_type: str = "track",
    received_at: float = 900.0,
) -> NewJob:
    """A job for ``user`` keyed by ``user`` alone unless ``keys`` says otherwise."""
    if message_id == "auto":
        message_id = f"m-{next(_message_ids)}"
    event = (
        event
        if event is not None
        else {"type": event_type, "userId": user, "messageId": message_id, "event": "Tested"}
    )
    return NewJob(
        write_key=write_key,
        message_id=message_id,
        event=event,
        event_type=event_type,
        user_key=user,
        ordering_keys=keys if keys is not None else (user,),
        received_at=received_at,
    )


def attempt(at: float, outcome: str = "delivered", **fields: Any) -> Attempt:
    return Attempt(at=at, outcome=outcome, **fields)


async def enqueue(store: Store, *jobs: NewJob, now: float = 1_000.0) -> list[int]:
    """Enqueue ``jobs`` and return their ids (arrival order)."""
    result = await store.enqueue(jobs, [], WINDOW, now)
    assert result.accepted == len(jobs)
    return list(result.job_ids)


def users(jobs: list[Job]) -> list[str]:
    return [job.user_key for job in jobs]


async def claim_all(
    store: Store, now: float = 1_000.0, worker: str = "w1", lease: float = 60.0
) -> list[Job]:
    return await store.claim(worker, 100, lease, now)


async def deliver(store: Store, job: Job, at: float = 1_001.0, worker: str = "w1") -> None:
    await store.finish(job.id, JobState.DELIVERED, attempt(at), worker=worker)


async def jobs_in(
    store: OperatorReads, state: JobState, limit: int = 100, reason_contains: str | None = None
) -> list[Job]:
    """The jobs stored in ``state``, oldest first, through the one listing API (pending:
    those never attempted and those retrying), every one examined."""
    shown = (
        (ListState.PENDING, ListState.RETRYING)
        if state is JobState.PENDING
        else (list_state(state, 0),)
    )
    jobs = [
        job
        for each in shown
        for job in (
            await store.find_jobs(
                JobQuery(
                    state=each, reason=reason_contains, limit=limit, scan=None, oldest_first=True
                )
            )
        ).items
    ]
    return sorted(jobs, key=lambda job: job.id)[:limit]
