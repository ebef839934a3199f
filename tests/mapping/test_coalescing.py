"""SPEC §13: which of one user's queued events share a call, and what that call is.

The last tests hold the rule that matters: for any sequence of a user's events, the
merged calls leave Sailthru (the sandbox's account model) and sailbridge's memory in
the same state as one call per event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sailbridge.events import Event
from sailbridge.mapping import cart_from_sailthru, plan_event
from sailbridge.mapping.coalescing import (
    MAX_MEMBERS,
    MAX_PARAMS_BYTES,
    GroupPlan,
    Kind,
    Member,
    Run,
    Unmergeable,
    merge_kind,
    merge_profiles,
    partition,
    plan_group,
)
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    UNKNOWN,
    CartLookup,
    Deliver,
    EmailLookup,
    Facts,
    Fail,
    Lookup,
    LookupRequest,
    MemoryUpdate,
    Plan,
    ProfileLookup,
    ProfileState,
    RememberCart,
    RememberEmail,
    RememberMerge,
    Skip,
)
from sailbridge.sailthru.calls import Call
from sailbridge.sandbox.account import Account
from sailbridge.sandbox.errors import ApiError

from .builders import NO_SETTINGS, event, identify, track

REMINDING = MappingOptions(
    default_list_name="Main", reminder_template="cart-reminder", reminder_time="60 minutes"
)
KNOWN = Facts(email="ann@example.com", cart=())


def added(product: str = "p1", quantity: int = 1, **fields: Any) -> Event:
    return track(
        "Product Added",
        {
            "product_id": product,
            "quantity": quantity,
            "price": 2.5,
            "url": f"https://shop/{product}",
        },
        **fields,
    )


def removed(product: str = "p1", quantity: int = 1, **fields: Any) -> Event:
    return track("Product Removed", {"product_id": product, "quantity": quantity}, **fields)


def members(*events: Event) -> list[Member]:
    return [Member(each) for each in events]


def spans(runs: Sequence[Run]) -> list[tuple[int, int]]:
    return [(run.start, run.stop) for run in runs]


def group(
    events: Sequence[Event], options: MappingOptions = NO_SETTINGS, facts: Facts = KNOWN
) -> GroupPlan:
    kind = merge_kind(events[0])
    assert kind is not None
    result = plan_group(members(*events), kind, options, facts)
    assert isinstance(result, GroupPlan), result
    return result


# -- which events may share a call ------------------------------------------------------


def test_consecutive_identifies_of_a_user_form_one_profile_run() -> None:
    runs = partition([identify({"a": 1}), identify({"b": 2}), identify({"c": 3})])
    assert spans(runs) == [(0, 3)]
    assert runs[0].kind is Kind.PROFILE


def test_consecutive_cart_changes_form_one_cart_run() -> None:
    runs = partition([added("p1"), added("p2"), removed("p1")])
    assert spans(runs) == [(0, 3)] and runs[0].kind is Kind.CART


def test_profile_and_cart_events_do_not_share_a_run() -> None:
    runs = partition([identify({"a": 1}), added(), identify({"b": 2})])
    assert spans(runs) == [(0, 1), (1, 2), (2, 3)]


def test_an_identify_that_may_merge_an_anonymous_profile_goes_alone() -> None:
    merging = identify({"b": 2}, anonymousId="anon-1")
    runs = partition([identify({"a": 1}), merging, identify({"c": 3})])
    assert spans(runs) == [(0, 1), (1, 2), (2, 3)]
    assert runs[1].kind is None


def test_an_identify_whose_anonymous_id_is_its_user_id_still_merges() -> None:
    same = identify({"b": 2}, anonymousId="user-1")
    assert spans(partition([identify({"a": 1}), same])) == [(0, 2)]


def test_an_anonymous_visitors_identifies_merge() -> None:
    visitor = {"userId": None, "anonymousId": "anon-1"}
    assert spans(partition([identify({"a": 1}, **visitor), identify({"b": 1}, **visitor)])) == [
        (0, 2)
    ]


def test_barriers_go_alone_and_split_runs() -> None:
    barriers = [
        event("alias", userId="user-1", previousId="anon-1"),
        track("User Deleted"),
        track("Order Completed", {"products": [{"product_id": "p", "url": "https://u"}]}),
        track("Signed Up"),
        track("Subscribed", {"list": "News"}),
        event("page", userId="user-1", properties={"url": "https://shop"}),
        event("screen", userId="user-1", name="Home"),
        event("group", userId="user-1", groupId="g"),
    ]
    for barrier in barriers:
        runs = partition([identify({"a": 1}), barrier, identify({"b": 2})])
        assert spans(runs) == [(0, 1), (1, 2), (2, 3)], barrier
        assert merge_kind(barrier) is None, barrier


def test_a_cart_event_without_a_user_id_goes_alone() -> None:
    anonymous = added(userId=None, anonymousId="anon-1")
    assert merge_kind(anonymous) is None


def test_differing_overrides_split_a_run() -> None:
    other_list = identify({"b": 2}, integrations={"Sailthru": {"defaultListName": "VIP"}})
    assert spans(partition([identify({"a": 1}), other_list])) == [(0, 1), (1, 2)]
    other_time = added("p2", integrations={"Sailthru": {"reminder_time": "2 hours"}})
    assert spans(partition([added("p1"), other_time])) == [(0, 1), (1, 2)]


def test_equal_overrides_do_not_split_a_run() -> None:
    vip = {"Sailthru": {"defaultListName": "VIP", "optoutValue": "basic"}}
    assert spans(
        partition([identify({"a": 1}, integrations=vip), identify({"b": 2}, integrations=vip)])
    ) == [(0, 2)]


def test_a_bad_override_makes_its_event_go_alone() -> None:
    bad = identify({"b": 2}, integrations={"Sailthru": {"defaultListName": 7}})
    runs = partition([identify({"a": 1}), bad])
    assert spans(runs) == [(0, 1), (1, 2)] and runs[1].kind is None


def test_a_different_email_starts_a_new_run() -> None:
    runs = partition(
        [
            identify({"email": "a@x.com"}),
            identify({"plan": "pro"}),
            identify({"email": "a@x.com"}),
            identify({"email": "b@x.com"}),
        ]
    )
    assert spans(runs) == [(0, 3), (3, 4)]
    carts = partition(
        [
            added("p1", context={"traits": {"email": "a@x.com"}}),
            added("p2"),
            added("p3", context={"traits": {"email": "b@x.com"}}),
        ]
    )
    assert spans(carts) == [(0, 2), (2, 3)]


def test_events_of_different_users_never_share_a_run() -> None:
    assert spans(partition([identify({"a": 1}), identify({"a": 2}, userId="user-2")])) == [
        (0, 1),
        (1, 2),
    ]


def test_a_run_stops_at_the_member_cap() -> None:
    runs = partition([identify({"n": n}) for n in range(MAX_MEMBERS * 2 + 1)])
    assert [len(run) for run in runs] == [MAX_MEMBERS, MAX_MEMBERS, 1]
    assert [len(run) for run in partition([added()] * 5, max_members=2)] == [2, 2, 1]


# -- what the merged call is -----------------------------------------------------------


def test_merged_identifies_are_one_post_user_with_the_later_value_winning_per_var() -> None:
    plan = group(
        [
            identify({"plan": "free", "age": 30}),
            identify({"plan": "pro"}),
            identify({"city": "Oslo"}),
        ],
        REMINDING,
    )
    (call,) = plan.calls
    assert call.route == "POST /user"
    assert call.params == {
        "id": "user-1",
        "key": "extid",
        "lists": {"Main": 1},
        "vars": {"plan": "pro", "age": 30, "city": "Oslo"},
    }
    assert plan.riders == (0, 1, 2)


def test_merged_identifies_carry_every_list_the_last_keys_and_the_last_optout() -> None:
    basic = {"Sailthru": {"defaultListName": "A", "optoutValue": "basic"}}
    plan = group(
        [
            identify({"email": "ann@example.com"}, integrations=basic),
            identify({"name": "Ann"}, integrations=basic),
        ]
    )
    (call,) = plan.calls
    assert call.params["keys"] == {"email": "ann@example.com"}
    assert call.params["lists"] == {"A": 1}
    assert call.params["optout_email"] == "basic"
    assert plan.remember == (RememberEmail("user-1", "ann@example.com"),)


def test_merged_lists_and_keys_combine_per_entry() -> None:
    first = Deliver(
        (
            Call(
                "POST",
                "/user",
                {"id": "u", "key": "extid", "lists": {"A": 1}, "keys": {"email": "a@x.com"}},
            ),
        )
    )
    second = Deliver(
        (
            Call(
                "POST",
                "/user",
                {"id": "u", "key": "extid", "lists": {"B": 1}, "optout_email": "all"},
            ),
        )
    )
    merged = merge_profiles([first, second])
    assert not isinstance(merged, Unmergeable)
    assert merged[0].params == {
        "id": "u",
        "key": "extid",
        "lists": {"A": 1, "B": 1},
        "keys": {"email": "a@x.com"},
        "optout_email": "all",
    }


def test_merged_cart_changes_post_the_final_cart_once_with_the_last_reminder() -> None:
    plan = group([added("p1"), added("p2", 2), added("p1"), removed("p2")], REMINDING)
    (call,) = plan.calls
    assert call.route == "POST /purchase"
    assert call.params["incomplete"] == 1
    assert [(item["id"], item["qty"]) for item in call.params["items"]] == [("p1", 2), ("p2", 1)]
    assert call.params["reminder_template"] == "cart-reminder"
    assert call.params["reminder_time"] == "+60 minutes"
    assert plan.remember[-1] == RememberCart("user-1", tuple(call.params["items"]))


def test_a_cart_emptied_by_the_last_member_is_posted_empty_without_a_reminder() -> None:
    plan = group([added("p1"), removed("p1")], REMINDING)
    assert plan.calls[0].params["items"] == []
    assert "reminder_template" not in plan.calls[0].params


def test_the_cart_is_looked_up_once_for_the_group() -> None:
    events = [added("p1"), added("p2"), removed("p1")]
    first = plan_group(members(*events), Kind.CART, NO_SETTINGS, Facts())
    assert first == Lookup(CartLookup("user-1"))
    answered = plan_group(
        members(*events), Kind.CART, NO_SETTINGS, Facts(email="ann@example.com", cart=())
    )
    assert isinstance(answered, GroupPlan)
    assert [item["id"] for item in answered.calls[0].params["items"]] == ["p2"]


def test_an_email_one_member_brings_serves_the_later_members() -> None:
    events = [added("p1", context={"traits": {"email": "ann@example.com"}}), added("p2")]
    plan = plan_group(members(*events), Kind.CART, NO_SETTINGS, Facts(cart=()))
    assert isinstance(plan, GroupPlan)
    assert plan.calls[0].params["email"] == "ann@example.com"


def test_a_member_that_would_be_skipped_or_failed_keeps_its_verdict() -> None:
    plan = group([removed("p9"), added("p1"), removed("p7")], facts=KNOWN)
    assert isinstance(plan.members[0], Fail)  # empty cart: nothing to remove
    assert isinstance(plan.members[1], Deliver)
    assert isinstance(plan.members[2], Skip)  # not in the cart
    assert plan.riders == (1,)
    assert [item["id"] for item in plan.calls[0].params["items"]] == ["p1"]


def test_a_group_where_no_member_delivers_makes_no_call() -> None:
    plan = group(
        [
            identify({"a": 1}, integrations={"Sailthru": False}),
            identify({"b": 1}, integrations={"Sailthru": False}),
        ]
    )
    assert plan.calls == () and plan.riders == ()
    assert all(isinstance(member, Skip) for member in plan.members)


def test_a_merged_call_over_the_size_cap_is_unmergeable() -> None:
    big = "x" * (MAX_PARAMS_BYTES // 8)
    events = [identify({f"v{n}": big}) for n in range(10)]
    result = plan_group(members(*events), Kind.PROFILE, NO_SETTINGS, KNOWN)
    assert isinstance(result, Unmergeable) and "bytes" in result.reason


def test_a_plan_of_another_shape_is_unmergeable() -> None:
    merging = identify({"a": 1}, anonymousId="anon-1")
    result = plan_group(
        members(merging),
        Kind.PROFILE,
        NO_SETTINGS,
        dataclasses.replace(KNOWN, anonymous_profile=ProfileState.EXISTS),
    )
    assert isinstance(result, Unmergeable) and "keysconflict" in result.reason


def test_cart_posts_under_different_emails_are_unmergeable() -> None:
    events = [
        added("p1", context={"traits": {"email": "a@x.com"}}),
        added("p2", context={"traits": {"email": "b@x.com"}}),
    ]
    result = plan_group(members(*events), Kind.CART, NO_SETTINGS, KNOWN)
    assert isinstance(result, Unmergeable)


# -- the partition covers every event, in order --------------------------------------

USERS = ("user-1", "user-2")


@st.composite
def any_event(draw: st.DrawFn) -> Event:
    user = draw(st.sampled_from(USERS))
    kind = draw(
        st.sampled_from(["identify", "added", "removed", "order", "custom", "merge", "override"])
    )
    product = draw(st.sampled_from(["p1", "p2", "p3"]))
    quantity = draw(st.integers(1, 3))
    # Each user's own addresses: users' lines are independent, as the store keeps them.
    letter = draw(st.sampled_from([None, None, "a", "b"]))
    email = f"{letter}@{user}.example" if letter else None
    context = {"traits": {"email": email}} if email else {}
    match kind:
        case "identify":
            traits: dict[str, Any] = {draw(st.sampled_from("abc")): draw(st.integers(0, 9))}
            if email:
                traits["email"] = email
            return identify(traits, userId=user)
        case "added":
            return added(product, quantity, userId=user, context=context)
        case "removed":
            return removed(product, quantity, userId=user, context=context)
        case "order":
            return track(
                "Order Completed",
                {"products": [{"product_id": product, "url": "https://u", "price": 1}]},
                userId=user,
                context=context,
            )
        case "custom":
            return track("Viewed Thing", {"n": quantity}, userId=user)
        case "merge":
            return identify({"m": quantity}, userId=user, anonymousId=f"anon-{user}")
        case _:
            return identify(
                {"o": quantity}, userId=user, integrations={"Sailthru": {"defaultListName": "VIP"}}
            )


@given(st.lists(any_event(), max_size=30), st.integers(1, 6))
def test_every_event_is_in_exactly_one_run_in_order(events: list[Event], cap: int) -> None:
    runs = partition(events, max_members=cap)
    assert [i for run in runs for i in range(run.start, run.stop)] == list(range(len(events)))
    for run in runs:
        assert 1 <= len(run) <= cap
        if len(run) > 1:
            kinds = {merge_kind(events[i]) for i in range(run.start, run.stop)}
            assert kinds == {run.kind}
            assert len({events[i].user_key for i in range(run.start, run.stop)}) == 1


# -- the same final state as one call per event -----------------------------------------


class Sailthru:
    """The sandbox's account model, with sailbridge's memory beside it, driven as the
    executor drives them: memory first, then GET /user; memory updated after the call
    succeeded. Sailthru's refusals end the event (or group) as failed."""

    def __init__(self) -> None:
        self.account = Account(
            clock=lambda: 1000.0, new_sid=iter(f"{n:024x}" for n in range(10_000)).__next__
        )
        self.emails: dict[str, str] = {}
        self.carts: dict[str, tuple[dict[str, Any], ...]] = {}
        self.merges: set[tuple[str, str]] = set()
        self.calls = 0

    def answer(self, request: LookupRequest, facts: Facts) -> Facts:
        match request:
            case EmailLookup(user):
                return dataclasses.replace(
                    facts, email=self.emails.get(user) or self._get(user).get("email")
                )
            case CartLookup(user):
                email = (
                    facts.email
                    if facts.email is not UNKNOWN
                    else (self.emails.get(user) or self._get(user).get("email"))
                )
                cart = self.carts.get(user)
                if cart is None:
                    cart = cart_from_sailthru(self._get(user).get("cart"))
                return dataclasses.replace(facts, email=email, cart=cart)
            case ProfileLookup(anonymous, user):
                if (anonymous, user) in self.merges:
                    state = ProfileState.ALREADY_MERGED
                elif self.account.find("extid", anonymous) is not None:
                    state = ProfileState.EXISTS
                else:
                    state = ProfileState.ABSENT
                return dataclasses.replace(facts, anonymous_profile=state)
        raise AssertionError(request)

    def _get(self, user: str) -> dict[str, Any]:
        profile = self.account.find("extid", user)
        if profile is None:
            return {}
        answer = profile.requested_fields({"keys": 1, "purchase_incomplete": 1}, 1000.0)
        return {"email": answer["keys"].get("email"), "cart": answer["purchase_incomplete"]}

    def send(self, calls: Sequence[Call], remember: Sequence[MemoryUpdate]) -> bool:
        for call in calls:
            self.calls += 1
            try:
                if call.endpoint == "/user":
                    self.account.post_user(call.params)
                elif call.endpoint == "/purchase":
                    self.account.post_purchase(call.params, frozenset({"cart-reminder"}))
                else:
                    self.account.post_event(call.params)
            except ApiError:
                return False
        for update in remember:
            if isinstance(update, RememberEmail):
                self.emails[update.user_key] = update.email
            elif isinstance(update, RememberCart):
                self.carts[update.user_id] = update.items
            elif isinstance(update, RememberMerge):
                self.merges.add((update.anonymous_id, update.user_id))
        return True

    def state(self) -> list[dict[str, Any]]:
        return sorted(
            (
                {
                    "extid": p.extid,
                    "email": p.email,
                    "vars": p.vars,
                    "lists": sorted(p.lists),
                    "optout": p.optout_email,
                    "cart": p.cart.get_shape() if p.cart else None,
                    "purchases": [x.get_shape() for x in p.purchases],
                    "events": p.events,
                }
                for p in self.account.profiles()
            ),
            key=lambda profile: (str(profile["extid"]), str(profile["email"])),
        )


def one_by_one(sailthru: Sailthru, events: Sequence[Event], options: MappingOptions) -> None:
    for subject in events:
        facts = Facts()
        plan: Plan = plan_event(subject, options, facts)
        while isinstance(plan, Lookup):
            facts = sailthru.answer(plan.request, facts)
            plan = plan_event(subject, options, facts)
        if isinstance(plan, Deliver):
            sailthru.send(plan.calls, plan.remember)


def coalesced(sailthru: Sailthru, events: Sequence[Event], options: MappingOptions) -> None:
    for run in partition(events):
        line = events[run.start : run.stop]
        if run.kind is None or len(line) == 1:
            one_by_one(sailthru, line, options)
            continue
        facts = Facts()
        result = plan_group(members(*line), run.kind, options, facts)
        while isinstance(result, Lookup):
            facts = sailthru.answer(result.request, facts)
            result = plan_group(members(*line), run.kind, options, facts)
        if isinstance(result, Unmergeable) or not sailthru.send(result.calls, result.remember):
            # The worker's fallback: one call per event, so a refusal lands on its event.
            one_by_one(sailthru, line, options)


def line_of(events: Sequence[Event], user: str) -> list[Event]:
    return [each for each in events if each.user_key == user]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(any_event(), max_size=25),
    st.sampled_from([NO_SETTINGS, REMINDING, MappingOptions(optout_value="basic")]),
)
def test_merged_delivery_leaves_the_same_state_as_one_call_per_event(
    events: list[Event], options: MappingOptions
) -> None:
    alone, merged = Sailthru(), Sailthru()
    one_by_one(alone, events, options)
    # The store hands out one user's line at a time; users' lines are independent.
    for user in USERS:
        coalesced(merged, line_of(events, user), options)
    assert merged.state() == alone.state()
    assert merged.emails == alone.emails
    assert merged.carts == alone.carts


def test_a_browsing_session_costs_a_few_calls_instead_of_one_per_event() -> None:
    session = [
        identify({"email": "ann@example.com"}),
        identify({"plan": "pro"}),
        added("p1"),
        added("p2"),
        added("p1"),
        removed("p2"),
        added("p3"),
        identify({"city": "Oslo"}),
        identify({"age": 40}),
    ]
    alone, merged = Sailthru(), Sailthru()
    one_by_one(alone, session, REMINDING)
    coalesced(merged, session, REMINDING)
    assert merged.state() == alone.state()
    assert (alone.calls, merged.calls) == (9, 3)
