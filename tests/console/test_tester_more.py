"""The console's event tester shows issue 21's decisions: renamed vars, returns, warnings."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe
from .conftest import log_in

EVENTS = [
    {
        "type": "identify",
        "userId": "t-1",
        "traits": {"email": "t1@example.com", "1st_visit": "2024"},
    },
    {
        "type": "track",
        "userId": "t-1",
        "event": "Order Refunded",
        "properties": {
            "order_id": "o-1",
            "products": [{"product_id": "p", "price": 3, "url": "https://shop/p"}],
        },
    },
    {
        "type": "track",
        "userId": "t-1",
        "event": "Product Added",
        "properties": {
            "product_id": "p",
            "price": 3,
            "url": "https://shop/p",
            "clearIncompleteCartAfterNHours": "soon",
        },
    },
]


def test_the_tester_shows_renamed_vars_the_return_and_an_ignored_expiry(
    page: Page, sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process()
    log_in(page, service)
    page.goto(service.url + "/console/tester")
    page.fill("textarea[name=events]", "\n".join(json.dumps(event) for event in EVENTS))
    page.click("button[value=explain]")

    cards = page.locator("#explained .card")
    expect(cards.nth(0).locator(".renamed")).to_contain_text("1st_visit")
    expect(cards.nth(0).locator(".renamed")).to_contain_text("var_1st_visit")
    expect(cards.nth(1).locator(".call")).to_contain_text(sandbox.url + "/return")
    expect(cards.nth(2).locator(".warnings")).to_contain_text(
        "clearIncompleteCartAfterNHours is ignored"
    )
