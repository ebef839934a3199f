"""Var names Sailthru accepts (issue 21): the renaming is pure, so it is tested exhaustively."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver
from sailbridge.mapping.var_names import (
    MIN_MAX_LENGTH,
    Rename,
    is_valid_var_name,
    rename_vars,
    sailthru_var_name,
)

from .builders import identify, only_call, plan, track

SAILTHRU_RULES = re.compile(r"[A-Za-z_ ][A-Za-z0-9_ ]*")
"""Sailthru's documented rules, written independently of the code under test."""

names = st.text(max_size=60)
caps = st.one_of(st.none(), st.integers(min_value=MIN_MAX_LENGTH, max_value=64))
valid_names = st.from_regex(r"[A-Za-z_ ][A-Za-z0-9_ ]{0,40}", fullmatch=True)


def follows_rules(name: str, cap: int | None) -> bool:
    return SAILTHRU_RULES.fullmatch(name) is not None and (cap is None or len(name) <= cap)


@given(names, caps)
def test_every_name_comes_out_within_the_rules(name: str, cap: int | None) -> None:
    assert follows_rules(sailthru_var_name(name, cap), cap)


@given(valid_names, caps)
def test_names_within_the_rules_are_never_touched(name: str, cap: int | None) -> None:
    if cap is None or len(name) <= cap:
        assert sailthru_var_name(name, cap) == name
        assert rename_vars([name, "other"], cap) == {}


@given(names, caps)
def test_the_rule_is_stable_and_idempotent(name: str, cap: int | None) -> None:
    once = sailthru_var_name(name, cap)
    assert sailthru_var_name(name, cap) == once
    assert sailthru_var_name(once, cap) == once
    assert is_valid_var_name(once, cap)


@given(st.lists(names, unique=True, max_size=30), caps)
def test_names_of_one_call_stay_unique_and_every_var_is_kept(
    given_names: list[str], cap: int | None
) -> None:
    renamed = rename_vars(given_names, cap)
    final = [renamed.get(name, name) for name in given_names]
    assert len(set(final)) == len(given_names)
    assert all(follows_rules(name, cap) for name in final)
    assert all(not follows_rules(old, cap) for old in renamed)
    assert rename_vars(given_names, cap) == renamed  # deterministic


@given(st.text(alphabet="abc_ ", min_size=1, max_size=20))
def test_a_digit_first_name_is_prefixed_and_keeps_its_text(tail: str) -> None:
    assert sailthru_var_name("1" + tail) == "var_1" + tail


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1st_visit", "var_1st_visit"),
        ("2024", "var_2024"),
        ("utm-source", "utmsource"),
        ("price.$", "price"),
        ("50%_off", "var_50_off"),
        ("%$.", "var"),
        ("", "var"),
        ("prénom", "prnom"),
        ("arcade_blips and chitz_planet", "arcade_blips and chitz_planet"),
        ("Played Game", "Played Game"),
    ],
)
def test_documented_examples(name: str, expected: str) -> None:
    assert sailthru_var_name(name) == expected


def test_long_names_are_shortened_readably_and_the_same_in_every_call() -> None:
    long = "checkout_shipping_address_postal_code"
    short = sailthru_var_name(long, 32)
    assert len(short) == 32 and short.startswith("checkout_shipping_address_p_")
    other = "checkout_shipping_address_postal_town"
    assert rename_vars([long, other], 32) == {long: short, other: sailthru_var_name(other, 32)}
    assert sailthru_var_name(other, 32) != short


def test_a_renamed_name_that_meets_a_kept_one_gets_a_number() -> None:
    assert rename_vars(["utmsource", "utm-source", "utm.source"]) == {
        "utm-source": "utmsource_2",
        "utm.source": "utmsource_3",
    }


# --- in the plans -------------------------------------------------------------------


def test_profile_event_purchase_return_and_item_vars_are_all_renamed() -> None:
    product = {"product_id": "p", "price": 1, "url": "https://e/p", "size-eu": 42}
    profile = plan(identify({"1st_visit": "2024", "email": "a@x.io"}))
    assert only_call(profile).params["vars"] == {"var_1st_visit": "2024", "email": "a@x.io"}
    event = plan(track("Clicked", {"utm-source": "ads"}))
    assert only_call(event).params["vars"] == {"utmsource": "ads"}
    for name in ("Order Completed", "Order Refunded"):
        order = plan(track(name, {"email": "a@x.io", "order.ref": 7, "products": [product]}))
        params = only_call(order).params
        assert params["vars"] == {"orderref": 7}
        assert params["items"][0]["vars"] == {"sizeeu": 42}
        assert isinstance(order, Deliver)
        endpoint = only_call(order).endpoint
        assert order.renamed == (
            Rename(f"POST {endpoint} vars", "order.ref", "orderref"),
            Rename(f"POST {endpoint} items[0].vars", "size-eu", "sizeeu"),
        )


def test_the_seed_example_comes_out_exactly() -> None:
    properties: dict[str, Any] = {
        "levels": [1, 2, 3],
        "arcade": {
            "blips and chitz": {"planet": "Parblesnops"},
            "galaxy": {"coordinates": "1232.4832"},
            "games": ["Roy: A life well lived", "Whack a mole"],
        },
    }
    result = plan(track("Played Game", properties, userId="14092348"))
    assert only_call(result).params["vars"] == {
        "levels_0": 1,
        "levels_1": 2,
        "levels_2": 3,
        "arcade_blips and chitz_planet": "Parblesnops",
        "arcade_galaxy_coordinates": "1232.4832",
        "arcade_games_0": "Roy: A life well lived",
        "arcade_games_1": "Whack a mole",
    }
    assert isinstance(result, Deliver) and result.renamed == ()


def test_a_setting_turns_renaming_off_and_another_caps_the_length() -> None:
    off = plan(track("Clicked", {"utm-source": "ads"}), MappingOptions(rename_vars=False))
    assert only_call(off).params["vars"] == {"utm-source": "ads"}
    capped = plan(
        track("Clicked", {"a_rather_long_property_name": 1}), MappingOptions(var_name_max_length=12)
    )
    [name] = only_call(capped).params["vars"]
    assert len(name) == 12 and name.startswith("a_rathe_")
