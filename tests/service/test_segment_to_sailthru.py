"""Segment's Python SDK → `sailbridge serve` → the sandbox: every event type, end to end."""

from __future__ import annotations

import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe, segment_client


def test_every_event_type_reaches_sailthru_as_mapped(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process(
        SAILBRIDGE_TRACK_SCREENS_AS_PAGEVIEWS="true", SAILBRIDGE_DEFAULT_LIST_NAME="Everyone"
    )
    client = segment_client(service.url)
    client.identify(anonymous_id="anon-9", traits={"plan": "free"})
    client.track(anonymous_id="anon-9", event="Viewed Pricing", properties={"tier": "pro"})
    client.identify(
        "user-9", {"email": "nine@example.com", "address": {"city": "Oslo"}}, anonymous_id="anon-9"
    )
    client.track("user-9", "Played Game", {"levels": [1, 2], "arcade": {"galaxy": "M31"}})
    client.track(
        "user-9",
        "Product Added",
        {
            "product_id": "mug",
            "name": "Mug",
            "price": 9.5,
            "quantity": 2,
            "url": "https://shop/mug",
        },
    )
    client.track(
        "user-9",
        "Product Added",
        {"product_id": "hat", "name": "Hat", "price": 15, "url": "https://shop/hat"},
    )
    client.track("user-9", "Product Removed", {"product_id": "mug"})
    client.page("user-9", name="Home", properties={"url": "https://shop/", "keywords": ["home"]})
    client.screen("user-9", name="Cart", properties={"url": "app://cart"})
    client.track(
        "user-9",
        "Order Completed",
        {
            "order_id": "order-1",
            "tax": 1.2,
            "products": [
                {"product_id": "hat", "name": "Hat", "price": 15, "url": "https://shop/hat"}
            ],
        },
    )
    client.track("user-9", "Subscribed", {"list": "Weekly"})
    client.group("user-9", "acme", {"name": "Acme"})
    client.alias("user-9", "user-9-new")
    client.identify("leaver", {"email": "leaver@example.com"})
    client.track("leaver", "User Deleted")
    client.track("user-9-new", "purchase")  # reserved by Sailthru: dead, with the reason
    client.flush()

    status = service.wait_until_settled(16)
    assert (status["delivered"], status["skipped"], status["dead"]) == (14, 1, 1)

    profile = sandbox.user("user-9-new")
    assert profile is not None and sandbox.user("anon-9") is None
    assert profile["keys"]["email"] == "nine@example.com"
    assert profile["vars"] == {"plan": "free", "email": "nine@example.com", "address_city": "Oslo"}
    assert {"Everyone", "Weekly"} <= set(profile["lists"])
    assert [e["event"] for e in profile["events"]] == ["Viewed Pricing", "Played Game"]
    assert profile["events"][1]["vars"] == {"levels_0": 1, "levels_1": 2, "arcade_galaxy": "M31"}
    [purchase] = profile["purchases"]
    assert purchase["items"][0]["price"] == 1500
    assert purchase["adjustments"] == [{"title": "Tax", "price": 120}]
    assert [p["url"] for p in profile["pageviews"]] == ["https://shop/", "app://cart"]
    assert profile["cart"] is None
    assert sandbox.user("leaver") is None

    [dead] = service.admin("/dlq")["dead"]
    assert dead["event"] == "purchase" and "reserved" in dead["reason"]

    metrics = requests.get(service.url + "/metrics", timeout=10).text
    assert (
        'sailbridge_jobs_delivered_total{account="default",event_type="identify",'
        'route="POST /user"} 3.0'
    ) in metrics
    assert (
        'sailbridge_jobs_skipped_total{account="default",event_type="group",route="none"} 1.0'
    ) in metrics
    assert (
        'sailbridge_jobs_dead_total{account="default",event_type="track",route="none"} 1.0'
    ) in metrics
    assert (
        'sailbridge_sailthru_request_duration_seconds_count{account="default",'
        'route="POST /purchase"}'
    ) in metrics
    assert 'sailbridge_queue_jobs{state="delivered"} 14.0' in metrics


def test_cart_burst_through_the_service_survives_sailthrus_read_lag(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    sandbox.configure(cart_read_lag=3.0)
    service = serve_process()
    client = segment_client(service.url)
    client.identify("cart-user", {"email": "cart@example.com"})
    for product in ["a", "b", "a", "c"]:
        client.track(
            "cart-user",
            "Product Added",
            {"product_id": product, "price": 1, "url": f"https://shop/{product}"},
        )
    client.track("cart-user", "Product Removed", {"product_id": "c"})
    client.flush()
    service.wait_until_settled(6)
    cart = sandbox.user("cart-user")["cart"]
    assert [(item["id"], item["qty"]) for item in cart["items"]] == [("a", 2), ("b", 1)]
    assert cart["reminder_time"] == "+20 minutes"
