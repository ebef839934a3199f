"""SPEC §2: per-event overrides from integrations.Sailthru, in either spelling."""

from __future__ import annotations

import pytest

from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Facts, Fail

from .builders import identify, params, plan, track

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
