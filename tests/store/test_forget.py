"""`Store.forget`: once Sailthru deleted a person, the store lets go of them (issue 8)."""

from __future__ import annotations

from sailbridge.mapping.plan import ForgetUser, RememberCart, RememberEmail, RememberMerge
from sailbridge.store.base import JobState, Rejection, Store

from .helpers import WINDOW, attempt, claim_all, deliver, enqueue, jobs_in, new_job

EMAIL = "ada@example.com"
CART = ({"id": "mug", "qty": 1, "title": "Mug", "price": 1299, "url": "https://x"},)


def identify(user: str, email: str = EMAIL, anonymous: str | None = None) -> dict[str, object]:
    return {
        "type": "identify",
        "userId": user,
        "traits": {"email": email},
        **({"anonymousId": anonymous} if anonymous else {}),
    }


async def remember_ada(store: Store) -> None:
    await store.apply(
        [
            RememberEmail("u1", EMAIL),
            RememberCart("u1", CART),
            RememberMerge("anon1", "u1"),
            RememberEmail("anon1", EMAIL),
            RememberCart("anon1", ()),
        ]
    )


async def test_forget_removes_email_cart_and_merges(store: Store) -> None:
    await remember_ada(store)

    forgotten = await store.forget("u1")

    assert forgotten.user_keys == ("u1", "anon1")
    assert await store.email("u1") is None
    assert await store.cart("u1", 600.0) is None
    assert await store.merged("anon1", "u1") is False


async def test_forget_follows_a_merge_from_the_anonymous_side_too(store: Store) -> None:
    await remember_ada(store)

    await store.forget("anon1")

    assert await store.email("u1") is None and await store.email("anon1") is None
    assert await store.cart("u1", 600.0) is None


async def test_forget_goes_one_merge_away_only(store: Store) -> None:
    # One device, two people: forgetting one must not forget the other.
    await store.apply(
        [
            RememberMerge("device", "u1"),
            RememberMerge("device", "u2"),
            RememberEmail("u2", "bob@example.com"),
        ]
    )

    forgotten = await store.forget("u1")

    assert forgotten.user_keys == ("u1", "device")
    assert await store.email("u2") == "bob@example.com"


async def test_the_email_is_forgotten_wherever_it_was_remembered(store: Store) -> None:
    await store.apply([RememberEmail("u1", EMAIL), RememberEmail("other-id", "ADA@example.com")])

    forgotten = await store.forget("u1")

    assert forgotten.emails == 1
    assert await store.email("other-id") is None


async def test_other_people_are_kept(store: Store) -> None:
    await remember_ada(store)
    await store.apply([RememberEmail("u2", "bob@example.com"), RememberCart("u2", CART)])
    [other] = await enqueue(store, new_job("u2", event=identify("u2", "bob@example.com")))
    [job] = await claim_all(store)
    await deliver(store, job)

    await store.forget("u1")

    assert await store.email("u2") == "bob@example.com"
    remembered = await store.cart("u2", 600.0)
    assert remembered is not None and remembered.items == CART
    assert (await store.get_job(other)) is not None


async def test_finished_jobs_of_the_person_are_deleted_with_their_history(store: Store) -> None:
    ids = await enqueue(
        store,
        new_job("u1", event=identify("u1")),
        new_job("anon1", event={"type": "track", "anonymousId": "anon1", "event": "Viewed"}),
    )
    for job in await claim_all(store):
        await store.finish(
            job.id,
            JobState.DEAD if job.user_key == "anon1" else JobState.DELIVERED,
            attempt(1_001.0, requests=[{"params": {"email": EMAIL}}]),
            "failed",
            worker="w1",
        )
    await store.apply([RememberMerge("anon1", "u1"), RememberEmail("u1", EMAIL)])
    before = await store.counts()

    forgotten = await store.forget("u1")

    assert forgotten.jobs == 2
    assert [await store.get_job(job_id) for job_id in ids] == [None, None]
    after = await store.counts()
    assert (after.dead, after.delivered) == (before.dead - 1, before.delivered)
    assert await jobs_in(store, JobState.DEAD) == []


async def test_a_finished_job_of_anyone_carrying_the_email_is_deleted(store: Store) -> None:
    [job_id] = await enqueue(
        store,
        new_job(
            "someone-else",
            event={
                "type": "track",
                "userId": "someone-else",
                "event": "Order Completed",
                "properties": {"email": "Ada@Example.com"},
            },
        ),
    )
    [job] = await claim_all(store)
    await deliver(store, job)
    await store.apply([RememberEmail("u1", EMAIL)])

    await store.forget("u1")

    assert await store.get_job(job_id) is None


async def test_unfinished_jobs_stay_to_be_delivered(store: Store) -> None:
    # Queued after the deletion in the user's line: new events, delivered as asked.
    [later] = await enqueue(store, new_job("u1", event=identify("u1")))

    await store.forget("u1")

    job = await store.get_job(later)
    assert job is not None and job.state is JobState.PENDING


async def test_rejections_mentioning_the_person_are_deleted(store: Store) -> None:
    await store.apply([RememberEmail("u1", EMAIL)])
    await store.enqueue(
        [],
        [
            Rejection("wk", None, '{"type":"identify","userId":"u1"}', "bad", 1_000.0),
            Rejection("wk", None, '{"traits":{"email":"ada@example.com"}', "malformed", 1_000.0),
            Rejection("wk", None, '{"type":"identify","userId":"u10"}', "bad", 1_000.0),
        ],
        WINDOW,
        1_000.0,
    )

    forgotten = await store.forget("u1")

    assert forgotten.rejections == 2
    assert [r.raw for r in await store.list_rejections()] == ['{"type":"identify","userId":"u10"}']
    assert (await store.counts()).rejected == 1


async def test_the_deletion_being_delivered_is_deleted_once_finished(store: Store) -> None:
    [earlier, deletion, later] = await enqueue(
        store,
        new_job("u1", event=identify("u1")),
        new_job("u1", event={"type": "track", "userId": "u1", "event": "User Deleted"}),
        new_job("u1", event=identify("u1", "new@example.com")),
    )
    [first] = await claim_all(store)
    await deliver(store, first)
    [claimed] = await claim_all(store)
    assert claimed.id == deletion

    await store.apply([ForgetUser("u1")])  # as the executor does after DELETE /user

    assert await store.get_job(earlier) is None
    assert await store.get_job(deletion) is not None  # still being delivered
    delivered_before = (await store.counts()).delivered
    await deliver(store, claimed)
    assert await store.get_job(deletion) is None
    counts = await store.counts()
    assert (counts.delivered, counts.claimed, counts.pending) == (delivered_before + 1, 0, 1)
    [next_job] = await claim_all(store)
    assert next_job.id == later


async def test_a_deletion_that_is_retried_instead_stays_until_finished(store: Store) -> None:
    [deletion] = await enqueue(
        store, new_job("u1", event={"type": "track", "userId": "u1", "event": "User Deleted"})
    )
    [claimed] = await claim_all(store)
    await store.forget("u1")

    await store.retry_at(claimed.id, 1_010.0, attempt(1_001.0, "retry"), worker="w1")

    assert await store.get_job(deletion) is not None
    [again] = await claim_all(store, now=1_020.0)
    await deliver(store, again, at=1_021.0)
    assert await store.get_job(deletion) is None
