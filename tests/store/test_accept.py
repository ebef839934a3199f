"""Accept: ingest's durable hand-off, sorted into the queue a moment later.

`Store.accept` promises less than `enqueue` at return (no ids, duplicates unknown yet)
and the same once the events are sorted: arrival order, dedupe, counts. These tests
hold every store to that; what a store does between the two is its own business.
"""

from __future__ import annotations

import msgspec

from sailbridge.store.base import JobState, Rejection, Store

from .conftest import OpenStore
from .helpers import WINDOW, attempt, claim_all, deliver, jobs_in, new_job, users


async def test_accept_returns_how_many_jobs_it_took(store: Store) -> None:
    taken = await store.accept([new_job("u1"), new_job("u2")], [], WINDOW, 1_000.0)

    assert taken == 2


async def test_accepted_events_are_durable_when_accept_returns(
    store: Store, open_store: OpenStore
) -> None:
    await store.accept([new_job("u1"), new_job("u2"), new_job("u3")], [], WINDOW, 1_000.0)

    fresh = await open_store()

    assert (await fresh.counts()).pending == 3


async def test_counts_show_accepted_events_as_pending_at_once(store: Store) -> None:
    await store.accept([new_job(f"u{n}") for n in range(5)], [], WINDOW, 1_000.0)

    counts = await store.counts()

    assert counts.pending == 5
    assert counts.oldest_pending_at == 900.0


async def test_accepted_events_are_claimed_in_arrival_order(store: Store) -> None:
    await store.accept(
        [new_job("u1", event={"n": 1}), new_job("u2", event={"n": 2})], [], WINDOW, 1_000.0
    )
    await store.accept(
        [new_job("u1", event={"n": 3}), new_job("u3", event={"n": 4})], [], WINDOW, 1_000.0
    )

    first = await claim_all(store)
    assert [job.event["n"] for job in first] == [1, 2, 4]
    await deliver(store, first[0])
    [second] = await claim_all(store)

    assert second.event["n"] == 3
    assert second.id > first[0].id


async def test_an_accepted_job_carries_its_event_and_fields(store: Store) -> None:
    event = {
        "type": "track",
        "userId": "u1",
        "event": "Played Game",
        "properties": {"score": 12.5, "tags": ["a", "é", None]},
        "messageId": "m1",
    }
    await store.accept([new_job("u1", message_id="m1", event=event)], [], WINDOW, 1_000.0)

    [job] = await claim_all(store)

    assert job.event == event
    assert (job.write_key, job.message_id, job.event_type, job.user_key) == (
        "wk",
        "m1",
        "track",
        "u1",
    )
    assert (job.received_at, job.available_at, job.attempts) == (900.0, 1_000.0, 0)


async def test_an_event_given_as_raw_json_is_stored_as_that_json(store: Store) -> None:
    raw = msgspec.Raw(b'{"type":"track","userId":"u1","event":"E","properties":{"a":[1,2]}}')
    job = new_job("u1")
    await store.accept([msgspec.structs.replace(job, event=raw)], [], WINDOW, 1_000.0)

    [claimed] = await claim_all(store)

    assert claimed.event == {
        "type": "track",
        "userId": "u1",
        "event": "E",
        "properties": {"a": [1, 2]},
    }


async def test_accepted_duplicates_are_dropped_when_sorted(store: Store) -> None:
    await store.accept(
        [
            new_job("u1", message_id="m1", event={"n": 1}),
            new_job("u1", message_id="m1", event={"n": 2}),
            new_job("u2", message_id="m2", event={"n": 3}),
        ],
        [],
        WINDOW,
        1_000.0,
    )
    await store.accept([new_job("u3", message_id="m2", event={"n": 4})], [], WINDOW, 1_001.0)

    jobs = await jobs_in(store, JobState.PENDING)

    assert [job.event["n"] for job in jobs] == [1, 3]
    assert (await store.counts()).pending == 2


async def test_duplicates_dropped_when_sorting_are_counted_in_status(store: Store) -> None:
    await store.accept([new_job(message_id="m1"), new_job(message_id="m1")], [], WINDOW, 1_000.0)
    await store.accept([new_job(message_id="m1")], [], WINDOW, 1_001.0)

    counts = await store.counts()

    assert counts.deduplicated == 2
    assert counts.pending == 1


async def test_an_accepted_event_is_a_duplicate_of_an_enqueued_one(store: Store) -> None:
    await store.enqueue([new_job(message_id="m1")], [], WINDOW, 1_000.0)
    await store.accept([new_job(message_id="m1")], [], WINDOW, 1_001.0)

    assert len(await jobs_in(store, JobState.PENDING)) == 1


async def test_accepted_events_use_their_own_dedupe_window(store: Store) -> None:
    await store.accept([new_job(message_id="m1")], [], 60.0, 1_000.0)
    await store.accept([new_job(message_id="m1")], [], 60.0, 1_061.0)
    await store.accept([new_job(message_id="m1")], [], 60.0, 1_062.0)

    assert len(await jobs_in(store, JobState.PENDING)) == 2


async def test_accept_without_a_dedupe_window_keeps_duplicates(store: Store) -> None:
    await store.accept([new_job(message_id="m1"), new_job(message_id="m1")], [], 0.0, 1_000.0)

    assert len(await jobs_in(store, JobState.PENDING)) == 2


async def test_accepted_events_come_before_a_later_enqueue(store: Store) -> None:
    await store.accept([new_job("u1", event={"n": 1})], [], WINDOW, 1_000.0)
    result = await store.enqueue([new_job("u1", event={"n": 2})], [], WINDOW, 1_000.0)

    [head] = await claim_all(store)

    assert head.event == {"n": 1}
    assert result.job_ids[0] > head.id


async def test_accepted_events_keep_their_place_in_a_users_line(store: Store) -> None:
    [old] = (await store.enqueue([new_job("u1", event={"n": 0})], [], WINDOW, 1_000.0)).job_ids
    await store.accept(
        [new_job("u1", event={"n": 1}), new_job("a1", keys=("u1", "a1"), event={"n": 2})],
        [],
        WINDOW,
        1_000.0,
    )

    [head] = await claim_all(store)
    assert head.id == old
    await store.finish(head.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")
    [second] = await claim_all(store)
    await deliver(store, second)
    [third] = await claim_all(store)

    assert [second.event["n"], third.event["n"]] == [1, 2]


async def test_rejections_given_to_accept_are_kept(store: Store) -> None:
    rejection = Rejection("wk", "m9", '{"type": "nope"}', "unknown type", 900.0)

    taken = await store.accept([], [rejection], WINDOW, 1_000.0)

    assert taken == 0
    assert await store.list_rejections() == [rejection]
    assert (await store.counts()).rejected == 1


async def test_accepted_events_outlive_the_store_that_took_them(
    store: Store, open_store: OpenStore
) -> None:
    await store.accept([new_job(f"u{n}") for n in range(50)], [], WINDOW, 1_000.0)
    await store.close()

    fresh = await open_store()

    claimed = await fresh.claim("w1", 100, 60.0, 1_000.0)
    assert sorted(users(claimed)) == sorted(f"u{n}" for n in range(50))
