"""POST /purchase: carts replaced whole, orders recorded, Sailthru's validation."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle

EMAIL = "ann@example.com"


def cart_of(client: SailthruClient, email: str = EMAIL) -> Any:
    response = client.api_get(
        "user", {"id": email, "key": "email", "fields": {"purchase_incomplete": 1}}
    )
    return response.get_body()["purchase_incomplete"]


def post(client: SailthruClient, **params: Any) -> Any:
    return client.api_post("purchase", {"email": EMAIL, **params})


def test_each_cart_post_replaces_the_whole_cart(client: SailthruClient, item: Any) -> None:
    post(client, incomplete=1, items=[item(id="a"), item(id="b")])
    post(client, incomplete=1, items=[item(id="c", qty=2)])

    cart = cart_of(client)

    assert [(i["id"], i["qty"]) for i in cart["items"]] == [("c", 2)]


def test_empty_items_empties_the_cart(client: SailthruClient, item: Any) -> None:
    post(client, incomplete=1, items=[item()])

    response = post(client, incomplete=1, items=[])

    assert response.is_ok()
    assert cart_of(client) is None


def test_get_returns_cart_items_in_sailthrus_get_shape(client: SailthruClient, item: Any) -> None:
    post(
        client,
        incomplete=1,
        reminder_template="abandoned cart",
        reminder_time="+1 hour",
        items=[
            item(
                qty=2,
                price=1099,
                tags=["blue", "steel"],
                vars={"size": "L"},
                images={
                    "full": {"url": "https://img.example/full.png"},
                    "thumb": {"url": "https://img.example/thumb.png"},
                },
            )
        ],
    )

    cart = cart_of(client)

    assert cart["items"] == [
        {
            "id": "sku-1",
            "title": "Water bottle",
            "qty": 2,
            "price": 1099,
            "url": "https://shop.example/sku-1",
            "tags": ["blue", "steel"],
            "vars": {"size": "L"},
            "images": {
                "full": "https://img.example/full.png",
                "thumb": "https://img.example/thumb.png",
            },
        }
    ]
    assert cart["price"] == 2198
    assert cart["reminder_template"] == "abandoned cart"
    assert cart["reminder_time"] == "+1 hour"


def test_completed_purchase_is_recorded_and_clears_the_cart(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    post(client, incomplete=1, items=[item()])

    response = post(
        client,
        items=[item(qty=3)],
        adjustments=[{"title": "Discount", "price": -500}],
        purchase_keys={"extid": "order-1"},
    )

    assert response.is_ok(), response.get_body()
    assert cart_of(client) is None
    [purchase] = sandbox.state()["profiles"][0]["purchases"]
    assert purchase["purchase_keys"] == {"extid": "order-1"}
    assert purchase["price"] == 3 * 1099 - 500


def test_purchase_for_an_unknown_email_creates_the_profile(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    post(client, items=[item()])

    [profile] = sandbox.state()["profiles"]
    assert profile["keys"]["email"] == EMAIL


@pytest.mark.parametrize("price", [10.99, 1099.0, "1099"])
def test_prices_must_be_integer_cents(
    client: SailthruClient, sandbox: SandboxHandle, item: Any, price: Any
) -> None:
    response = post(client, incomplete=1, items=[item(price=price)])

    assert response.get_status_code() == 400
    assert response.get_body()["error"] == 99
    assert "integer cents" in response.get_body()["errormsg"]
    assert sandbox.state()["profiles"] == []


def test_adjustment_prices_must_be_integer_cents(client: SailthruClient, item: Any) -> None:
    response = post(client, items=[item()], adjustments=[{"title": "Tax", "price": 1.5}])

    assert response.get_body()["error"] == 99


def test_item_url_is_required(client: SailthruClient, item: Any) -> None:
    without_url = item()
    del without_url["url"]

    response = post(client, incomplete=1, items=[without_url])

    assert response.get_body() == {"error": 99, "errormsg": "Item 0 is missing required field: url"}


def test_unknown_reminder_template_is_error_14(client: SailthruClient, item: Any) -> None:
    response = post(
        client, incomplete=1, items=[item()], reminder_template="nope", reminder_time="+20 minutes"
    )

    assert response.get_body() == {"error": 14, "errormsg": "Unknown template: nope"}


def test_configured_templates_are_known(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    sandbox.configure(templates=["cart reminder"])

    response = post(client, incomplete=1, items=[item()], reminder_template="cart reminder")

    assert response.is_ok()


@pytest.mark.parametrize(
    "when", ["20 minutes", "+20 lightyears", "+ minutes", "tomorrow", "+1.5 hours", "2026-13-45"]
)
def test_badly_formed_reminder_time_is_error_18(
    client: SailthruClient, item: Any, when: str
) -> None:
    response = post(
        client, incomplete=1, items=[item()], reminder_template="abandoned cart", reminder_time=when
    )

    assert response.get_body() == {"error": 18, "errormsg": f"Invalid time: {when}"}


@pytest.mark.parametrize(
    "when",
    [
        "+20 minutes",
        "+1 min",
        "+60 mins",
        "+1 hour",
        "+24 hrs",
        "+2 days",
        "+1 week",
        "+2 weeks",
        "+1 month",
    ],
)
def test_relative_reminder_times_are_accepted(client: SailthruClient, item: Any, when: str) -> None:
    response = post(
        client, incomplete=1, items=[item()], reminder_template="abandoned cart", reminder_time=when
    )

    assert response.is_ok(), response.get_body()


@pytest.mark.parametrize("when", ["2026-12-24", "2026-12-24 09:00", "2026-12-24T09:00:00Z"])
def test_absolute_reminder_times_are_accepted(client: SailthruClient, item: Any, when: str) -> None:
    response = post(
        client, incomplete=1, items=[item()], reminder_template="abandoned cart", reminder_time=when
    )

    assert response.is_ok(), response.get_body()


def test_completed_purchase_without_items_is_refused(client: SailthruClient) -> None:
    response = post(client, items=[])

    assert response.get_body() == {"error": 99, "errormsg": "No items in purchase"}


def test_invalid_email_is_error_11(client: SailthruClient, item: Any) -> None:
    response = client.api_post("purchase", {"email": "not-an-email", "items": [item()]})

    assert response.get_body() == {"error": 11, "errormsg": "Invalid email: not-an-email"}


def test_missing_email_is_error_2(client: SailthruClient, item: Any) -> None:
    response = client.api_post("purchase", {"items": [item()]})

    assert response.get_body() == {"error": 2, "errormsg": "Missing required parameter: email"}


def test_quantity_must_be_a_positive_integer(client: SailthruClient, item: Any) -> None:
    response = post(client, incomplete=1, items=[item(qty=0)])

    assert response.get_body()["error"] == 99


def test_post_images_must_be_url_objects(client: SailthruClient, item: Any) -> None:
    response = post(
        client, incomplete=1, items=[item(images={"full": "https://img.example/full.png"})]
    )

    assert response.get_body()["error"] == 99


def test_cart_time_is_the_last_update_in_rfc_2822(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    sandbox.configure(clock_offset=-30 * 3600)
    post(client, incomplete=1, items=[item()])
    sandbox.configure(clock_offset=0)

    stamp = cart_of(client)["time"]

    filed = parsedate_to_datetime(stamp).timestamp()
    assert isinstance(stamp, str) and stamp.endswith("-0000")
    assert 30 * 3600 - 60 < time.time() - filed < 30 * 3600 + 60
