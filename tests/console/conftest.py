"""Fixtures for the console's browser tests: Debian's Chromium driven by Playwright,
against a real ``sailbridge serve`` process talking to the session's sandbox.

Playwright cannot download its own browsers here, so it drives the system Chromium
(``/usr/bin/chromium``, installed by ``.ci/run`` when missing). Without it the tests
are skipped on a developer's machine and fail under CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe, serve_process  # noqa: F401 (fixture)
from ..service.process import ADMIN_TOKEN, ServeProcess, free_port, service_env

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("SAILBRIDGE_TEST_CHROMIUM"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: Playwright's sync API keeps an event loop running
    in this thread while it is open, which the async tests of other modules need free."""
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    created = browser.new_context(viewport={"width": 1280, "height": 900})
    created.set_default_timeout(15_000)
    yield created
    created.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def log_in(page: Page, service: ServeProcess, token: str = ADMIN_TOKEN) -> None:
    """Through the login form, as an operator does."""
    page.goto(service.url + "/console/")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


@pytest.fixture
def serve_without_admin_token(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[ServeProcess]:
    env = service_env(sandbox, str(tmp_path / "no-admin.db"), free_port())
    env.pop("SAILBRIDGE_ADMIN_TOKEN")
    process = ServeProcess(env, tmp_path / "serve-no-admin.log")
    process.start()
    yield process
    process.stop()
