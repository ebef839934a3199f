"""Take the screenshots in docs/console/ of a real console: ``python docs/console/screenshots.py``.

Starts the sandbox Sailthru and ``sailbridge serve`` (as ``sailbridge demo`` does),
sends the demo's events plus a few that go dead or retry, then photographs each page
with Debian's Chromium through Playwright. Needs ``/usr/bin/chromium`` and the test
extra (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

from sailbridge.demo import demo_events
from sailbridge.sailthru.signing import signed_params
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import running_sandbox
from sailbridge.service import running_service
from sailbridge.settings import load_settings
from sailbridge.store.factory import open_store

HERE = Path(__file__).parent
WRITE_KEY = "screenshot-write-key"
TOKEN = "screenshot-admin-token-0123456789"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


TESTED = [
    {"type": "identify", "userId": "u-42", "traits": {"email": "u42@example.com", "plan": "pro"}},
    {"type": "track", "userId": "u-42", "event": "Order Completed", "properties": {
        "order_id": "A1", "products": [{"product_id": "p1", "name": "Lamp", "price": 40,
                                        "quantity": 1, "url": "https://shop.example.com/lamp"}]}},
]
"""What the event tester's screenshot explains."""


def extra_events() -> list[dict[str, Any]]:
    """Events that end dead (an unknown template, a bad order) besides the demo's."""
    carts = [{"type": "track", "userId": f"shopper-{n}", "event": "Product Added",
              "context": {"traits": {"email": f"shopper{n}@example.com"}},
              "properties": {"product_id": "mug", "name": "Mug", "price": 12.5,
                             "url": "https://shop.example.com/mug"},
              "integrations": {"Sailthru": {"reminder_template": "winback",
                                            "reminder_time": "1 day"}}} for n in range(3)]
    orders = [{"type": "track", "userId": f"buyer-{n}", "event": "Order Completed",
               "context": {"traits": {"email": f"buyer{n}@example.com"}},
               "properties": {"order_id": f"o-{n}", "products": [
                   {"product_id": "hat", "name": "Hat", "price": 20, "quantity": 1,
                    "url": "https://shop.example.com/hat"}]}} for n in range(4)]
    views = [{"type": "identify", "userId": f"reader-{n}",
              "traits": {"email": f"reader{n}@example.com", "plan": "pro"}} for n in range(8)]
    known = {"type": "track", "userId": "known-buyer", "event": "Order Completed",
             "properties": {"order_id": "o-known", "products": [
                 {"product_id": "lamp", "name": "Lamp", "price": 40, "quantity": 1,
                  "url": "https://shop.example.com/lamp"}]}}
    return [*views, *orders, *carts, known]


def seed_sailthru(sandbox_url: str, config: SandboxConfig) -> None:
    """A profile Sailthru has but sailbridge never saw: its order needs a GET /user."""
    params = {"id": "known-buyer", "key": "extid", "keys": {"email": "known@example.com"}}
    answer = requests.post(sandbox_url + "/user", timeout=10, data=signed_params(
        config.api_key, config.api_secret, params))
    answer.raise_for_status()


def post(url: str, events: list[dict[str, Any]]) -> None:
    answer = requests.post(url + "/v1/batch", json={"batch": events}, auth=(WRITE_KEY, ""),
                           timeout=30)
    answer.raise_for_status()


def wait_settled(url: str, expected: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(url + "/admin/status", timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"}).json()
        if status["delivered"] + status["skipped"] + status["dead"] >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError("events did not settle")


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
    print("wrote", HERE / f"{name}.png")


def main() -> None:
    config = SandboxConfig(seed=7)
    with running_sandbox(config) as sandbox:
        database = HERE / "screenshots.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        settings = load_settings(
            sailthru_api_key=config.api_key, sailthru_api_secret=config.api_secret,
            sailthru_base_url=sandbox.url, pageview_base_url=sandbox.url,
            customer_id=config.customer_id, database=str(database), write_keys=WRITE_KEY,
            admin_token=TOKEN, retry_min_delay=0.2, reminder_template="abandoned cart",
            reminder_time="20 minutes")
        events = [*demo_events(), *extra_events()]
        try:
            with running_service(settings) as service, sync_playwright() as playwright:
                seed_sailthru(sandbox.url, config)
                post(service.url, events)
                wait_settled(service.url, len(events))
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(service.url + "/console/")
                shoot(page, "login")
                page.fill("input[name=token]", TOKEN)
                page.click("button[type=submit]")
                page.wait_for_selector("text=Queue depth")
                shoot(page, "overview")
                page.goto(service.url + "/console/events")
                shoot(page, "events")
                page.goto(service.url + "/console/dead")
                shoot(page, "dead-letters")
                page.locator("input[name=ids]").first.check()
                page.click("text=Replay picked…")
                shoot(page, "dead-letters-confirm")
                page.goto(service.url + "/console/dead")
                page.locator("table.events tbody tr a").first.click()
                page.wait_for_selector(".attempt")
                shoot(page, "event")
                page.goto(service.url + "/console/events?user=known-buyer")
                page.locator("table.events tbody tr a").first.click()
                page.wait_for_selector(".attempt")
                shoot(page, "event-with-lookup")
                page.goto(service.url + "/console/tester")
                page.fill("textarea[name=events]", "\n".join(json.dumps(e) for e in TESTED))
                page.click("button[value=explain]")
                page.wait_for_selector("#explained")
                shoot(page, "tester")
                page.goto(service.url + "/console/timeline?user=user-1001")
                shoot(page, "timeline")
                in_thread(pause(str(database)))
                page.goto(service.url + "/console/")
                shoot(page, "overview-paused")
                in_thread(pause(str(database), None))
                browser.close()
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)


def in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` on a loop of its own (Playwright's sync API holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


async def pause(database: str, reason: str | None = (
        "Sailthru refused the credentials on POST /user: Invalid API key (error 3)")) -> None:
    """Set (or clear) the pause as a worker does when Sailthru refuses the credentials."""
    store = await open_store(database)
    try:
        await store.set_paused(reason)
    finally:
        await store.close()


if __name__ == "__main__":
    main()
