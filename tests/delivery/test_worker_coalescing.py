"""Coalescing in the worker (SPEC §13), against the sandbox on both stores.

A user's events queued during a backlog are claimed together and their profile
updates and cart changes ride in shared calls; each event keeps its own record, a
refusal that belongs to one event lands on it, and the final state in Sailthru is the
one one-by-one delivery leaves.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sailbridge.delivery.lines import single_account
from sailbridge.delivery.worker import Worker
from sailbridge.mapping.coalescing import MAX_MEMBERS
from sailbridge.mapping.options import MappingOptions
from sailbridge.store.base import FINAL_STATES, JobState, NewJob, Result
from tests.delivery.test_worker import (  # noqa: F401 - fixtures, registered by import
    CONFIG,
    POLICY,
    Rig,
    database,
    rig,
    running,
    store,
)
from tests.store.postgres_server import postgres_database  # noqa: F401 - fixture

REMINDING = MappingOptions(reminder_template="abandoned cart", reminder_time="60 minutes")
COALESCING = dataclasses.replace(CONFIG, group_size=MAX_MEMBERS)


def worker(rig: Rig, *, coalescing: bool = True, options: MappingOptions = REMINDING) -> Worker:
    return Worker(
        rig.store,
        single_account(rig.sender(), options),
        POLICY,
        cart_ttl=600,
        config=COALESCING if coalescing else CONFIG,
        observer=rig.seen,
    )


def identify(user: str, traits: dict[str, Any], n: int) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": f"{user}-{n}", "traits": traits}


def cart(user: str, name: str, product: str, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": name,
        "userId": user,
        "messageId": f"{user}-{n}",
        "context": {"traits": {"email": f"{user}@example.com"}},
        "properties": {
            "product_id": product,
            "price": 3.5,
            "quantity": 1,
            "url": f"https://shop.example/{product}",
        },
    }


def all_finished(rig: Rig, job_ids: list[int]) -> Any:
    async def check() -> bool:
        states = [(await rig.job(job_id)).state for job_id in job_ids]
        return all(state in FINAL_STATES for state in states)

    return check


def routes(rig: Rig) -> list[str]:
    return [entry["route"] for entry in rig.sandbox.requests()]


async def test_queued_profile_updates_ride_in_one_post_each_keeping_its_record(rig: Rig) -> None:
    ids = await rig.enqueue(
        identify("ann", {"email": "ann@example.com", "plan": "free"}, 1),
        identify("ann", {"plan": "pro"}, 2),
        identify("ann", {"city": "Oslo"}, 3),
    )
    await running(worker(rig), all_finished(rig, ids))

    assert routes(rig) == ["POST /user"]
    profile = rig.sandbox.user("ann")
    assert profile is not None
    assert profile["vars"] == {"email": "ann@example.com", "plan": "pro", "city": "Oslo"}
    for job_id in ids:
        job = await rig.job(job_id)
        assert job.state is JobState.DELIVERED and job.attempts == 1
        [attempt] = job.history
        others = [f"#{other}" for other in ids if other != job_id]
        assert attempt.message == "sent together with " + ", ".join(others)
        assert attempt.requests[-1]["endpoint"] == "/user"


async def test_queued_cart_changes_post_the_final_cart_once(rig: Rig) -> None:
    ids = await rig.enqueue(
        cart("bob", "Product Added", "p1", 1),
        cart("bob", "Product Added", "p2", 2),
        cart("bob", "Product Removed", "p1", 3),
        cart("bob", "Product Added", "p3", 4),
    )
    await running(worker(rig), all_finished(rig, ids))

    assert routes(rig).count("POST /purchase") == 1
    assert routes(rig).count("GET /user") <= 1
    [profile] = rig.sandbox.state()["profiles"]
    assert profile["keys"]["email"] == "bob@example.com"
    assert sorted(item["id"] for item in profile["cart"]["items"]) == ["p2", "p3"]
    assert {(await rig.job(job_id)).state for job_id in ids} == {JobState.DELIVERED}


async def test_without_coalescing_each_event_is_its_own_call(rig: Rig) -> None:
    ids = await rig.enqueue(identify("cy", {"a": 1}, 1), identify("cy", {"b": 2}, 2))
    await running(worker(rig, coalescing=False), all_finished(rig, ids))

    assert routes(rig) == ["POST /user", "POST /user"]
    assert [(await rig.job(job_id)).history[0].message for job_id in ids] == [None, None]


async def test_a_refused_merged_call_falls_back_so_the_refusal_lands_on_its_event(rig: Rig) -> None:
    bad, good = await rig.enqueue(
        identify("dee", {"email": "dee-at-example"}, 1), identify("dee", {"plan": "pro"}, 2)
    )
    await running(worker(rig), all_finished(rig, [bad, good]))

    refused, delivered = await rig.job(bad), await rig.job(good)
    assert refused.state is JobState.DEAD and refused.history[0].code == 11
    assert delivered.state is JobState.DELIVERED and delivered.attempts == 1
    assert delivered.history[0].message is None  # delivered alone, after the fallback
    profile = rig.sandbox.user("dee")
    assert profile is not None and profile["vars"] == {"plan": "pro"}


async def test_a_failure_that_is_no_ones_retries_the_first_event_and_holds_the_rest(
    rig: Rig,
) -> None:
    rig.sandbox.configure(fail_rate=1.0)
    first, second = await rig.enqueue(identify("eve", {"a": 1}, 1), identify("eve", {"b": 2}, 2))

    async def retried() -> bool:
        return (await rig.job(first)).attempts == 1

    await running(worker(rig), retried)
    head, follower = await rig.job(first), await rig.job(second)
    assert (head.state, [a.outcome for a in head.history]) == (JobState.PENDING, [Result.RETRY])
    assert (follower.state, follower.attempts, follower.history) == (JobState.PENDING, 0, [])

    rig.sandbox.configure(fail_rate=0.0)
    await running(worker(rig), all_finished(rig, [first, second]))
    assert (await rig.job(first)).attempts == 2
    assert (await rig.job(second)).attempts == 1
    profile = rig.sandbox.user("eve")
    assert profile is not None and profile["vars"] == {"a": 1, "b": 2}


async def test_barriers_go_alone_in_line_order(rig: Rig) -> None:
    ids = await rig.enqueue(
        identify("fay", {"a": 1}, 1),
        identify("fay", {"b": 1}, 2),
        {"type": "track", "event": "Signed Up", "userId": "fay", "messageId": "fay-3"},
        identify("fay", {"c": 1}, 4),
        identify("fay", {"d": 1}, 5),
    )
    await running(worker(rig), all_finished(rig, ids))

    assert routes(rig) == ["POST /user", "POST /event", "POST /user"]


# -- the same final state as one-by-one delivery ------------------------------------------

USERS = ("u1", "u2", "u3")


@st.composite
def session(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Identify and cart events over a few users, in a random interleaving."""
    events = []
    for n in range(draw(st.integers(1, 14))):
        user = draw(st.sampled_from(USERS))
        kind = draw(
            st.sampled_from(["identify", "Product Added", "Product Added", "Product Removed"])
        )
        if kind == "identify":
            traits = {draw(st.sampled_from("abc")): draw(st.integers(0, 9))}
            if draw(st.booleans()):
                traits["email"] = f"{user}@example.com"
            events.append(identify(user, traits, n))
        else:
            events.append(cart(user, kind, draw(st.sampled_from(["p1", "p2"])), n))
    return events


def final_state(rig: Rig) -> list[dict[str, Any]]:
    """Every profile's keys, vars, lists, opt-out and cart (items and reminder)."""
    state = []
    for profile in rig.sandbox.state()["profiles"]:
        cart_now = profile["cart"] or {}
        state.append(
            {
                "keys": {name: value for name, value in profile["keys"].items() if name != "sid"},
                "vars": profile["vars"],
                "lists": sorted(profile["lists"]),
                "optout": profile["optout_email"],
                "cart": sorted((item["id"], item["qty"]) for item in cart_now.get("items", [])),
                "reminder": cart_now.get("reminder_template"),
            }
        )
    return sorted(state, key=lambda p: (str(p["keys"].get("extid")), str(p["keys"].get("email"))))


RUNS = itertools.count()


async def deliver_all(
    rig: Rig, events: list[dict[str, Any]], *, coalescing: bool
) -> tuple[list[dict[str, Any]], list[JobState]]:
    """Deliver ``events`` from a clean sandbox, under user ids of their own (the store,
    and its memory, lives across hypothesis's examples); the state read back is
    spelled with the original ids."""
    run = f"r{next(RUNS)}-"
    rig.sandbox.reset()
    rig.sandbox.configure(cart_read_lag=30.0)  # Sailthru's GET lags its POSTs
    text = json.dumps(events)
    for user in USERS:
        text = text.replace(f'"{user}', f'"{run}{user}')
    ids = await rig.enqueue(*json.loads(text))
    await running(worker(rig, coalescing=coalescing), all_finished(rig, ids))
    state = json.loads(json.dumps(final_state(rig)).replace(run, ""))
    return state, [(await rig.job(job_id)).state for job_id in ids]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=session())
async def test_coalesced_delivery_leaves_the_profiles_and_carts_of_one_by_one(
    rig: Rig, events: list[dict[str, Any]]
) -> None:
    alone = await deliver_all(rig, events, coalescing=False)
    merged = await deliver_all(rig, events, coalescing=True)
    assert merged == alone


async def test_an_event_that_no_longer_reads_goes_alone_between_runs(rig: Rig) -> None:
    now = time.time()
    jobs = [
        NewJob(
            write_key="wk",
            message_id=f"gus-{n}",
            event=raw,
            event_type=raw["type"],
            user_key="gus",
            ordering_keys=("gus",),
            received_at=now,
        )
        for n, raw in enumerate(
            [
                identify("gus", {"a": 1}, 1),
                identify("gus", {"b": 1}, 2),
                {"type": "screenview", "userId": "gus"},
                identify("gus", {"c": 1}, 4),
            ]
        )
    ]
    ids = list((await rig.store.enqueue(jobs, [], 0.0, now)).job_ids)
    await running(worker(rig), all_finished(rig, ids))

    states = [(await rig.job(job_id)).state for job_id in ids]
    assert states == [JobState.DELIVERED, JobState.DELIVERED, JobState.DEAD, JobState.DELIVERED]
    assert routes(rig) == ["POST /user", "POST /user"]
