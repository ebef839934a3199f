"""SPEC §2: per-event overrides from integrations.Sailthru, in either spelling."""

from __future__ import annotations

import pytest

from sailbridge.mapping import ignored_overrides
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Facts, Fail

from .builders import event, identify, params, plan, track

CART_KNOWN = Facts(email="a@example.com", cart=())
ADDED = {"product_id": "p1", "price": 1, "url": "https://shop/p1"}


@pytest.mark.parametrize("spelling", ["defaultListName", "default_list_name"])
def test_list_override_is_read_in_camel_and_snake_case(spelling: str) -> None:
    result = plan(identify(integrations={"Sailthru": {spelling: "VIP"}}))
    assert params(result)["lists"] == {"VIP": 1}


@pytest.mark.parametrize("spelling", ["optoutValue", "optout_value"])
def test_optout_override_is_read_in_camel_and_snake_case(spelling: str) -> None:
    result = plan(identify(integrations={"Sailthru": {spelling: "blast"}}))
    assert params(result)["optout_email"] == "blast"


@pytest.mark.parametrize(
    ("template_key", "time_key"),
    [("reminder_template", "reminder_time"), ("reminderTemplate", "reminderTime")],
)
def test_reminder_overrides_are_read_in_snake_and_camel_case(
    template_key: str, time_key: str
) -> None:
    overrides = {"Sailthru": {template_key: "abandoned cart", time_key: "20 minutes"}}
    sent = params(plan(track("Product Added", ADDED, integrations=overrides), facts=CART_KNOWN))
    assert (sent["reminder_template"], sent["reminder_time"]) == ("abandoned cart", "+20 minutes")


def test_the_documented_spelling_wins_when_both_are_given() -> None:
    both = {"Sailthru": {"default_list_name": "Snake", "defaultListName": "Camel"}}
    assert params(plan(identify(integrations=both)))["lists"] == {"Camel": 1}


def test_a_blank_override_falls_back_to_the_setting() -> None:
    blank = {"Sailthru": {"defaultListName": "  "}}
    result = plan(identify(integrations=blank), MappingOptions(default_list_name="Everyone"))
    assert params(result)["lists"] == {"Everyone": 1}


def test_override_values_are_trimmed() -> None:
    padded = {"Sailthru": {"defaultListName": " VIP "}}
    assert params(plan(identify(integrations=padded)))["lists"] == {"VIP": 1}


def test_a_non_string_override_fails_naming_the_field() -> None:
    result = plan(identify(integrations={"Sailthru": {"defaultListName": 42}}))
    assert result == Fail("integrations.Sailthru.defaultListName must be a string, got int")


def test_sailthru_true_carries_no_overrides() -> None:
    result = plan(identify(integrations={"Sailthru": True}))
    assert "lists" not in params(result)


@pytest.mark.parametrize("spelling", ["optoutValue", "optout_value", "optout_email"])
def test_optout_override_is_read_in_each_spelling(spelling: str) -> None:
    result = plan(identify(integrations={"Sailthru": {spelling: "Basic"}}))
    assert params(result)["optout_email"] == "basic"


def test_an_invalid_optout_email_override_fails_the_identify() -> None:
    result = plan(identify(integrations={"Sailthru": {"optout_email": "sometimes"}}))
    assert isinstance(result, Fail)
    assert "'sometimes'" in result.reason and "none, basic, blast, all" in result.reason


@pytest.mark.parametrize("spelling", ["optoutValue", "optout_email"])
def test_an_optout_override_on_a_track_is_not_sent(spelling: str) -> None:
    result = plan(track("Signed Up", {}, integrations={"Sailthru": {spelling: "all"}}))
    assert "optout_email" not in params(result)


@pytest.mark.parametrize("spelling", ["optoutValue", "optout_email"])
def test_an_optout_override_on_a_track_is_warned_about(spelling: str) -> None:
    warned = ignored_overrides(track("Signed Up", {}, integrations={"Sailthru": {spelling: "all"}}))
    assert warned == (
        (f"integrations.Sailthru.{spelling} is ignored on this event: only identify events use it"),
    )


def test_an_optout_override_on_identify_is_not_warned_about() -> None:
    assert ignored_overrides(identify(integrations={"Sailthru": {"optoutValue": "all"}})) == ()


def test_reminder_overrides_are_warned_about_outside_cart_events() -> None:
    warned = ignored_overrides(identify(integrations={"Sailthru": {"reminder_time": "1 hour"}}))
    assert warned == (
        (
            "integrations.Sailthru.reminder_time is ignored on this event: only "
            "Product Added and Product Removed events use it"
        ),
    )


def test_reminder_overrides_on_cart_events_are_not_warned_about() -> None:
    added = track("product_added", ADDED, integrations={"Sailthru": {"reminderTime": "1 hour"}})
    assert ignored_overrides(added) == ()


def test_a_list_override_on_a_page_is_warned_about() -> None:
    page = event("page", userId="u", integrations={"Sailthru": {"defaultListName": "VIP"}})
    assert ignored_overrides(page) == (
        (
            "integrations.Sailthru.defaultListName is ignored on "
            "this event: only identify events use it"
        ),
    )


def test_no_overrides_no_warnings() -> None:
    assert ignored_overrides(track("Signed Up", {})) == ()
