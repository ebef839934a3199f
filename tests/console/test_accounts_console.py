"""The console with two accounts (a real browser): the account selector, the account on
every list and page, and the pause of one account shown while the other delivers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment
from ..service.process import ADMIN_TOKEN, ServeProcess, free_port
from ..service.test_accounts_service import A_KEY, BOTH_KEY, two_brands
from ..service.test_operations import wait_for
from .conftest import log_in


@pytest.fixture
def service(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, tmp_path: Path
) -> Iterator[ServeProcess]:
    config = tmp_path / "accounts.toml"
    config.write_text(two_brands(sandbox, sandbox_b, b_secret="wrong-secret"))
    env = {
        **clean_environment(),
        "SAILBRIDGE_DATABASE": str(tmp_path / "console.db"),
        "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SAILBRIDGE_PORT": str(free_port()),
        "SAILBRIDGE_HOST": "127.0.0.1",
    }
    process = ServeProcess(env, tmp_path / "serve.log", ("--config", str(config)))
    process.start()
    yield process
    process.stop()


def test_the_console_shows_both_accounts_and_which_one_is_paused(
    page: Page, service: ServeProcess
) -> None:
    requests.post(
        service.url + "/v1/batch",
        auth=(BOTH_KEY, ""),
        timeout=10,
        json={
            "batch": [{"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}}]
        },
    ).raise_for_status()
    wait_for(
        lambda: (
            service.admin("/status")["delivered"] == 1
            and "brand-b" in (service.admin("/status")["paused_reason"] or "")
        )
    )

    log_in(page, service)
    assert "brand-b:" in page.inner_text(".banner.paused")
    assert "brand-a" not in page.inner_text(".banner.paused")

    page.goto(service.url + "/console/events")
    accounts = page.locator("table.events td.account").all_inner_texts()
    assert sorted(accounts) == ["brand-a", "brand-b"]

    page.select_option("header select[name=account]", "brand-a")
    page.click("header .account-select button")
    page.wait_for_url("**/console/events?account=brand-a")
    assert page.locator("table.events td.account").all_inner_texts() == ["brand-a"]
    page.click("table.events td.num a")
    assert page.inner_text("dd.account") == "brand-a"
    assert "wrong-secret" not in page.content() and "brand-b-secret" not in page.content()


def test_the_tester_plans_and_sends_for_the_account_chosen(
    page: Page, service: ServeProcess, sandbox: SandboxHandle
) -> None:
    log_in(page, service)
    page.click("text=Event tester")
    page.fill(
        "textarea[name=events]",
        '{"type": "identify", "userId": "tess", "traits": {"email": "t@example.com"}}',
    )
    page.select_option("form.tester select[name=account]", "brand-b")
    page.click("button[value=explain]")
    assert "Brand B" in page.inner_text("main")

    page.select_option("form.tester select[name=account]", "brand-a")
    page.click("button[value=send]")
    wait_for(lambda: sandbox.user("tess") is not None)
    assert "Brand B" not in page.inner_text("main")


def logged_in_session(service: ServeProcess) -> requests.Session:
    """An operator's session through the login form (its CSRF token included)."""
    session = requests.Session()
    form = session.get(service.url + "/console/login", timeout=10).text
    [csrf] = re.findall(r'name="csrf" value="([^"]+)"', form)
    session.post(
        service.url + "/console/login", data={"csrf": csrf, "token": ADMIN_TOKEN}, timeout=10
    ).raise_for_status()
    return session


def tile(html: str, label: str) -> int:
    [number] = re.findall(
        rf'<span class="n">([\d,]+)</span><span class="label">{label}</span>', html
    )
    return int(number.replace(",", ""))


def test_the_overview_counts_the_chosen_account_and_a_row_per_account(
    service: ServeProcess,
) -> None:
    for key, users in ((BOTH_KEY, ("ada", "bob", "cy")), (A_KEY, ("dee", "eve"))):
        batch = [{"type": "identify", "userId": user} for user in users]
        requests.post(
            service.url + "/v1/batch", auth=(key, ""), timeout=10, json={"batch": batch}
        ).raise_for_status()
    # brand-a delivers all five; brand-b's wrong secret pauses it with its three waiting
    wait_for(lambda: service.admin("/status?account=brand-a")["delivered"] == 5)
    wait_for(lambda: service.admin("/status?account=brand-b")["paused"])
    session = logged_in_session(service)

    whole = session.get(service.url + "/console/", timeout=10).text
    only_b = session.get(service.url + "/console/?account=brand-b", timeout=10).text

    assert tile(whole, "Delivered") == 5 and tile(whole, "Pending") == 3
    rows = dict(
        re.findall(r'<a href="/console/\?account=([\w-]+)">[\w-]+</a></td>(.*?)</tr>', whole, re.S)
    )
    numbers = {
        name: re.findall(r'<td class="num[^"]*">([\d,]+)</td>', row) for name, row in rows.items()
    }
    assert numbers == {"brand-a": ["0", "0", "0", "5", "0"], "brand-b": ["3", "0", "0", "0", "0"]}
    assert "paused" in rows["brand-b"] and "paused" not in rows["brand-a"]
    assert (tile(only_b, "Pending"), tile(only_b, "Delivered")) == (3, 0)
    assert "<h2>Accounts</h2>" not in only_b
    assert "brand-b POST /user" in only_b and "brand-a POST /user" not in only_b
    # the chosen account stays chosen: the refresh and every tile's listing keep it
    assert 'hx-get="/console/?account=brand-b"' in only_b
    pending = session.get(service.url + tile_link(only_b, "Pending"), timeout=10).text
    assert re.findall(r'<td class="account">([\w-]+)</td>', pending) == ["brand-b"] * 3
    dead = tile_link(only_b, "Dead")
    assert dead == "/console/dead?account=brand-b"
    assert tile_link(whole, "Pending") == "/console/events?state=pending"


def tile_link(page: str, label: str) -> str:
    """Where the overview's tile named ``label`` links to."""
    match = re.search(
        rf'<a class="tile[^"]*" href="([^"]+)"><span class="n">[\d,]+</span>'
        rf'<span class="label">{label}</span>',
        page,
    )
    assert match is not None, f"no {label} tile"
    return html.unescape(match.group(1))
