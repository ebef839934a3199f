"""Paged listings for the console: by state, user, event name, reason; per-minute ends."""

from __future__ import annotations

import pytest

from sailbridge.store.base import JobQuery, JobState, ListState, Rejection, Store

from .helpers import WINDOW, attempt, claim_all, enqueue, new_job


def track(user: str, name: str) -> dict[str, object]:
    return {"type": "track", "userId": user, "event": name}


async def one_in_each_state(store: Store) -> dict[str, int]:
    """Six users, one job each, ending up pending, retrying, in flight, delivered,
    skipped and dead (ids by state)."""
    names = ["pending", "retrying", "in_flight", "delivered", "skipped", "dead"]
    ids = await enqueue(
        store, *(new_job(f"u-{name}", event=track(f"u-{name}", f"E {name}")) for name in names[1:])
    )
    claimed = {job.user_key: job for job in await claim_all(store)}
    await store.retry_at(claimed["u-retrying"].id, 5_000.0, attempt(1_001.0, "retry"), worker="w1")
    await store.finish(claimed["u-delivered"].id, JobState.DELIVERED, attempt(1_061.0), worker="w1")
    await store.finish(
        claimed["u-skipped"].id,
        JobState.SKIPPED,
        attempt(1_002.0, "skipped"),
        "no email known",
        worker="w1",
    )
    await store.finish(
        claimed["u-dead"].id,
        JobState.DEAD,
        attempt(1_003.0, "dead"),
        "Sailthru error 14: unknown template",
        worker="w1",
    )
    [pending] = await enqueue(store, new_job("u-pending", event=track("u-pending", "E pending")))
    return dict(zip(names, [pending, *ids], strict=True))


async def test_each_state_lists_exactly_its_jobs(store: Store) -> None:
    ids = await one_in_each_state(store)

    for state in ListState:
        page = await store.find_jobs(JobQuery(state=state))
        assert [job.id for job in page.items] == [ids[state.value]], state
        assert page.next_before is None


async def test_listings_carry_history_and_reason(store: Store) -> None:
    ids = await one_in_each_state(store)

    [dead] = (await store.find_jobs(JobQuery(state=ListState.DEAD))).items

    assert dead.id == ids["dead"]
    assert dead.reason == "Sailthru error 14: unknown template"
    assert [a.outcome for a in dead.history] == ["dead"]


async def test_pages_go_newest_first_and_the_cursor_reaches_every_job(store: Store) -> None:
    ids = await enqueue(store, *(new_job(f"p{n}") for n in range(7)))

    seen: list[int] = []
    before = None
    pages = 0
    while True:
        page = await store.find_jobs(JobQuery(state=ListState.PENDING, before=before, limit=3))
        seen += [job.id for job in page.items]
        pages += 1
        if page.next_before is None:
            break
        before = page.next_before

    assert seen == sorted(ids, reverse=True)
    assert pages == 3


async def test_a_user_filter_lists_that_users_jobs_in_every_state(store: Store) -> None:
    first = await enqueue(store, new_job("alice"), new_job("bob"))
    [job] = [j for j in await claim_all(store) if j.user_key == "alice"]
    await store.finish(job.id, JobState.DEAD, attempt(1_001.0, "dead"), "bad", worker="w1")
    later = await enqueue(store, new_job("alice"))

    timeline = await store.find_jobs(JobQuery(user="alice"))
    dead_only = await store.find_jobs(JobQuery(user="alice", state=ListState.DEAD))

    assert [j.id for j in timeline.items] == [later[0], first[0]]
    assert [j.state for j in timeline.items] == [JobState.PENDING, JobState.DEAD]
    assert [j.id for j in dead_only.items] == [first[0]]
    assert (await store.find_jobs(JobQuery(user="nobody"))).items == []


async def test_event_name_matches_a_tracks_name_or_another_types_type(store: Store) -> None:
    ids = await enqueue(
        store,
        new_job("u1", event=track("u1", "Order Completed")),
        new_job("u2", event=track("u2", "Product Viewed")),
        new_job(
            "u3",
            event_type="identify",
            event={"type": "identify", "userId": "u3", "traits": {"event": "x"}},
        ),
    )

    orders = await store.find_jobs(JobQuery(event="Order Completed"))
    identifies = await store.find_jobs(JobQuery(state=ListState.PENDING, event="identify"))

    assert [j.id for j in orders.items] == [ids[0]]
    assert [j.id for j in identifies.items] == [ids[2]]


async def test_reason_text_filters_dead_jobs(store: Store) -> None:
    await enqueue(store, *(new_job(f"d{n}") for n in range(3)))
    claimed = await claim_all(store)
    reasons = [
        "Sailthru error 14: unknown template",
        "Sailthru error 2: bad email",
        "Sailthru error 14: unknown template again",
    ]
    for job, reason in zip(claimed, reasons, strict=True):
        await store.finish(job.id, JobState.DEAD, attempt(1_001.0, "dead"), reason, worker="w1")

    page = await store.find_jobs(JobQuery(state=ListState.DEAD, reason="unknown template"))

    assert [j.id for j in page.items] == [claimed[2].id, claimed[0].id]
    assert (await store.find_jobs(JobQuery(reason="Unknown Template"))).items == []


async def test_a_filter_no_index_serves_stops_at_the_scan_window_and_says_where(
    store: Store,
) -> None:
    ids = await enqueue(
        store,
        *(
            new_job(f"w{n}", event=track(f"w{n}", "Rare" if n in (1, 8) else "Common"))
            for n in range(10)
        ),
    )

    first = await store.find_jobs(JobQuery(state=ListState.PENDING, event="Rare", scan=4))
    assert [j.id for j in first.items] == [ids[8]]
    assert first.searched_to == ids[6] and first.next_before == ids[6]

    second = await store.find_jobs(
        JobQuery(state=ListState.PENDING, event="Rare", scan=4, before=first.next_before)
    )
    assert second.items == [] and second.next_before == ids[2]

    third = await store.find_jobs(
        JobQuery(state=ListState.PENDING, event="Rare", scan=4, before=second.next_before)
    )
    assert [j.id for j in third.items] == [ids[1]]
    assert third.next_before is None and third.searched_to is None


async def test_a_full_filtered_page_continues_after_its_last_item(store: Store) -> None:
    ids = await enqueue(store, *(new_job(f"f{n}", event=track(f"f{n}", "Same")) for n in range(5)))

    page = await store.find_jobs(JobQuery(event="Same", limit=2))

    assert [j.id for j in page.items] == [ids[4], ids[3]]
    assert page.next_before == ids[3] and page.searched_to is None


async def test_rejections_are_paged_with_ids_and_filtered_by_reason(store: Store) -> None:
    rejections = [
        Rejection("wk", f"m{n}", "{}", reason, 900.0 + n)
        for n, reason in enumerate(["no userId", "bad JSON", "no userId either"])
    ]
    await store.enqueue([], rejections, WINDOW, 1_000.0)

    everything = await store.find_rejections()
    matching = await store.find_rejections(reason="no userId")
    first = await store.find_rejections(limit=2)
    rest = await store.find_rejections(before=first.next_before, limit=2)

    assert [r.message_id for r in everything.items] == ["m2", "m1", "m0"]
    assert all(r.id is not None for r in everything.items)
    assert [r.message_id for r in matching.items] == ["m2", "m0"]
    assert [r.message_id for r in first.items + rest.items] == ["m2", "m1", "m0"]
    assert rest.next_before is None


async def test_finished_per_minute_counts_delivered_and_dead_by_the_minute(store: Store) -> None:
    await enqueue(store, *(new_job(f"m{n}") for n in range(5)))
    claimed = await claim_all(store)
    ends = [
        (JobState.DELIVERED, 1_205.0),
        (JobState.DELIVERED, 1_230.0),
        (JobState.DEAD, 1_250.0),
        (JobState.DELIVERED, 1_330.0),
        (JobState.DELIVERED, 1_100.0),
    ]
    for job, (state, at) in zip(claimed, ends, strict=True):
        await store.finish(
            job.id,
            state,
            attempt(at, state.value),
            "why" if state is JobState.DEAD else None,
            worker="w1",
        )

    minutes = await store.finished_per_minute(since=1_190.0, until=1_330.0)
    earlier = await store.finished_per_minute(since=1_100.0, until=1_250.0)

    assert [(m.minute, m.delivered, m.dead) for m in minutes] == [(1_200.0, 2, 1), (1_320.0, 1, 0)]
    assert [(m.minute, m.delivered, m.dead) for m in earlier] == [(1_080.0, 1, 0), (1_200.0, 2, 1)]


async def test_oldest_first_pages_go_forward_and_the_cursor_reaches_every_job(store: Store) -> None:
    ids = await enqueue(store, *(new_job(f"p{n}") for n in range(7)))

    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = await store.find_jobs(
            JobQuery(state=ListState.PENDING, after=after, limit=3, oldest_first=True)
        )
        seen += [job.id for job in page.items]
        pages += 1
        assert page.next_before is None
        if page.next_after is None:
            break
        after = page.next_after

    assert seen == sorted(ids)
    assert pages == 3


async def test_an_oldest_first_filter_stops_at_the_window_and_goes_on_beyond_it(
    store: Store,
) -> None:
    ids = await enqueue(
        store,
        *(new_job(f"w{n}", event=track(f"w{n}", "Rare" if n == 4 else "Common")) for n in range(6)),
    )

    first = await store.find_jobs(JobQuery(event="Rare", scan=3, oldest_first=True))
    rest = await store.find_jobs(
        JobQuery(event="Rare", scan=3, oldest_first=True, after=first.next_after)
    )

    assert first.items == [] and first.searched_to == ids[2] == first.next_after
    assert [job.id for job in rest.items] == [ids[4]]


async def test_an_unbounded_filter_examines_every_job(store: Store) -> None:
    ids = await enqueue(
        store,
        *(new_job(f"u{n}", event=track(f"u{n}", "Rare" if n == 5 else "Common")) for n in range(6)),
    )

    page = await store.find_jobs(JobQuery(event="Rare", scan=None, oldest_first=True))

    assert [job.id for job in page.items] == [ids[5]]
    assert page.next_after is None and page.searched_to is None


def test_a_cursor_goes_with_its_direction() -> None:
    with pytest.raises(ValueError, match="continues from after"):
        JobQuery(before=5, oldest_first=True)
    with pytest.raises(ValueError, match="continues from before"):
        JobQuery(after=5)
