"""SPEC §3: which events reach Sailthru, and how track names are matched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.events import Event
from sailbridge.mapping import normalize_event_name
from sailbridge.mapping.plan import Deliver, Fail, Skip

from .builders import event, identify, only_call, plan, track


def test_integrations_sailthru_false_skips_the_event() -> None:
    result = plan(track("Signed Up", integrations={"Sailthru": False}))
    assert isinstance(result, Skip)
    assert "Sailthru is false" in result.reason


def test_integrations_all_false_skips_the_event() -> None:
    result = plan(track("Signed Up", integrations={"All": False}))
    assert isinstance(result, Skip)
    assert "All is false" in result.reason


def test_all_false_with_sailthru_true_is_delivered() -> None:
    result = plan(track("Signed Up", integrations={"All": False, "Sailthru": True}))
    assert isinstance(result, Deliver)


def test_all_false_with_a_sailthru_options_object_is_delivered() -> None:
    options = {"All": False, "Sailthru": {"defaultListName": "News"}}
    assert isinstance(plan(identify(integrations=options)), Deliver)


def test_all_false_with_an_empty_sailthru_options_object_is_delivered() -> None:
    assert isinstance(
        plan(track("Signed Up", integrations={"All": False, "Sailthru": {}})), Deliver
    )


def test_sailthru_false_wins_over_all_true() -> None:
    assert isinstance(plan(track("Signed Up", integrations={"All": True, "Sailthru": False})), Skip)


def test_other_destinations_turned_off_do_not_matter() -> None:
    assert isinstance(plan(track("Signed Up", integrations={"Mixpanel": False})), Deliver)


def test_a_skipped_event_is_not_checked_for_errors() -> None:
    result = plan(track("send", integrations={"Sailthru": False}))
    assert isinstance(result, Skip)


def test_group_is_skipped_because_sailthru_has_no_groups() -> None:
    result = plan(event("group", userId="user-1", groupId="acme"))
    assert result == Skip("Sailthru has no groups")


@pytest.mark.parametrize(
    "name",
    ["Order Completed", "order_completed", "OrderCompleted", "order-completed", "ORDER COMPLETED"],
)
def test_track_names_match_ignoring_case_spaces_underscores_and_hyphens(name: str) -> None:
    order = track(
        name,
        {"email": "a@example.com", "products": [{"id": "p", "price": 1, "url": "https://s/p"}]},
    )
    assert only_call(plan(order)).endpoint == "/purchase"


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Order Completed", "ordercompleted"),
        ("order_completed", "ordercompleted"),
        ("Order-Completed", "ordercompleted"),
        ("  Product \t Added ", "productadded"),
        ("User_Deleted", "userdeleted"),
    ],
)
def test_normalize_event_name_lowercases_and_drops_separators(name: str, normalised: str) -> None:
    assert normalize_event_name(name) == normalised


@given(st.text(alphabet="abcXYZ _-", max_size=20))
def test_normalised_names_have_no_separators_and_no_capitals(name: str) -> None:
    normalised = normalize_event_name(name)
    assert normalised == normalised.lower()
    assert not set(normalised) & {" ", "_", "-"}
    assert normalize_event_name(normalised) == normalised


def test_user_key_is_the_user_id_when_present() -> None:
    only = only_call(plan(track("Signed Up", userId="u-7", anonymousId="anon-7")))
    assert only.params["id"] == "u-7"


def test_user_key_falls_back_to_the_anonymous_id() -> None:
    anonymous = event("track", anonymousId="anon-7", event="Signed Up")
    assert only_call(plan(anonymous)).params["id"] == "anon-7"


def test_an_event_with_no_user_key_fails() -> None:
    # event_from_dict refuses such events; an Event built by hand can still get here.
    result = plan(Event(type="track", event="Signed Up"))
    assert result == Fail("track needs a userId or an anonymousId")


def test_an_event_of_unknown_type_fails() -> None:
    result = plan(Event(type="merge", user_id="u"))
    assert result == Fail("unknown event type 'merge'")


def test_a_track_without_a_name_fails() -> None:
    assert plan(Event(type="track", user_id="u")) == Fail("track needs an event name")
