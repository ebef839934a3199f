"""`Store.enqueue_sent`: `sailbridge send` queues each event identity once (issue 8)."""

from __future__ import annotations

from sailbridge.store.base import SEND_WRITE_KEY, JobState, NewJob, Store

from .helpers import WINDOW, attempt, claim_all, deliver, jobs_in, new_job


def sent(identity: str | None, user: str = "u1") -> NewJob:
    return new_job(user, message_id=identity, write_key=SEND_WRITE_KEY)


async def test_new_identities_are_queued(store: Store) -> None:
    result = await store.enqueue_sent([sent("a"), sent("b", "u2")], 1_000.0)

    assert [entry.queued for entry in result] == [True, True]
    assert [job.id for job in await jobs_in(store, JobState.PENDING)] == [
        entry.job_id for entry in result
    ]


async def test_an_identity_already_queued_is_not_queued_again(store: Store) -> None:
    [first] = await store.enqueue_sent([sent("a")], 1_000.0)

    [again] = await store.enqueue_sent([sent("a")], 1_001.0)

    assert (again.job_id, again.queued) == (first.job_id, False)
    assert len(await jobs_in(store, JobState.PENDING)) == 1


async def test_an_identity_already_delivered_is_not_queued_again(store: Store) -> None:
    [first] = await store.enqueue_sent([sent("a")], 1_000.0)
    [job] = await claim_all(store)
    await deliver(store, job)

    [again] = await store.enqueue_sent([sent("a")], 2_000.0)

    assert (again.job_id, again.queued) == (first.job_id, False)
    assert (await store.counts()).pending == 0


async def test_an_overlapping_batch_queues_only_what_is_new(store: Store) -> None:
    first = await store.enqueue_sent([sent("a"), sent("b")], 1_000.0)

    second = await store.enqueue_sent([sent("b"), sent("c")], 1_001.0)

    assert (second[0].job_id, second[0].queued) == (first[1].job_id, False)
    assert second[1].queued and second[1].job_id not in {entry.job_id for entry in first}


async def test_a_repeated_identity_in_one_call_is_queued_once(store: Store) -> None:
    result = await store.enqueue_sent([sent("a"), sent("a")], 1_000.0)

    assert [entry.queued for entry in result] == [True, False]
    assert result[0].job_id == result[1].job_id


async def test_force_queues_again_and_a_later_send_finds_the_newest_copy(store: Store) -> None:
    [first] = await store.enqueue_sent([sent("a")], 1_000.0)

    [forced] = await store.enqueue_sent([sent("a")], 1_001.0, force=True)
    [later] = await store.enqueue_sent([sent("a")], 1_002.0)

    assert forced.queued and forced.job_id != first.job_id
    assert (later.job_id, later.queued) == (forced.job_id, False)


async def test_jobs_without_an_identity_are_always_queued(store: Store) -> None:
    result = await store.enqueue_sent([sent(None), sent(None)], 1_000.0)

    assert [entry.queued for entry in result] == [True, True]
    assert result[0].job_id != result[1].job_id


async def test_identities_are_not_shared_with_ingest_message_ids(store: Store) -> None:
    await store.enqueue([new_job("u1", message_id="a", write_key="wk")], [], WINDOW, 1_000.0)

    [result] = await store.enqueue_sent([sent("a")], 1_001.0)

    assert result.queued


async def test_sent_jobs_keep_per_user_order_behind_earlier_ones(store: Store) -> None:
    await store.enqueue_sent([sent("a"), sent("b")], 1_000.0)

    [head] = await claim_all(store)

    assert head.message_id == "a"


async def test_a_purged_identity_can_be_sent_again(store: Store) -> None:
    await store.enqueue_sent([sent("a")], 1_000.0)
    [job] = await claim_all(store)
    await store.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")
    await store.purge_finished(5_000.0)

    [again] = await store.enqueue_sent([sent("a")], 6_000.0)

    assert again.queued
