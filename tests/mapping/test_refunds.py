"""Order Refunded → POST /return (issue 21): email as for purchases, items as for orders."""

from __future__ import annotations

from typing import Any

from sailbridge.events import Event
from sailbridge.mapping.plan import Deliver, EmailLookup, Facts, Fail, Lookup, RememberEmail
from sailbridge.mapping.refunds import NO_PRODUCTS
from sailbridge.sailthru.calls import Call

from .builders import only_call, params, plan, track

PRODUCT: dict[str, Any] = {
    "product_id": "p1",
    "name": "Monopoly",
    "price": 18.99,
    "quantity": 2,
    "url": "https://shop/p1",
}
ITEM = {"id": "p1", "title": "Monopoly", "qty": 2, "price": 1899, "url": "https://shop/p1"}


def refund(properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    return track("Order Refunded", {"products": [PRODUCT], **(properties or {})}, **fields)


def test_refund_posts_a_return_with_the_order_id_and_cents_per_item() -> None:
    result = plan(
        refund({"email": "a@example.com", "order_id": "o-9", "total": 37.98, "currency": "USD"})
    )
    assert only_call(result) == Call(
        "POST",
        "/return",
        {
            "email": "a@example.com",
            "items": [ITEM],
            "purchase_keys": {"extid": "o-9"},
            "vars": {"order_id": "o-9", "total": 37.98, "currency": "USD"},
        },
    )


def test_every_spelling_of_the_name_is_a_refund() -> None:
    for name in ("order_refunded", "OrderRefunded", "order refunded"):
        assert (
            only_call(plan(track(name, {"products": [PRODUCT], "email": "a@x.io"}))).endpoint
            == "/return"
        )


def test_item_url_falls_back_to_the_page_url_and_name_to_the_id() -> None:
    bare = {"product_id": 7, "price": "5", "quantity": 1}
    result = plan(
        refund(
            {"products": [bare], "email": "a@x.io"}, context={"page": {"url": "https://shop/page"}}
        )
    )
    assert params(result)["items"] == [
        {"id": "7", "title": "7", "qty": 1, "price": 500, "url": "https://shop/page"}
    ]


def test_refund_email_is_looked_up_as_for_an_order_and_remembered_from_the_event() -> None:
    assert plan(refund(userId="u1")) == Lookup(EmailLookup("u1"))
    known = plan(refund(userId="u1"), facts=Facts(email="known@x.io"))
    assert params(known)["email"] == "known@x.io"
    assert isinstance(known, Deliver) and known.remember == ()
    taught = plan(refund({"email": "own@x.io"}, userId="u1"))
    assert isinstance(taught, Deliver)
    assert taught.remember == (RememberEmail("u1", "own@x.io"),)


def test_a_refund_without_products_fails_with_the_reason() -> None:
    for properties in ({"products": []}, {"products": None}, {"products": "p1"}):
        result = plan(track("Order Refunded", {"order_id": "o1", **properties}))
        assert result == Fail(f"Order Refunded has no products; {NO_PRODUCTS}")


def test_a_refund_fails_before_any_lookup_when_a_product_is_bad() -> None:
    result = plan(refund({"products": [{"product_id": "p1", "price": 3}]}, userId="u1"))
    assert isinstance(result, Fail) and "url" in result.reason


def test_a_refund_with_no_email_anywhere_fails() -> None:
    result = plan(refund(userId="u1"), facts=Facts(email=None))
    assert isinstance(result, Fail) and "no email is known" in result.reason
