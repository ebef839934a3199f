"""The console's event tester shows the consent verdict and the filter that skips an
event, as delivery decides them (the same planning step), in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe
from .conftest import log_in

CONFIG = """
consent_categories = "Email"

[[filters]]
name = "no product views"
action = "drop"
when = { event = "Product Viewed" }

[[filters]]
name = "no phone"
action = "drop_fields"
fields = ["traits.phone"]
"""


def test_the_tester_shows_consent_and_filter_verdicts(
    page: Page, sandbox: SandboxHandle, serve_process: StartServe, tmp_path: Path
) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(CONFIG)
    service = serve_process("--config", str(config))
    log_in(page, service)
    page.click("text=Event tester")
    granted = {"consent": {"categoryPreferences": {"Email": True}}}
    events = [
        {
            "type": "identify",
            "userId": "t-1",
            "context": granted,
            "traits": {"email": "t1@example.com", "phone": "+33 6"},
        },
        {"type": "track", "userId": "t-1", "event": "product_viewed", "context": granted},
        {
            "type": "identify",
            "userId": "t-2",
            "context": {"consent": {"categoryPreferences": {"Email": False}}},
        },
    ]
    page.fill("textarea[name=events]", "\n".join(json.dumps(event) for event in events))
    page.click("button[value=explain]")

    cards = page.locator("#explained section.explained")
    expect(cards).to_have_count(3)
    expect(cards.nth(0)).to_contain_text("Consent: consent granted for Email")
    expect(cards.nth(0)).to_contain_text("filter 'no phone' dropped traits.phone")
    expect(cards.nth(0).locator(".call")).not_to_contain_text("+33 6")
    expect(cards.nth(1)).to_contain_text("Skip")
    expect(cards.nth(1).locator(".filter")).to_contain_text("no product views")
    expect(cards.nth(2)).to_contain_text("no consent for category 'Email' (declined)")

    page.click("button[value=send]")
    expect(page.locator(".banner.flash")).to_contain_text("Queued 3 events")
    status = service.wait_until_settled(3)
    assert (status["delivered"], status["skipped"]) == (1, 2)
    assert sandbox.user("t-1") is not None and sandbox.user("t-2") is None
