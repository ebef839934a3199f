"""Settling a claimed job: only its holder may, and every attempt is recorded."""

from __future__ import annotations

import pytest

from sailbridge.store.base import Attempt, JobState, Result, Store
from sailbridge.store.errors import JobNotClaimed

from .helpers import attempt, claim_all, enqueue, new_job


async def test_finishing_a_job_that_is_not_claimed_raises(store: Store) -> None:
    [job_id] = await enqueue(store, new_job("u1"))

    with pytest.raises(JobNotClaimed):
        await store.finish(job_id, JobState.DELIVERED, attempt(1_001.0), worker="w1")


async def test_finishing_a_job_that_does_not_exist_raises(store: Store) -> None:
    with pytest.raises(JobNotClaimed):
        await store.finish(12345, JobState.DELIVERED, attempt(1_001.0), worker="w1")


async def test_finishing_a_job_twice_raises(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    await store.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")

    with pytest.raises(JobNotClaimed):
        await store.finish(job.id, JobState.DEAD, attempt(1_002.0), worker="w1")


async def test_a_worker_whose_lease_was_taken_over_cannot_settle_the_job(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await store.claim("slow", 10, 30.0, 1_000.0)
    await store.claim("w2", 10, 30.0, 1_031.0)

    with pytest.raises(JobNotClaimed):
        await store.finish(job.id, JobState.DEAD, attempt(1_040.0, "dead"), worker="slow")
    with pytest.raises(JobNotClaimed):
        await store.retry_at(job.id, 1_100.0, attempt(1_040.0, "retry"), worker="slow")
    with pytest.raises(JobNotClaimed):
        await store.release(job.id, 1_040.0, worker="slow")

    await store.finish(job.id, JobState.DELIVERED, attempt(1_041.0), worker="w2")
    assert (await store.get_job(job.id)).state is JobState.DELIVERED  # type: ignore[union-attr]


async def test_retry_at_and_release_of_a_pending_job_raise(store: Store) -> None:
    [job_id] = await enqueue(store, new_job("u1"))

    with pytest.raises(JobNotClaimed):
        await store.retry_at(job_id, 1_100.0, attempt(1_001.0, "retry"), worker="w1")
    with pytest.raises(JobNotClaimed):
        await store.release(job_id, 1_100.0, worker="w1")


async def test_finish_accepts_only_final_states(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)

    with pytest.raises(ValueError):
        await store.finish(job.id, JobState.PENDING, attempt(1_001.0), worker="w1")


async def test_retry_at_makes_the_job_retrying_and_records_the_attempt(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    failure = Attempt(
        at=1_001.0,
        outcome="retry",
        requests=[{"method": "POST", "endpoint": "user", "params": {"id": "u1"}}],
        status=503,
        code=None,
        message="Service Unavailable",
    )

    await store.retry_at(job.id, 1_011.0, failure, worker="w1")

    retrying = await store.get_job(job.id)
    assert retrying is not None
    assert (retrying.state, retrying.attempts, retrying.available_at) == (
        JobState.PENDING,
        1,
        1_011.0,
    )
    assert retrying.first_attempt_at == 1_001.0
    assert retrying.history == [failure]
    assert (await store.counts()).retrying == 1


async def test_first_attempt_time_is_kept_across_retries(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    await store.retry_at(job.id, 1_011.0, attempt(1_001.0, "retry"), worker="w1")
    await claim_all(store, now=1_011.0)
    await store.retry_at(job.id, 1_031.0, attempt(1_012.0, "retry"), worker="w1")

    [again] = await claim_all(store, now=1_031.0)

    assert (again.attempts, again.first_attempt_at) == (2, 1_001.0)


async def test_finish_records_the_reason_and_the_whole_history(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    await store.retry_at(job.id, 1_011.0, attempt(1_001.0, "retry", status=500), worker="w1")
    await claim_all(store, now=1_011.0)
    final = attempt(1_012.0, "dead", status=400, code=99, message="Other error")

    await store.finish(job.id, JobState.DEAD, final, "Sailthru error 99: Other error", worker="w1")

    dead = await store.get_job(job.id)
    assert dead is not None
    assert (dead.state, dead.reason, dead.attempts) == (
        JobState.DEAD,
        "Sailthru error 99: Other error",
        2,
    )
    assert [a.outcome for a in dead.history] == ["retry", "dead"]
    assert dead.history[-1] == final


async def test_release_returns_a_retrying_job_to_retrying(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    await store.retry_at(job.id, 1_011.0, attempt(1_001.0, "retry"), worker="w1")
    await claim_all(store, now=1_011.0)

    await store.release(job.id, 1_020.0, worker="w1")

    counts = await store.counts()
    assert (counts.pending, counts.retrying, counts.claimed) == (0, 1, 0)
    assert (await store.get_job(job.id)).attempts == 1  # type: ignore[union-attr]


async def test_history_reads_back_in_the_result_vocabulary(store: Store) -> None:
    # Rows written before `Result` existed hold plain strings; they read back as members.
    await enqueue(store, new_job("u1"))
    [job] = await claim_all(store)
    await store.retry_at(job.id, 1_011.0, attempt(1_001.0, "retry"), worker="w1")
    await claim_all(store, now=1_011.0)
    await store.finish(job.id, JobState.DELIVERED, attempt(1_012.0, Result.DELIVERED), worker="w1")

    done = await store.get_job(job.id)
    assert done is not None
    assert [a.outcome for a in done.history] == [Result.RETRY, Result.DELIVERED]
    assert all(type(a.outcome) is Result for a in done.history)
