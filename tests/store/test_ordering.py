"""Claiming in order: a user's later events wait; other users never do."""

from __future__ import annotations

import pytest

from sailbridge.store.base import JobState, Store

from .helpers import attempt, claim_all, deliver, enqueue, new_job, users


async def test_claim_takes_the_oldest_ready_jobs_up_to_the_limit(store: Store) -> None:
    ids = await enqueue(store, *(new_job(f"u{n}") for n in range(5)))

    claimed = await store.claim("w1", 3, 60.0, 1_000.0)

    assert [job.id for job in claimed] == ids[:3]


async def test_jobs_are_not_claimable_before_they_are_available(store: Store) -> None:
    await enqueue(store, new_job("u1"), now=1_000.0)

    assert await store.claim("w1", 10, 60.0, 999.0) == []


async def test_second_job_of_a_user_waits_while_the_first_is_pending(store: Store) -> None:
    first, _second = await enqueue(store, new_job("u1"), new_job("u1"))

    claimed = await claim_all(store)

    assert [job.id for job in claimed] == [first]


async def test_second_job_of_a_user_waits_while_the_first_is_claimed(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"))
    await claim_all(store, worker="w1")

    assert await claim_all(store, worker="w2") == []


async def test_second_job_of_a_user_waits_while_the_first_is_retrying(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"))
    [first] = await claim_all(store)
    await store.retry_at(first.id, 2_000.0, attempt(1_001.0, "retry"), worker="w1")

    assert await claim_all(store, now=1_500.0) == []
    [again] = await claim_all(store, now=2_000.0)
    assert again.id == first.id


async def test_other_users_proceed_while_a_user_is_busy(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"), new_job("u2"), new_job("u1"), new_job("u3"))

    claimed = await claim_all(store)

    assert users(claimed) == ["u1", "u2", "u3"]


async def test_a_retrying_user_does_not_hold_up_other_users(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"))
    [first] = await claim_all(store)
    await store.retry_at(first.id, 5_000.0, attempt(1_001.0, "retry"), worker="w1")
    await enqueue(store, new_job("u2"), now=1_002.0)

    assert users(await claim_all(store, now=1_003.0)) == ["u2"]


async def test_one_claim_never_holds_two_jobs_of_one_user(store: Store) -> None:
    await enqueue(store, *(new_job(f"u{n % 3}") for n in range(12)))

    claimed = await claim_all(store)

    assert sorted(users(claimed)) == ["u0", "u1", "u2"]


async def test_merging_identify_waits_behind_the_anonymous_ids_earlier_job(store: Store) -> None:
    anonymous, identify = await enqueue(
        store, new_job("anon1"), new_job("u1", keys=("u1", "anon1"), event_type="identify")
    )

    [first] = await claim_all(store)
    assert first.id == anonymous
    assert await claim_all(store, worker="w2") == []

    await deliver(store, first)
    [second] = await claim_all(store, worker="w2")
    assert second.id == identify


async def test_jobs_of_either_merged_key_wait_behind_the_merge(store: Store) -> None:
    identify, *_later = await enqueue(
        store,
        new_job("u1", keys=("u1", "anon1"), event_type="identify"),
        new_job("anon1"),
        new_job("u1"),
        new_job("u2"),
    )

    claimed = await claim_all(store)

    assert next(job.id for job in claimed) == identify
    assert users(claimed) == ["u1", "u2"]


@pytest.mark.parametrize("state", [JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD])
async def test_a_finished_job_releases_its_user(store: Store, state: JobState) -> None:
    _first, second = await enqueue(store, new_job("u1"), new_job("u1"))
    [first] = await claim_all(store)

    await store.finish(first.id, state, attempt(1_001.0, state.value), "why", worker="w1")

    [next_job] = await claim_all(store, now=1_002.0)
    assert next_job.id == second


async def test_finishing_a_merge_releases_both_keys(store: Store) -> None:
    await enqueue(store, new_job("u1", keys=("u1", "anon1")), new_job("anon1"), new_job("u1"))
    [merge] = await claim_all(store)

    await deliver(store, merge)

    assert sorted(users(await claim_all(store, now=1_002.0))) == ["anon1", "u1"]


async def test_an_expired_lease_is_claimed_again(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"))
    [held] = await store.claim("crashed", 10, 30.0, 1_000.0)

    assert await store.claim("w2", 10, 30.0, 1_029.0) == []
    [again] = await store.claim("w2", 10, 30.0, 1_031.0)

    assert again.id == held.id
    assert again.attempts == 0


async def test_heartbeat_keeps_the_lease(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [held] = await store.claim("w1", 10, 30.0, 1_000.0)

    await store.heartbeat("w1", [held.id], 30.0, 1_025.0)

    assert await store.claim("w2", 10, 30.0, 1_040.0) == []
    assert [job.id for job in await store.claim("w2", 10, 30.0, 1_056.0)] == [held.id]


async def test_heartbeat_from_another_worker_does_not_extend_the_lease(store: Store) -> None:
    await enqueue(store, new_job("u1"))
    [held] = await store.claim("w1", 10, 30.0, 1_000.0)

    await store.heartbeat("w2", [held.id], 300.0, 1_025.0)

    assert [job.id for job in await store.claim("w2", 10, 30.0, 1_031.0)] == [held.id]


async def test_a_released_job_is_claimable_again_without_an_attempt(store: Store) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"))
    [held] = await claim_all(store)

    await store.release(held.id, 1_010.0, worker="w1")

    assert await claim_all(store, now=1_005.0) == []
    [again] = await claim_all(store, now=1_010.0)
    assert (again.id, again.attempts) == (held.id, 0)
