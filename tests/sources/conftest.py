"""Fixtures for the real-client tests: the npm clients installed, `serve` started.

Node and npm (and, for the browser tests, Chromium) are tools of the machine, not of
the venv: a test that needs a missing one is skipped here and fails under ``CI``
(``tests.environment.unavailable``). ``.ci/run`` installs them on a new machine.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..environment import unavailable
from ..service.conftest import serve_process  # noqa: F401 (fixture)

JS_DIR = Path(__file__).parent / "js"


def node_modules_current(js_dir: Path) -> bool:
    """Whether ``npm ci`` already installed exactly what the lock file pins."""
    installed = js_dir / "node_modules" / ".package-lock.json"
    lock = js_dir / "package-lock.json"
    return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """``tests/sources/js`` with its pinned npm packages installed (``npm ci`` if needed)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            unavailable(
                f"`{tool}` is not installed (Debian: apt-get install -y nodejs npm); "
                "the Node and browser client tests need it"
            )
    if not node_modules_current(JS_DIR):
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {JS_DIR}:\n{result.stdout}\n{result.stderr}")
    return JS_DIR


@pytest.fixture(scope="session")
def test_site(js_clients: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local web page holding the esbuild bundle of the browser libraries; yields its URL.

    Served on its own port, so its origin differs from sailbridge's: the browser applies
    CORS (and preflights) to every event it sends, as on a real site.
    """
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            str(js_clients / "node_modules" / ".bin" / "esbuild"),
            "browser_clients.js",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=es2020",
            f"--outfile={site / 'clients.js'}",
            "--log-level=warning",
        ],
        cwd=js_clients,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"esbuild failed:\n{result.stdout}\n{result.stderr}")
    (site / "index.html").write_text(
        '<!doctype html><html><head><title>shop</title><link rel="icon" href="data:,">'
        '<script src="clients.js"></script>'
        "</head><body>a page of a shop</body></html>"
    )
    handler = functools.partial(QuietFiles, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()
    server.server_close()


class QuietFiles(SimpleHTTPRequestHandler):
    """Static files without a log line per request on the test's output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (which cannot download its own).

    Module-scoped on purpose: while Playwright's sync API is open, the main thread has
    a running event loop, and every asyncio test after it would fail to start its own.
    """
    if not CHROMIUM.exists():
        unavailable(
            f"{CHROMIUM} is missing (Debian: apt-get install -y chromium); "
            "the browser client tests need it"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Browser, test_site: str) -> Iterator[Page]:
    """A fresh browser profile (no storage left by another test) on the test site."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(test_site)
    yield page
    context.close()
