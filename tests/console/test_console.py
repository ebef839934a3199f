"""The console in a real browser against a real ``serve`` and the sandbox Sailthru."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe
from ..service.process import ServeProcess
from ..service.test_reliability import post_batch
from .conftest import log_in

WINBACK_CART = {
    "type": "track",
    "userId": "console-user",
    "event": "Product Added",
    "context": {"traits": {"email": "console@example.com"}},
    "properties": {"product_id": "mug", "price": 2, "url": "https://shop.example/mug"},
    "integrations": {"Sailthru": {"reminder_template": "winback", "reminder_time": "1 day"}},
}


@pytest.fixture
def with_dead_event(serve_process: StartServe) -> ServeProcess:
    """A running service holding one dead event: a cart naming an unknown template."""
    service = serve_process()
    post_batch(service.url, [WINBACK_CART])
    service.wait_until_settled(1)
    assert service.admin("/status")["dead"] == 1
    return service


def test_the_console_does_not_exist_without_an_admin_token(
    page: Page, serve_without_admin_token: ServeProcess
) -> None:
    for path in ("/console", "/console/", "/console/login", "/console/static/console.css"):
        response = page.goto(serve_without_admin_token.url + path)
        assert response is not None and response.status == 404, path


def test_a_wrong_token_is_refused_and_the_right_one_logs_in(
    page: Page, serve_process: StartServe
) -> None:
    service = serve_process()

    log_in(page, service, token="not-the-admin-token")
    expect(page.locator(".error")).to_have_text("That is not the admin token.")
    assert "/console/login" in page.url

    page.fill("input[name=token]", "admin-token-for-tests")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sailbridge_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "admin-token-for-tests" not in cookie["value"]


def test_a_dead_events_reason_is_shown_and_replaying_it_after_the_fix_delivers_it(
    page: Page, sandbox: SandboxHandle, with_dead_event: ServeProcess
) -> None:
    service = with_dead_event
    log_in(page, service)

    page.click("text=Dead letters")
    row = page.locator("table.events tbody tr").first
    expect(row).to_contain_text("Unknown template: winback")
    expect(row).to_contain_text("error 14")

    row.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("Product Added")
    expect(page.locator(".attempt")).to_contain_text("/purchase")
    expect(page.locator(".attempt")).to_contain_text("Unknown template: winback")
    html = page.content()
    assert sandbox.config.api_secret not in html
    assert not re.search(r"sig\W{0,3}[0-9a-f]{32}", html)  # described, never computed

    sandbox.configure(templates=["abandoned cart", "winback"])
    page.click("text=Dead letters")
    page.locator("input[name=ids]").first.check()
    page.click("text=Replay picked…")
    expect(page.locator("h1")).to_contain_text("Replay 1 dead event?")
    page.click("text=Yes, replay")
    expect(page.locator(".banner.flash")).to_have_text("Replayed 1 dead event.")

    deadline = time.monotonic() + 30
    while service.admin("/status")["delivered"] < 1:
        assert time.monotonic() < deadline, "the replayed event was not delivered"
        time.sleep(0.2)
    page.goto(service.url + "/console/events?state=delivered")
    delivered = page.locator("table.events tbody tr").first
    expect(delivered).to_contain_text("Product Added")
    delivered.locator("a").first.click()
    expect(page.locator("h1 .state")).to_have_text("Delivered")
    expect(page.locator(".attempt")).to_have_count(2)
    profile = requests.get(
        f"{sandbox.url}/_sandbox/users/console@example.com?key=email", timeout=5
    ).json()
    assert profile["cart"]["reminder_template"] == "winback"


def test_an_events_history_shows_the_answer_to_a_get(page: Page, serve_process: StartServe) -> None:
    service = serve_process()
    order = {
        "type": "track",
        "userId": "nobody-known",
        "event": "Order Completed",
        "properties": {
            "products": [{"product_id": "p", "price": 3, "url": "https://shop.example/p"}]
        },
    }
    post_batch(service.url, [order])
    service.wait_until_settled(1)
    log_in(page, service)

    page.goto(service.url + "/console/events?event=Order+Completed")
    page.locator("table.events tbody tr a").first.click()
    get = page.locator(".exchange", has_text="GET")
    expect(get).to_contain_text("/user")
    expect(get).to_contain_text('"found": false')


def test_the_tester_shows_the_planned_call_and_can_send_it(
    page: Page, sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process()
    log_in(page, service)

    page.click("text=Event tester")
    page.fill(
        "textarea[name=events]",
        '{"type": "identify", "userId": "tester-1", "traits": {"email": "t1@example.com"}}',
    )
    page.click("button[value=explain]")
    call = page.locator("#explained .call").first
    expect(call).to_contain_text("POST")
    expect(call).to_contain_text(sandbox.url + "/user")
    expect(call).to_contain_text("t1@example.com")
    assert sandbox.config.api_secret not in page.content()
    assert service.admin("/status")["pending"] == 0  # explaining sends nothing

    page.click("button[value=send]")
    expect(page.locator(".banner.flash")).to_contain_text("Queued 1 event")
    deadline = time.monotonic() + 30
    while sandbox.user("tester-1") is None:
        assert time.monotonic() < deadline, "the tester's event was not delivered"
        time.sleep(0.2)


def test_posts_without_the_sessions_csrf_token_are_refused(
    page: Page, context: BrowserContext, with_dead_event: ServeProcess
) -> None:
    service = with_dead_event
    log_in(page, service)
    [dead] = service.admin("/dlq")["dead"]

    forms: list[dict[str, str | float | bool]] = [
        {"action": "replay", "ids": str(dead["id"])},
        {"action": "replay", "ids": str(dead["id"]), "csrf": "forged"},
    ]
    for form in forms:
        answer = context.request.post(service.url + "/console/dead/act", form=form)
        assert answer.status == 403, form
        assert "CSRF" in answer.text()
    assert service.admin("/status")["dead"] == 1  # nothing was replayed

    anonymous = requests.post(
        service.url + "/console/dead/act",
        timeout=10,
        data={"action": "replay", "ids": str(dead["id"])},
    )
    assert anonymous.status_code == 401
    assert service.admin("/status")["dead"] == 1


def test_every_page_loads_its_own_assets_without_a_script_or_policy_error(
    page: Page, with_dead_event: ServeProcess
) -> None:
    service = with_dead_event
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, service)

    for path in (
        "/console/",
        "/console/events",
        "/console/events?state=dead",
        "/console/dead",
        "/console/tester",
        "/console/timeline?user=console-user",
        "/console/events/1",
    ):
        response = page.goto(service.url + path)
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
    page.wait_for_function("window.htmx !== undefined")
    page.goto(service.url + "/console/events")
    page.fill("input[name=user]", "console-user")  # htmx filters as you type
    expect(page).to_have_url(re.compile(r"user=console-user"))
    expect(page.locator("table.events tbody tr")).to_have_count(1)

    assert problems == []
    assert all(url.startswith(service.url) for url in requested), "an asset from elsewhere"


def test_dead_events_chosen_by_reason_are_purged_after_confirmation(
    page: Page, context: BrowserContext, with_dead_event: ServeProcess
) -> None:
    service = with_dead_event
    log_in(page, service)
    page.goto(service.url + "/console/dead")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf

    empty = context.request.post(
        service.url + "/console/dead/confirm",
        form={"csrf": csrf, "action": "purge", "scope": "reason", "reason": " "},
    )
    assert empty.status == 400 and "empty reason" in empty.text()

    page.fill("input[name=reason]", "Unknown template")
    page.click("text=Show")
    page.click("text=Purge all…")
    expect(page.locator(".doomed")).to_contain_text("Unknown template: winback")
    assert service.admin("/status")["dead"] == 1  # not before the confirmation
    page.click("text=Yes, purge")
    expect(page.locator(".banner.flash")).to_have_text("Purged 1 dead event.")
    assert service.admin("/status")["dead"] == 0


def test_the_overview_says_when_a_backlog_drains_and_merged_events_link_each_other(
    page: Page, serve_process: StartServe
) -> None:
    ingest = serve_process("--ingest-only")
    post_batch(
        ingest.url,
        [
            {
                "type": "identify",
                "userId": "merged",
                "messageId": f"mg-{n}",
                "traits": {f"trait_{n}": n},
            }
            for n in range(3)
        ],
    )
    log_in(page, ingest)
    expect(page.locator(".facts")).to_contain_text("Drains in")
    row = page.locator("table.routes tr", has_text="POST /user")
    expect(row).to_contain_text("3")
    expect(page.locator(".facts")).not_to_contain_text("nothing waiting")
    ingest.terminate()

    service = serve_process(database=ingest.env["SAILBRIDGE_DATABASE"])
    service.wait_until_settled(3)
    page.goto(service.url + "/console/events/1")
    reason = page.locator(".attempt .reason")
    expect(reason).to_contain_text("sent together with #2, #3")
    reason.locator("a", has_text="#3").click()
    expect(page.locator(".attempt .reason")).to_contain_text("sent together with #1, #2")
