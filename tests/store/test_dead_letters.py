"""Dead letters: listed with reasons, replayed, purged."""

from __future__ import annotations

import pytest

from sailbridge.store.base import JobState, Rejection, Store

from .helpers import WINDOW, FakeClock, attempt, claim_all, deliver, enqueue, jobs_in, new_job


async def kill(store: Store, *reasons: str, now: float = 1_000.0) -> list[int]:
    """Enqueue one job per reason (distinct users) and dead-letter each with it."""
    await enqueue(store, *(new_job(f"dead{n}") for n in range(len(reasons))), now=now)
    claimed = await store.claim("w1", len(reasons), 60.0, now)
    for job, reason in zip(claimed, reasons, strict=True):
        await store.finish(
            job.id, JobState.DEAD, attempt(now + 1, "dead", message=reason), reason, worker="w1"
        )
    return [job.id for job in claimed]


async def test_dead_jobs_are_listed_with_their_reasons(store: Store) -> None:
    ids = await kill(store, "Sailthru error 2: invalid email", "Sailthru error 99: other")

    dead = await jobs_in(store, JobState.DEAD)

    assert [(job.id, job.reason) for job in dead] == list(
        zip(ids, ["Sailthru error 2: invalid email", "Sailthru error 99: other"], strict=False)
    )
    assert dead[0].history[0].message == "Sailthru error 2: invalid email"


async def test_dead_jobs_can_be_filtered_by_reason(store: Store) -> None:
    ids = await kill(store, "error 2: invalid email", "error 99: other", "error 2: again")

    dead = await jobs_in(store, JobState.DEAD, reason_contains="error 2:")

    assert [job.id for job in dead] == [ids[0], ids[2]]


async def test_replay_by_ids_sends_only_those_back(store: Store) -> None:
    ids = await kill(store, "a", "b", "c")

    assert await store.replay([ids[0], ids[2]], None, 2_000.0) == 2

    assert [job.id for job in await jobs_in(store, JobState.PENDING)] == [ids[0], ids[2]]
    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == [ids[1]]


async def test_replay_ignores_ids_that_are_not_dead(store: Store) -> None:
    [dead_id] = await kill(store, "a")
    [pending_id] = await enqueue(store, new_job("someone"))

    assert await store.replay([dead_id, pending_id, 999_999], None, 2_000.0) == 1


async def test_replay_by_reason_sends_matching_jobs_back(store: Store) -> None:
    ids = await kill(store, "timeout", "invalid email", "timeout again")

    assert await store.replay(None, "timeout", 2_000.0) == 2

    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == [ids[1]]


async def test_replay_without_filters_sends_every_dead_job_back(store: Store) -> None:
    await kill(store, "a", "b", "c")

    assert await store.replay(None, None, 2_000.0) == 3

    assert await jobs_in(store, JobState.DEAD) == []
    counts = await store.counts()
    assert (counts.dead, counts.pending) == (0, 3)


async def test_a_replayed_job_starts_afresh_but_keeps_its_history(store: Store) -> None:
    [job_id] = await kill(store, "boom")

    await store.replay([job_id], None, 2_000.0)

    job = await store.get_job(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.first_attempt_at, job.available_at) == (
        JobState.PENDING,
        0,
        None,
        2_000.0,
    )
    assert [a.outcome for a in job.history] == ["dead"]
    [claimed] = await claim_all(store, now=2_000.0)
    assert claimed.id == job_id


async def test_a_replayed_job_waits_behind_its_users_unfinished_jobs(store: Store) -> None:
    [dead_id] = await kill(store, "boom")
    later, latest = await enqueue(store, new_job("dead0"), new_job("dead0"), now=1_500.0)
    [busy] = await claim_all(store, now=1_500.0)
    assert busy.id == later

    await store.replay([dead_id], None, 1_510.0)

    assert await claim_all(store, now=1_510.0) == []
    await deliver(store, busy, at=1_511.0)
    [next_job] = await claim_all(store, now=1_512.0)
    assert next_job.id == latest


async def test_purge_deletes_dead_jobs_and_rejections_older_than_the_cutoff(store: Store) -> None:
    [old] = await kill(store, "old", now=1_000.0)
    [recent] = await kill(store, "recent", now=5_000.0)
    await store.enqueue(
        [],
        [Rejection("wk", None, "{}", "bad", 1_000.0), Rejection("wk", None, "{}", "bad", 5_000.0)],
        WINDOW,
        5_000.0,
    )

    assert await store.purge_dead(older_than=3_000.0) == 1

    assert await store.get_job(old) is None
    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == [recent]
    assert [r.received_at for r in await store.list_rejections()] == [5_000.0]
    counts = await store.counts()
    assert (counts.dead, counts.rejected) == (1, 1)


async def test_purge_keeps_jobs_that_are_not_dead(store: Store) -> None:
    [job_id] = await enqueue(store, new_job("u1"), now=1_000.0)

    assert await store.purge_dead(older_than=9_000.0) == 0

    assert await store.get_job(job_id) is not None


async def test_enqueue_returns_the_ids_of_accepted_jobs_in_order(store: Store) -> None:
    first, duplicate = new_job("u1"), new_job("u2")
    result = await store.enqueue([first, duplicate, new_job("u3")], [], WINDOW, 1_000.0)
    again = await store.enqueue([duplicate, new_job("u4")], [], WINDOW, 1_001.0)
    assert len(result.job_ids) == 3
    assert [(await store.get_job(i)).user_key for i in result.job_ids] == ["u1", "u2", "u3"]  # type: ignore[union-attr]
    assert again.duplicates == 1 and len(again.job_ids) == 1
    assert (await store.get_job(again.job_ids[0])).user_key == "u4"  # type: ignore[union-attr]


async def test_purge_finished_deletes_old_delivered_and_skipped_jobs_only(
    store: Store, clock: FakeClock
) -> None:
    delivered, skipped, dead, waiting = await enqueue(
        store, new_job("a"), new_job("b"), new_job("c"), new_job("d"), now=1_000.0
    )
    clock.now = 1_001.0
    jobs = {job.user_key: job for job in await claim_all(store, now=1_001.0)}
    await store.finish(jobs["a"].id, JobState.DELIVERED, attempt(1_001.0), worker="w1")
    await store.finish(jobs["b"].id, JobState.SKIPPED, attempt(1_001.0), "group", worker="w1")
    await store.finish(jobs["c"].id, JobState.DEAD, attempt(1_001.0), "bad", worker="w1")
    await store.release(jobs["d"].id, 1_001.0, worker="w1")
    before = await store.counts()

    assert await store.purge_finished(older_than=500.0) == 0
    assert await store.purge_finished(older_than=5_000.0) == 2

    assert await store.get_job(delivered) is None and await store.get_job(skipped) is None
    assert await store.get_job(dead) is not None and await store.get_job(waiting) is not None
    after = await store.counts()
    assert (after.delivered, after.skipped, after.dead, after.pending) == (
        before.delivered,
        before.skipped,
        before.dead,
        before.pending,
    )


async def test_purge_by_ids_deletes_only_those_dead_jobs(store: Store) -> None:
    ids = await kill(store, "a", "b", "c")
    [pending_id] = await enqueue(store, new_job("alive"))

    assert await store.purge_dead([ids[0], ids[2], pending_id, 999_999], None) == 2

    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == [ids[1]]
    assert await store.get_job(ids[0]) is None
    assert await store.get_job(pending_id) is not None
    assert (await store.counts()).dead == 1


async def test_purge_by_reason_deletes_the_matching_dead_jobs(store: Store) -> None:
    ids = await kill(store, "unknown template", "bad email", "unknown template again")

    assert await store.purge_dead(None, "unknown template") == 2
    assert await store.purge_dead([], None) == 0

    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == [ids[1]]
    assert (await store.counts()).dead == 1


async def test_purge_chooses_by_age_or_by_ids_and_reason_never_both(store: Store) -> None:
    ids = await kill(store, "a")

    with pytest.raises(ValueError, match="by age, or by ids and reason"):
        await store.purge_dead([ids[0]], older_than=9_000.0)
    with pytest.raises(ValueError, match="by age, or by ids and reason"):
        await store.purge_dead(None, "a", older_than=9_000.0)

    assert [job.id for job in await jobs_in(store, JobState.DEAD)] == ids
