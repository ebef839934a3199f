"""Claiming a user's consecutive ready jobs together (coalescing, SPEC §13)."""

from __future__ import annotations

from sailbridge.store.base import Job, JobState, Store

from .helpers import attempt, deliver, enqueue, new_job

LEASE = 60.0


async def claim_groups(
    store: Store, now: float = 1_000.0, worker: str = "w1", limit: int = 100, size: int = 25
) -> list[list[Job]]:
    return await store.claim_groups(worker, limit, LEASE, now, size)


def ids(lines: list[list[Job]]) -> list[list[int]]:
    return [[job.id for job in line] for line in lines]


async def test_a_users_consecutive_ready_jobs_come_together_head_first(store: Store) -> None:
    a1, b1, a2, a3, b2 = await enqueue(
        store, new_job("a"), new_job("b"), new_job("a"), new_job("a"), new_job("b")
    )

    lines = await claim_groups(store)

    assert ids(lines) == [[a1, a2, a3], [b1, b2]]
    assert all(job.state == JobState.CLAIMED for line in lines for job in line)
    counts = await store.counts()
    assert (counts.pending, counts.claimed) == (0, 5)


async def test_a_lone_job_is_a_line_of_one(store: Store) -> None:
    (only,) = await enqueue(store, new_job("a"))

    assert ids(await claim_groups(store)) == [[only]]


async def test_the_limit_counts_lines_and_the_size_caps_each_line(store: Store) -> None:
    a = await enqueue(store, *(new_job("a") for _ in range(5)))
    b = await enqueue(store, new_job("b"), new_job("b"))

    lines = await claim_groups(store, limit=1, size=3)

    assert ids(lines) == [a[:3]]
    assert ids(await claim_groups(store, worker="w2")) == [b]


async def test_a_follower_in_another_line_too_ends_the_group(store: Store) -> None:
    first, merging, after = await enqueue(
        store,
        new_job("u1"),
        new_job("u1", keys=("u1", "anon1"), event_type="identify"),
        new_job("u1"),
    )

    assert ids(await claim_groups(store)) == [[first]]
    assert (await store.get_job(merging)).state == JobState.PENDING  # type: ignore[union-attr]
    assert (await store.get_job(after)).state == JobState.PENDING  # type: ignore[union-attr]


async def test_a_follower_not_due_yet_ends_the_group(store: Store) -> None:
    first, later = await enqueue(store, new_job("a"), new_job("a"))
    await enqueue(store, new_job("a"), now=5_000.0)

    assert ids(await claim_groups(store, now=1_000.0)) == [[first, later]]


async def test_followers_are_nobody_elses_while_the_line_is_held(store: Store) -> None:
    await enqueue(store, new_job("a"), new_job("a"), new_job("a"))
    await claim_groups(store, worker="w1")

    assert await claim_groups(store, worker="w2") == []
    assert await store.claim("w2", 100, LEASE, 1_000.0) == []


async def test_settled_in_order_each_follower_becomes_the_head_it_must_be(store: Store) -> None:
    await enqueue(store, new_job("a"), new_job("a"), new_job("a"))
    [[head, second, third]] = await claim_groups(store)

    await deliver(store, head)
    await deliver(store, second)
    await store.retry_at(third.id, 2_000.0, attempt(1_001.0, "retry"), worker="w1")

    counts = await store.counts()
    assert (counts.delivered, counts.retrying, counts.claimed) == (2, 1, 0)
    [[again]] = await claim_groups(store, now=2_000.0)
    assert again.id == third.id


async def test_released_followers_wait_behind_their_head(store: Store) -> None:
    await enqueue(store, new_job("a"), new_job("a"), new_job("a"))
    [[head, second, third]] = await claim_groups(store)
    await store.release(third.id, 1_000.0, worker="w1")
    await store.release(second.id, 1_000.0, worker="w1")

    assert await claim_groups(store, worker="w2") == []
    await deliver(store, head)
    assert ids(await claim_groups(store, worker="w2")) == [[second.id, third.id]]


async def test_a_crashed_workers_line_comes_back_one_job_at_a_time_in_order(store: Store) -> None:
    await enqueue(store, new_job("a"), new_job("a"), new_job("a"))
    [[head, second, third]] = await claim_groups(store, worker="dead")

    after_lease = 1_000.0 + LEASE + 1
    [[again]] = await claim_groups(store, now=after_lease, worker="w2")
    assert again.id == head.id
    await deliver(store, again, worker="w2")
    [[then]] = await claim_groups(store, now=after_lease, worker="w2")
    assert then.id == second.id
    counts = await store.counts()
    assert counts.claimed == 2 and counts.pending == 0
    assert third.id not in {then.id}


async def test_concurrent_claimers_never_share_a_user_or_a_job(store: Store) -> None:
    import asyncio

    await enqueue(store, *(new_job(f"u{n % 7}") for n in range(70)))

    first, second = await asyncio.gather(
        claim_groups(store, worker="w1", limit=4), claim_groups(store, worker="w2", limit=4)
    )

    held = [job for line in first + second for job in line]
    assert len({job.id for job in held}) == len(held)
    users = [line[0].user_key for line in first + second]
    assert len(set(users)) == len(users)
    assert all(len({job.user_key for job in line}) == 1 for line in first + second)


async def test_forgetting_a_user_keeps_the_later_jobs_held_with_the_deletion(store: Store) -> None:
    await enqueue(store, new_job("a"), new_job("a"))
    [[deletion, later]] = await claim_groups(store)

    await store.forget("a")
    await deliver(store, deletion)
    await deliver(store, later)

    assert await store.get_job(deletion.id) is None  # the deletion goes once finished
    kept = await store.get_job(later.id)
    assert kept is not None and kept.state == JobState.DELIVERED
