"""clearIncompleteCartAfterNHours (Segment's Sailthru v2): a stale cart starts empty."""

from __future__ import annotations

import math
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.mapping.cart_expiry import (
    EXPIRY_PROPERTY,
    cart_time,
    expiry_hours,
    expiry_warning,
    is_expired,
    parse_expiry_hours,
)
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, Facts, Fail, Item, RememberCart

from .builders import NO_SETTINGS, params, plan, track

HOUR = 3600.0
OLD: Item = {"id": "old", "title": "Old", "qty": 1, "price": 100, "url": "https://shop/old"}
NEW = {"product_id": "new", "name": "New", "price": 2, "url": "https://shop/new"}
EMAIL = "a@example.com"


def added(expiry: Any = None, **properties: Any) -> Any:
    extra = {} if expiry is None else {EXPIRY_PROPERTY: expiry}
    return track("Product Added", {**NEW, **extra, **properties}, userId="u1")


def stale(age_hours: float) -> Facts:
    return Facts(email=EMAIL, cart=(OLD,), cart_age=age_hours * HOUR)


# --- reading the property -----------------------------------------------------------


@given(st.integers(min_value=1, max_value=10**9))
def test_positive_integers_are_hours(hours: int) -> None:
    assert parse_expiry_hours(hours) == hours
    assert parse_expiry_hours(str(hours)) == hours


@given(st.floats(min_value=1.0, max_value=1e9, allow_nan=False))
def test_floats_and_numeric_strings_are_truncated(value: float) -> None:
    assert parse_expiry_hours(value) == math.trunc(value)
    assert parse_expiry_hours(f" {value!r} ") == math.trunc(value)


@given(
    st.one_of(
        st.integers(max_value=0),
        st.floats(max_value=0.999),
        st.floats(allow_nan=True).filter(lambda v: not math.isfinite(v)),
        st.booleans(),
        st.none(),
        st.lists(st.integers()),
        st.text().filter(lambda t: _not_a_number(t)),
    )
)
def test_everything_else_is_refused_with_a_reason(value: Any) -> None:
    problem = parse_expiry_hours(value)
    assert isinstance(problem, str) and problem.startswith("must be")


def _not_a_number(text: str) -> bool:
    try:
        return not math.isfinite(float(text.strip())) or float(text.strip()) < 1
    except ValueError:
        return True


def test_the_event_wins_over_the_setting_and_a_bad_value_falls_back_with_a_warning() -> None:
    default = MappingOptions(clear_cart_after_hours=72)
    assert expiry_hours(added(24), default) == 24
    assert expiry_hours(added(), default) == 72
    assert expiry_hours(added("soon"), default) == 72
    assert expiry_hours(added(0), NO_SETTINGS) is None
    assert expiry_warning(added(24)) is None and expiry_warning(added()) is None
    warning = expiry_warning(added("soon"))
    assert warning is not None and EXPIRY_PROPERTY in warning and "'soon'" in warning


@pytest.mark.parametrize(
    ("age", "hours", "expired"),
    [
        (None, 24, False),
        (25 * HOUR, None, False),
        (24 * HOUR, 24, False),
        (24 * HOUR + 1, 24, True),
        (0.0, 1, False),
    ],
)
def test_a_cart_is_expired_only_when_older_than_the_hours(
    age: float | None, hours: int | None, expired: bool
) -> None:
    assert is_expired(age, hours) is expired


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_sailthrus_rfc_2822_cart_time_is_read_back_exactly(epoch: int) -> None:
    assert cart_time({"time": formatdate(epoch, localtime=False)}) == epoch
    assert cart_time({"time": epoch}) == epoch


@pytest.mark.parametrize(
    "incomplete", [None, {}, {"time": "yesterday"}, {"time": True}, {"time": [1]}, {"items": []}]
)
def test_an_unreadable_cart_time_is_unknown(incomplete: Any) -> None:
    assert cart_time(incomplete) is None


# --- the cart events ----------------------------------------------------------------


def test_product_added_to_a_stale_cart_starts_a_new_cart() -> None:
    result = plan(added(24), facts=stale(30))
    assert [item["id"] for item in params(result)["items"]] == ["new"]
    assert isinstance(result, Deliver)
    assert result.remember[0] == RememberCart("u1", tuple(params(result)["items"]))
    assert result.notes == (
        (
            "the cart read back was last updated 30.0 hours ago, older than "
            f"{EXPIRY_PROPERTY}=24: it starts empty"
        ),
    )


def test_a_fresh_cart_keeps_growing() -> None:
    result = plan(added("48"), facts=stale(30))
    assert [item["id"] for item in params(result)["items"]] == ["old", "new"]
    assert isinstance(result, Deliver) and result.notes == ()


def test_the_setting_applies_to_events_without_the_property() -> None:
    options = MappingOptions(clear_cart_after_hours=12)
    assert [i["id"] for i in params(plan(added(), options, stale(13)))["items"]] == ["new"]
    assert [i["id"] for i in params(plan(added(), options, stale(11)))["items"]] == ["old", "new"]


def test_an_invalid_property_is_ignored_not_failed() -> None:
    result = plan(added(-5), facts=stale(1000))
    assert [item["id"] for item in params(result)["items"]] == ["old", "new"]


def test_the_property_never_becomes_an_item_var() -> None:
    assert "vars" not in params(plan(added(24), facts=stale(1)))["items"][1]


def test_product_removed_from_a_stale_cart_clears_it() -> None:
    removed = track("Product Removed", {"product_id": "old", EXPIRY_PROPERTY: 1}, userId="u1")
    result = plan(removed, facts=stale(2))
    assert params(result)["items"] == []
    assert isinstance(result, Deliver) and result.notes


def test_product_removed_from_an_empty_cart_still_has_nothing_to_remove() -> None:
    removed = track("Product Removed", {"product_id": "old", EXPIRY_PROPERTY: 1}, userId="u1")
    result = plan(removed, facts=Facts(email=EMAIL, cart=(), cart_age=5 * HOUR))
    assert isinstance(result, Fail) and "Nothing to remove" in result.reason
