"""SPEC §4 Order Completed → POST /purchase with incomplete: 0."""

from __future__ import annotations

from typing import Any

import pytest

from sailbridge.events import Event
from sailbridge.mapping.plan import (
    Deliver,
    EmailLookup,
    Facts,
    Fail,
    Lookup,
    RememberCart,
    RememberEmail,
)
from sailbridge.sailthru.calls import Call

from .builders import event, only_call, params, plan, track

PRODUCT: dict[str, Any] = {
    "product_id": "p1",
    "name": "Monopoly",
    "price": 18.99,
    "url": "https://shop/p1",
}
ITEM = {"id": "p1", "title": "Monopoly", "qty": 1, "price": 1899, "url": "https://shop/p1"}


def order(properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    return track("Order Completed", {"products": [PRODUCT], **(properties or {})}, **fields)


def test_order_completed_posts_a_complete_purchase() -> None:
    result = plan(order({"email": "a@example.com"}))
    assert only_call(result) == Call(
        "POST", "/purchase", {"email": "a@example.com", "items": [ITEM], "incomplete": 0}
    )


def test_order_email_comes_from_context_traits_first() -> None:
    placed = order({"email": "props@example.com"}, context={"traits": {"email": "ctx@example.com"}})
    assert params(plan(placed))["email"] == "ctx@example.com"


def test_order_email_comes_from_properties_when_context_has_none() -> None:
    assert params(plan(order({"email": "props@example.com"})))["email"] == "props@example.com"


def test_order_email_comes_from_the_known_facts_when_the_event_has_none() -> None:
    result = plan(order(), facts=Facts(email="known@example.com"))
    assert params(result)["email"] == "known@example.com"


def test_order_without_an_email_looks_it_up_by_user_key() -> None:
    assert plan(order(userId="u1")) == Lookup(EmailLookup("u1"))


def test_order_of_an_anonymous_visitor_looks_up_by_anonymous_id() -> None:
    anonymous = event(
        "track", event="Order Completed", anonymousId="anon-1", properties={"products": [PRODUCT]}
    )
    assert plan(anonymous) == Lookup(EmailLookup("anon-1"))


def test_order_with_an_email_in_the_event_needs_no_lookup() -> None:
    assert isinstance(plan(order({"email": "a@example.com"})), Deliver)


def test_order_with_no_email_anywhere_fails_asking_to_identify_the_user_first() -> None:
    result = plan(order(userId="u1"), facts=Facts(email=None))
    assert isinstance(result, Fail)
    assert "no email is known for user 'u1'" in result.reason
    assert "identify the user with traits.email first" in result.reason
    assert "context.traits.email" in result.reason


def test_order_remembers_the_email_it_found_in_the_event_and_clears_the_cart() -> None:
    result = plan(order({"email": "a@example.com"}, userId="u1"))
    assert isinstance(result, Deliver)
    assert result.remember == (RememberCart("u1", ()), RememberEmail("u1", "a@example.com"))


def test_order_does_not_re_remember_an_email_it_already_knew() -> None:
    result = plan(order(userId="u1"), facts=Facts(email="known@example.com"))
    assert isinstance(result, Deliver)
    assert result.remember == (RememberCart("u1", ()),)


@pytest.mark.parametrize("products", [None, [], "p1", {"product_id": "p1"}])
def test_order_without_products_fails_because_sailthru_rejects_empty_purchases(
    products: Any,
) -> None:
    result = plan(track("Order Completed", {"email": "a@example.com", "products": products}))
    assert result == Fail(
        "Order Completed has no products; Sailthru rejects a purchase with no items"
    )


def test_a_product_that_is_not_an_object_fails_naming_its_position() -> None:
    result = plan(track("Order Completed", {"email": "a@example.com", "products": [PRODUCT, "p2"]}))
    assert result == Fail("products[1] must be an object, got str")


def test_a_bad_product_fails_before_any_email_lookup() -> None:
    result = plan(track("Order Completed", {"products": [{"product_id": "p1"}]}))
    assert isinstance(result, Fail)


def test_order_sends_one_item_per_product_in_order() -> None:
    second = {**PRODUCT, "product_id": "p2", "quantity": 2}
    result = plan(order({"email": "a@example.com", "products": [PRODUCT, second]}))
    assert [(i["id"], i["qty"]) for i in params(result)["items"]] == [("p1", 1), ("p2", 2)]


def test_order_adjustments_are_sent_as_given() -> None:
    given = [{"title": "Gift wrap", "price": 500}]
    sent = params(plan(order({"email": "a@example.com", "adjustments": given})))
    assert sent["adjustments"] == given
    assert "vars" not in sent


def test_order_adjustments_are_built_from_shipping_tax_and_discount_in_cents() -> None:
    sent = params(
        plan(order({"email": "a@example.com", "shipping": 4.5, "tax": "1.99", "discount": 2}))
    )
    assert sent["adjustments"] == [
        {"title": "Shipping", "price": 450},
        {"title": "Tax", "price": 199},
        {"title": "Discount", "price": -200},
    ]


def test_a_discount_already_negative_stays_negative() -> None:
    sent = params(plan(order({"email": "a@example.com", "discount": -2})))
    assert sent["adjustments"] == [{"title": "Discount", "price": -200}]


def test_zero_adjustments_are_left_out() -> None:
    sent = params(plan(order({"email": "a@example.com", "shipping": 0, "tax": 0.001})))
    assert "adjustments" not in sent


def test_given_adjustments_win_over_shipping_tax_and_discount() -> None:
    given = [{"title": "Fee", "price": 100}]
    sent = params(plan(order({"email": "a@example.com", "adjustments": given, "shipping": 5})))
    assert sent["adjustments"] == given


def test_adjustments_that_are_not_a_list_fail() -> None:
    result = plan(order({"email": "a@example.com", "adjustments": {"title": "Fee"}}))
    assert isinstance(result, Fail) and "adjustments must be a list" in result.reason


def test_a_non_numeric_shipping_amount_fails_naming_it() -> None:
    result = plan(order({"email": "a@example.com", "shipping": "free"}))
    assert result == Fail("shipping must be a number, got 'free'")


def test_order_date_is_the_event_timestamp() -> None:
    placed = order({"email": "a@example.com"}, timestamp="2024-05-01T10:00:00.000Z")
    assert params(plan(placed))["date"] == "2024-05-01T10:00:00.000Z"


def test_order_without_a_timestamp_sends_no_date() -> None:
    assert "date" not in params(plan(order({"email": "a@example.com"})))


@pytest.mark.parametrize(("order_id", "extid"), [("ord-1", "ord-1"), (1001, "1001")])
def test_order_id_becomes_the_purchase_extid_key(order_id: Any, extid: str) -> None:
    sent = params(plan(order({"email": "a@example.com", "order_id": order_id})))
    assert sent["purchase_keys"] == {"extid": extid}


def test_order_without_an_order_id_sends_no_purchase_keys() -> None:
    assert "purchase_keys" not in params(plan(order({"email": "a@example.com"})))


def test_order_vars_are_the_other_order_properties_flattened() -> None:
    properties = {
        "email": "a@example.com",
        "order_id": "ord-1",
        "total": 27.5,
        "currency": "USD",
        "shipping": 3,
        "meta": {"channel": "web"},
        "adjustments": [],
    }
    assert params(plan(order(properties)))["vars"] == {
        "order_id": "ord-1",
        "total": 27.5,
        "currency": "USD",
        "shipping": 3,
        "meta_channel": "web",
    }
