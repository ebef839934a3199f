"""The one story every client tells sailbridge, and what the sandbox must hold after it.

Each client test replays ``scenario_calls()`` through a real SDK — every call type the
client has — and then checks the sandbox with ``assert_sandbox_holds``. The calls are
plain Segment-spec messages (camelCase, JSON-serialisable) so the same list can be
handed to a Node script or a web page; each driver turns them into its SDK's own calls.

The story: an anonymous visitor with a plan trait looks at pricing, identifies with an
email (merging the anonymous profile), plays a game, fills a cart (adds, removes),
views a page and an app screen, completes an order (the cart becomes the purchase),
starts a new cart, joins a group and is finally aliased to a new user id.
"""

from __future__ import annotations

from typing import Any

from sailbridge.sandbox.server import SandboxHandle

from ..service.process import ServeProcess

ANONYMOUS_ID = "anon-1"
USER_ID = "user-1"
NEW_USER_ID = "user-1-new"
EMAIL = "ada@example.com"

Call = dict[str, Any]

# serve's settings for the story: screens become pageviews, identifies join a list.
SCENARIO_SETTINGS = {
    "SAILBRIDGE_TRACK_SCREENS_AS_PAGEVIEWS": "true",
    "SAILBRIDGE_DEFAULT_LIST_NAME": "Everyone",
}


def scenario_calls(*, screen: bool = True) -> list[Call]:
    """Every call type, in order; ``screen=False`` for clients without ``screen``."""
    user = {"userId": USER_ID, "anonymousId": ANONYMOUS_ID}
    calls: list[Call] = [
        {"type": "identify", "anonymousId": ANONYMOUS_ID, "traits": {"plan": "free"}},
        {
            "type": "track",
            "anonymousId": ANONYMOUS_ID,
            "event": "Viewed Pricing",
            "properties": {"tier": "pro"},
        },
        {
            "type": "identify",
            **user,
            "traits": {"email": EMAIL, "name": "Ada", "address": {"city": "Oslo"}},
        },
        {
            "type": "track",
            **user,
            "event": "Played Game",
            "properties": {"levels": [1, 2], "arcade": {"galaxy": "M31"}},
        },
        {
            "type": "track",
            **user,
            "event": "Product Added",
            "properties": {
                "product_id": "mug",
                "name": "Mug",
                "price": 9.5,
                "quantity": 2,
                "url": "https://shop.example/mug",
            },
        },
        {
            "type": "track",
            **user,
            "event": "Product Added",
            "properties": {
                "product_id": "hat",
                "name": "Hat",
                "price": 15,
                "url": "https://shop.example/hat",
            },
        },
        {"type": "track", **user, "event": "Product Removed", "properties": {"product_id": "mug"}},
        {
            "type": "page",
            **user,
            "name": "Home",
            "properties": {"url": "https://shop.example/", "keywords": ["home", "shop"]},
        },
    ]
    if screen:
        calls.append(
            {"type": "screen", **user, "name": "Cart", "properties": {"url": "app://cart"}}
        )
    calls += [
        {
            "type": "track",
            **user,
            "event": "Order Completed",
            "properties": {
                "order_id": "order-1",
                "tax": 1.2,
                "currency": "EUR",
                "products": [
                    {
                        "product_id": "hat",
                        "name": "Hat",
                        "price": 15,
                        "url": "https://shop.example/hat",
                    },
                    {
                        "product_id": "mug",
                        "name": "Mug",
                        "price": 9.5,
                        "quantity": 1,
                        "url": "https://shop.example/mug",
                    },
                ],
            },
        },
        {
            "type": "track",
            **user,
            "event": "Product Added",
            "properties": {
                "product_id": "scarf",
                "name": "Scarf",
                "price": 24.99,
                "url": "https://shop.example/scarf",
            },
        },
        {"type": "group", **user, "groupId": "acme", "traits": {"name": "Acme"}},
        {"type": "alias", "userId": NEW_USER_ID, "previousId": USER_ID},
    ]
    return calls


def expected_outcomes(calls: list[Call]) -> tuple[int, int, int]:
    """(delivered, skipped, dead) once the calls settle: groups are skipped by design."""
    skipped = sum(1 for call in calls if call["type"] == "group")
    return len(calls) - skipped, skipped, 0


def assert_sandbox_holds(sandbox: SandboxHandle, calls: list[Call]) -> None:
    """The sandbox holds exactly what Segment's Sailthru destination makes of the story."""
    assert sandbox.user(ANONYMOUS_ID) is None, "the anonymous profile was not merged"
    profile = sandbox.user(NEW_USER_ID)
    assert profile is not None, "no profile under the aliased user id"
    assert profile["keys"]["email"] == EMAIL
    assert profile["vars"] == {
        "plan": "free",
        "email": EMAIL,
        "name": "Ada",
        "address_city": "Oslo",
    }
    assert "Everyone" in profile["lists"]

    assert [event["event"] for event in profile["events"]] == ["Viewed Pricing", "Played Game"]
    assert profile["events"][0]["vars"] == {"tier": "pro"}
    assert profile["events"][1]["vars"] == {"levels_0": 1, "levels_1": 2, "arcade_galaxy": "M31"}

    [purchase] = profile["purchases"]
    assert [(item["id"], item["qty"], item["price"]) for item in purchase["items"]] == [
        ("hat", 1, 1500),
        ("mug", 1, 950),
    ]
    assert purchase["adjustments"] == [{"title": "Tax", "price": 120}]

    cart = profile["cart"]
    assert cart is not None, "the cart started after the order is missing"
    assert [(item["id"], item["qty"], item["price"]) for item in cart["items"]] == [
        ("scarf", 1, 2499)
    ]

    screens = ["app://cart"] if any(call["type"] == "screen" for call in calls) else []
    assert [view["url"] for view in profile["pageviews"]] == ["https://shop.example/", *screens]


def assert_story_delivered(
    service: ServeProcess, sandbox: SandboxHandle, calls: list[Call]
) -> None:
    """Every call settled as expected (none rejected, none dead) and the sandbox agrees."""
    delivered, skipped, dead = expected_outcomes(calls)
    status = service.wait_until_settled(len(calls))
    assert (status["delivered"], status["skipped"], status["dead"], status["rejected"]) == (
        delivered,
        skipped,
        dead,
        0,
    ), (status, service.admin("/rejected"), service.admin("/dlq"))
    assert_sandbox_holds(sandbox, calls)
