"""Amounts Sailthru would refuse fail the event before any call, saying what it expects.

A purchase cannot be corrected once posted and Sailthru rejects the whole order for
one bad amount, so these are checked by the pure mapping (SPEC §4, issue 8).
"""

from __future__ import annotations

from typing import Any

import pytest

from sailbridge.mapping.plan import Facts, Fail

from .builders import params, plan, track

PRODUCT: dict[str, Any] = {
    "product_id": "p1",
    "name": "Mug",
    "price": 12.5,
    "url": "https://shop/p1",
}
KNOWN = Facts(email="a@example.com", cart=())


def order(**properties: Any) -> Any:
    return track("Order Completed", {"products": [PRODUCT], "email": "a@example.com", **properties})


def reason(result: object) -> str:
    assert isinstance(result, Fail), result
    text: str = result.reason
    return text


def test_integer_cent_adjustments_are_sent_as_given() -> None:
    given = [{"title": "Shipping", "price": 599}, {"title": "Coupon", "price": -200}]
    assert params(plan(order(adjustments=given)))["adjustments"] == given


def test_an_integral_float_adjustment_price_is_accepted_as_is() -> None:
    given = [{"title": "Shipping", "price": 500.0}]
    assert params(plan(order(adjustments=given)))["adjustments"] == given


def test_an_adjustment_in_dollars_fails_saying_sailthru_wants_integer_cents() -> None:
    text = reason(plan(order(adjustments=[{"title": "Shipping", "price": 5.99}])))
    assert text.startswith("adjustments[0] price 5.99 is not a whole number of cents")
    assert "integer cents (e.g. 599 for 5.99)" in text


def test_the_failing_adjustment_is_named_by_position() -> None:
    given = [{"title": "Shipping", "price": 500}, {"title": "Tax", "price": 1.5}]
    assert reason(plan(order(adjustments=given))).startswith("adjustments[1] price 1.5")


@pytest.mark.parametrize("price", ["599", True, None, [5], {"cents": 5}])
def test_an_adjustment_price_that_is_not_a_number_fails(price: Any) -> None:
    text = reason(plan(order(adjustments=[{"title": "Shipping", "price": price}])))
    assert text == (
        "adjustments[0] price must be a number of cents (an integer, e.g. 599 "
        f"for $5.99), got {price!r}"
    )


@pytest.mark.parametrize("title", [None, "", "  ", 7])
def test_an_adjustment_without_a_title_fails(title: Any) -> None:
    text = reason(plan(order(adjustments=[{"title": title, "price": 100}])))
    assert text == "adjustments[0] needs a title; Sailthru requires one for every adjustment"


@pytest.mark.parametrize("entry", [5, "Shipping", [1, 2], None])
def test_an_adjustment_that_is_not_an_object_fails(entry: Any) -> None:
    text = reason(plan(order(adjustments=[entry])))
    assert text == f"adjustments[0] must be a {{title, price}} object, got {type(entry).__name__}"


def test_a_bad_adjustment_fails_before_the_email_lookup() -> None:
    placed = track(
        "Order Completed", {"products": [PRODUCT], "adjustments": [{"title": "x", "price": 0.5}]}
    )
    assert isinstance(plan(placed), Fail)


def test_built_adjustments_are_still_cents_from_currency_units() -> None:
    assert params(plan(order(shipping=5.99)))["adjustments"] == [
        {"title": "Shipping", "price": 599}
    ]


@pytest.mark.parametrize("price", [-0.01, -5, "-3.50"])
def test_a_negative_order_item_price_fails_naming_the_product(price: Any) -> None:
    result = plan(
        track(
            "Order Completed",
            {"email": "a@example.com", "products": [PRODUCT, {**PRODUCT, "price": price}]},
        )
    )
    assert reason(result) == (
        f"products[1] price {price!r} is negative; Sailthru requires item prices of 0 or "
        "more (send a discount as properties.discount or a negative adjustment)"
    )


def test_a_negative_cart_item_price_fails_before_the_cart_lookup() -> None:
    result = plan(track("Product Added", {**PRODUCT, "price": -1}))
    assert reason(result).startswith("the product price -1 is negative")


def test_a_free_item_is_sent_with_price_zero() -> None:
    result = plan(track("Product Added", {**PRODUCT, "price": 0}), facts=KNOWN)
    assert params(result)["items"][0]["price"] == 0


def test_a_price_that_rounds_to_zero_cents_from_below_is_not_negative() -> None:
    result = plan(track("Product Added", {**PRODUCT, "price": -0.004}), facts=KNOWN)
    assert params(result)["items"][0]["price"] == 0
