"""Status counts and the shared pause state."""

from __future__ import annotations

from sailbridge.store.base import JobState, Rejection, StatusCounts, Store

from .helpers import WINDOW, attempt, enqueue, new_job


async def test_an_empty_store_counts_nothing(store: Store) -> None:
    assert await store.counts() == StatusCounts(0, 0, 0, 0, 0, 0, 0, None, None)


async def test_counts_follow_every_state(store: Store) -> None:
    await enqueue(store, *(new_job(f"u{n}") for n in range(7)))
    await store.enqueue([], [Rejection("wk", None, "{}", "bad", 900.0)], WINDOW, 1_000.0)
    a, b, c, d, e = await store.claim("w1", 5, 60.0, 1_000.0)
    await store.finish(a.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")
    await store.finish(
        b.id, JobState.SKIPPED, attempt(1_001.0, "skipped"), "no mapping", worker="w1"
    )
    await store.finish(c.id, JobState.DEAD, attempt(1_001.0, "dead"), "error 2", worker="w1")
    await store.retry_at(d.id, 1_100.0, attempt(1_001.0, "retry"), worker="w1")

    counts = await store.counts()

    assert (counts.pending, counts.retrying, counts.claimed) == (2, 1, 1)
    assert (counts.delivered, counts.skipped, counts.dead, counts.rejected) == (1, 1, 1, 1)
    assert e.state is JobState.CLAIMED


async def test_oldest_pending_is_the_earliest_received_unfinished_event(store: Store) -> None:
    await store.enqueue(
        [
            new_job("u1", received_at=500.0),
            new_job("u2", received_at=300.0),
            new_job("u3", received_at=400.0),
        ],
        [],
        WINDOW,
        1_000.0,
    )
    claimed = await store.claim("w1", 10, 60.0, 1_000.0)
    assert (await store.counts()).oldest_pending_at == 300.0

    by_user = {job.user_key: job for job in claimed}
    await store.finish(by_user["u2"].id, JobState.DELIVERED, attempt(1_001.0), worker="w1")

    assert (await store.counts()).oldest_pending_at == 400.0


async def test_pause_reason_is_visible_in_status_until_resumed(store: Store) -> None:
    assert await store.paused_reason() is None

    await store.set_paused("Sailthru error 3: invalid API key")

    assert await store.paused_reason() == "Sailthru error 3: invalid API key"
    assert (await store.counts()).paused_reason == "Sailthru error 3: invalid API key"
    await store.set_paused(None)
    assert await store.paused_reason() is None


async def test_a_working_store_is_writable(store: Store) -> None:
    await store.check_writable(1_000.0)
    await store.check_writable(1_001.0)
    assert (await store.counts()).pending == 0


async def test_queued_kinds_count_unfinished_jobs_by_type_and_event_name(store: Store) -> None:
    await enqueue(
        store,
        new_job("u1", event={"type": "track", "userId": "u1", "event": "Product Added"}),
        new_job("u2", event={"type": "track", "userId": "u2", "event": "Product Added"}),
        new_job("u3", event_type="identify", event={"type": "identify", "userId": "u3"}),
        new_job("u4", event={"type": "track", "userId": "u4", "event": "Signed Up"}),
    )
    [first, *_] = await store.claim("w1", 1, 60.0, 1_000.0)
    await store.finish(first.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")

    sample = await store.queued_kinds()

    assert sample.kinds == {
        ("track", "Product Added"): 1,
        ("identify", None): 1,
        ("track", "Signed Up"): 1,
    }
    assert sample.sampled == 3
    assert (await store.queued_kinds(limit=2)).sampled == 2
