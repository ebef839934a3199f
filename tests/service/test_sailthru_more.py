"""Issue 21 end to end: Segment's SDK → `sailbridge serve` (each store) → the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe, segment_client

MUG: dict[str, Any] = {"product_id": "mug", "name": "Mug", "price": 12.5, "quantity": 2,
                       "url": "https://shop/mug"}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The store's location: the default SQLite file, or the test PostgreSQL database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return None


def test_a_refund_reaches_sailthru_as_a_return_and_lowers_net_revenue(
        sandbox: SandboxHandle, serve_process: StartServe, database: str | None) -> None:
    service = serve_process(database=database)
    client = segment_client(service.url)
    client.identify("buyer", {"email": "buyer@example.com"})
    client.track("buyer", "Order Completed", {"order_id": "o-1", "products": [MUG]})
    client.track("buyer", "Order Refunded", {"order_id": "o-1", "total": 12.5,
                                             "products": [{**MUG, "quantity": 1}]})
    client.track("buyer", "Order Refunded", {"order_id": "o-1"})
    client.flush()

    status = service.wait_until_settled(4)
    assert (status["delivered"], status["dead"]) == (3, 1)

    profile = sandbox.user("buyer")
    assert profile is not None
    [returned] = profile["returns"]
    assert returned["items"] == [{"id": "mug", "title": "Mug", "qty": 1, "price": 1250,
                                  "url": "https://shop/mug"}]
    assert returned["purchase_keys"] == {"extid": "o-1"}
    assert returned["vars"] == {"order_id": "o-1", "total": 12.5}
    assert profile["net_revenue"] == 2 * 1250 - 1250
    [dead] = service.admin("/dlq")["dead"]
    assert dead["event"] == "Order Refunded" and "needs the returned items" in dead["reason"]


def test_a_cart_older_than_its_expiry_starts_empty(
        sandbox: SandboxHandle, serve_process: StartServe, database: str | None) -> None:
    """The age comes from the cart Sailthru returns (``purchase_incomplete.time``); the
    memory TTL is 0 so every cart event reads it back."""
    service = serve_process(database=database, SAILBRIDGE_CART_MEMORY_TTL="0",
                            SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS="72")
    client = segment_client(service.url)
    sandbox.configure(clock_offset=-30 * 3600)  # these carts were filed 30 hours ago
    for user in ("by-event", "by-setting", "fresh"):
        client.identify(user, {"email": f"{user}@example.com"})
        client.track(user, "Product Added", {**MUG, "product_id": "old"})
    client.flush()
    service.wait_until_settled(6)
    sandbox.configure(clock_offset=0)

    client.track("by-event", "Product Added", {**MUG, "clearIncompleteCartAfterNHours": "24"})
    client.track("fresh", "Product Added", {**MUG, "clearIncompleteCartAfterNHours": 48.7})
    client.flush()
    service.wait_until_settled(8)
    service.stop()  # the same store: only the node with the 12-hour setting may deliver
    with_setting = serve_process(database=database, SAILBRIDGE_CART_MEMORY_TTL="0",
                                 SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS="12")
    setting_client = segment_client(with_setting.url)
    setting_client.track("by-setting", "Product Added", MUG)
    setting_client.flush()
    with_setting.wait_until_settled(9)

    def cart_ids(user: str) -> list[str]:
        profile = sandbox.user(user)
        assert profile is not None and profile["cart"] is not None
        return [item["id"] for item in profile["cart"]["items"]]

    assert cart_ids("by-event") == ["mug"]
    assert cart_ids("fresh") == ["old", "mug"]
    assert cart_ids("by-setting") == ["mug"]


ODD_NAMES = {"1st_visit": "2024-01-01", "utm-source": "ads", "Played Game": "Pong",
             "checkout_shipping_address_postal_code": "N1 9GU"}


def test_var_names_sailthru_refuses_are_renamed_so_the_call_is_taken(
        sandbox: SandboxHandle, serve_process: StartServe, database: str | None) -> None:
    sandbox.configure(var_name_max_length=32)
    as_written = serve_process(database=database, SAILBRIDGE_RENAME_VARS="false")
    client = segment_client(as_written.url)
    client.identify("before", ODD_NAMES)
    client.flush()
    status = as_written.wait_until_settled(1)
    assert status["dead"] == 1  # the refusal before: error 99, every var with it
    [dead] = as_written.admin("/dlq")["dead"]
    assert "Invalid variable name" in dead["reason"]
    assert sandbox.user("before") is None
    as_written.stop()

    renaming = serve_process(database=database, SAILBRIDGE_VAR_NAME_MAX_LENGTH="32")
    client = segment_client(renaming.url)
    client.identify("after", ODD_NAMES)
    client.track("after", "Clicked", {"utm.medium": "cpc", "2": "x"})
    client.flush()
    status = renaming.wait_until_settled(3)
    assert (status["delivered"], status["dead"]) == (2, 1)

    profile = sandbox.user("after")
    assert profile is not None
    postal = [name for name in profile["vars"] if name.startswith("checkout_shipping_address_")]
    assert profile["vars"] == {"var_1st_visit": "2024-01-01", "utmsource": "ads",
                               "Played Game": "Pong", postal[0]: "N1 9GU"}
    assert len(postal[0]) == 32
    assert profile["events"][0]["vars"] == {"utmmedium": "cpc", "var_2": "x"}
