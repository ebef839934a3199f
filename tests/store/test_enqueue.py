"""Enqueue: what is stored, what is dropped as a duplicate, what is rejected."""

from __future__ import annotations

from sailbridge.store.base import JobState, Rejection, Store

from .helpers import WINDOW, claim_all, jobs_in, new_job


async def test_claimed_job_carries_the_event_json_unchanged(store: Store) -> None:
    event = {
        "type": "track",
        "userId": "u1",
        "event": "Played Game",
        "properties": {"score": 12.5, "tags": ["a", "é", None], "nested": {"ok": True}},
        "messageId": "m1",
        "timestamp": "2024-01-01T00:00:00.000Z",
    }
    await store.enqueue([new_job("u1", message_id="m1", event=event)], [], WINDOW, 1_000.0)

    [job] = await claim_all(store)

    assert job.event == event
    assert (job.write_key, job.message_id, job.event_type, job.user_key) == (
        "wk",
        "m1",
        "track",
        "u1",
    )
    assert job.ordering_keys == ("u1",)
    assert (job.received_at, job.available_at, job.attempts) == (900.0, 1_000.0, 0)
    assert job.state is JobState.CLAIMED


async def test_enqueue_counts_accepted_duplicates_and_rejected(store: Store) -> None:
    rejection = Rejection("wk", "bad", '{"type": 1}', "type is not a string", 900.0)
    jobs = [new_job(message_id="m1"), new_job(message_id="m1"), new_job(message_id="m2")]

    result = await store.enqueue(jobs, [rejection], WINDOW, 1_000.0)

    assert (result.accepted, result.duplicates, result.rejected) == (2, 1, 1)
    assert len(result.job_ids) == 2


async def test_message_id_seen_within_the_window_is_a_duplicate(store: Store) -> None:
    await store.enqueue([new_job(message_id="m1")], [], 60.0, 1_000.0)

    result = await store.enqueue([new_job(message_id="m1")], [], 60.0, 1_059.0)

    assert (result.accepted, result.duplicates) == (0, 1)


async def test_message_id_is_accepted_again_after_the_window(store: Store) -> None:
    await store.enqueue([new_job(message_id="m1")], [], 60.0, 1_000.0)

    result = await store.enqueue([new_job(message_id="m1")], [], 60.0, 1_061.0)

    assert (result.accepted, result.duplicates) == (1, 0)


async def test_dedupe_is_per_write_key(store: Store) -> None:
    await store.enqueue([new_job(message_id="m1", write_key="a")], [], WINDOW, 1_000.0)

    result = await store.enqueue([new_job(message_id="m1", write_key="b")], [], WINDOW, 1_001.0)

    assert (result.accepted, result.duplicates) == (1, 0)


async def test_duplicates_inside_one_batch_are_dropped(store: Store) -> None:
    first = new_job("u1", message_id="m1", event={"n": 1})
    again = new_job("u1", message_id="m1", event={"n": 2})

    result = await store.enqueue([first, again], [], WINDOW, 1_000.0)

    assert (result.accepted, result.duplicates) == (1, 1)
    [job] = await jobs_in(store, JobState.PENDING)
    assert job.event == {"n": 1}


async def test_jobs_without_message_id_are_never_deduplicated(store: Store) -> None:
    result = await store.enqueue(
        [new_job(message_id=None), new_job(message_id=None)], [], WINDOW, 1_000.0
    )

    assert (result.accepted, result.duplicates) == (2, 0)


async def test_rejections_are_kept_with_their_reasons(store: Store) -> None:
    rejections = [
        Rejection("wk", "m9", '{"type": "nope"}', "unknown type", 900.0),
        Rejection("wk", None, "{}", "missing userId and anonymousId", 901.0),
    ]

    await store.enqueue([], rejections, WINDOW, 1_000.0)

    assert await store.list_rejections() == rejections
    assert (await store.counts()).rejected == 2
