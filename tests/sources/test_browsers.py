"""Browser libraries in headless Chromium → `sailbridge serve` → the sandbox.

The libraries are bundled from npm by esbuild into a page served from another origin
than sailbridge, so every event crosses CORS exactly as on a real site (analytics-next
sends `Authorization`, so the browser preflights). Each replays the whole story
(tests/sources/scenario.py) and the sandbox must hold it. The test also records what the
page sent (paths, content types) so a library that silently changed its endpoints fails.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe
from ..service.process import WRITE_KEY, ServeProcess
from .scenario import SCENARIO_SETTINGS, assert_story_delivered, scenario_calls


@dataclass
class SentRequests:
    """The requests a page made to sailbridge, as (method, path, content type), and any
    it made beyond this machine (there must be none: no CDN, no telemetry)."""

    page: Page
    sailbridge: str
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)

    @classmethod
    def watch(cls, page: Page, sailbridge: str) -> SentRequests:
        recorder = cls(page, sailbridge)
        page.on("request", recorder.record)
        return recorder

    def record(self, request: Request) -> None:
        if request.url.startswith(self.sailbridge + "/"):
            split = urlsplit(request.url)
            path = split.path + (f"?{split.query}" if split.query else "")
            self.seen.append(
                (request.method, path, request.headers.get("content-type", "").split(";")[0])
            )
        elif not request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            self.elsewhere.append(request.url)

    def observed(self) -> set[tuple[str, str, str]]:
        """Everything sent to sailbridge so far. Playwright's sync API hands over the
        browser's events only during a call into it, hence the round trip first."""
        self.page.evaluate("0")
        assert self.elsewhere == [], "the page reached beyond the test machine"
        return set(self.seen)


def serve_for(serve_process: StartServe, page: Page) -> ServeProcess:
    """`serve` letting the test page's origin in."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    return serve_process(**SCENARIO_SETTINGS, SAILBRIDGE_CORS_ORIGINS=origin)


REPLAY_DEADLINE_MS = 30_000


def replay(page: Page, function: str, calls: list[Any], options: dict[str, Any]) -> Any:
    """Run a replay function of the bundle: what it reports, or 'not sent in time' when
    the library is still retrying after the deadline."""
    return page.evaluate(
        f"""([calls, options, deadline]) => Promise.race([
              window.sailbridgeClients.{function}(calls, options),
              new Promise((resolve) =>
                setTimeout(() => resolve('not sent in time'), deadline))])""",
        [calls, options, REPLAY_DEADLINE_MS],
    )


@pytest.mark.parametrize("batching", [False, True], ids=["one-per-request", "batching"])
def test_segment_analytics_next(
    sandbox: SandboxHandle, serve_process: StartServe, browser_page: Page, batching: bool
) -> None:
    service = serve_for(serve_process, browser_page)
    sent = SentRequests.watch(browser_page, service.url)
    calls = scenario_calls()
    api_host = urlsplit(service.url).netloc + "/v1"
    assert replay(
        browser_page,
        "replaySegment",
        calls,
        {"writeKey": WRITE_KEY, "apiHost": api_host, "batching": batching},
    ) == {"sent": len(calls), "failed": []}
    assert_story_delivered(service, sandbox, calls)
    paths = ["/v1/b"] if batching else ["/v1/i", "/v1/t", "/v1/p", "/v1/s", "/v1/g", "/v1/a"]
    assert sent.observed() == {("POST", path, "text/plain") for path in paths}


@pytest.mark.parametrize("transport", ["beacon", "xhr"])
def test_rudderstack_js_sdk(
    sandbox: SandboxHandle, serve_process: StartServe, browser_page: Page, transport: str
) -> None:
    service = serve_for(serve_process, browser_page)
    sent = SentRequests.watch(browser_page, service.url)
    calls = scenario_calls(screen=False)  # the JS SDK has no screen call
    assert replay(
        browser_page,
        "replayRudderstack",
        calls,
        {"writeKey": WRITE_KEY, "dataPlaneUrl": service.url, "transport": transport},
    ) == {"sent": len(calls), "failed": []}
    assert_story_delivered(service, sandbox, calls)
    if transport == "beacon":
        assert sent.observed() == {("POST", f"/beacon/v1/batch?writeKey={WRITE_KEY}", "text/plain")}
    else:
        assert sent.observed() == {("POST", "/v1/batch", "application/json")}


def test_analytics_next_without_the_destinations_api_key_sends_no_write_key(
    sandbox: SandboxHandle, serve_process: StartServe, browser_page: Page
) -> None:
    """The write key analytics-next sends is Segment.io's apiKey, not load's writeKey:
    without it sailbridge answers 401 and stores nothing (docs/sources.md)."""
    service = serve_for(serve_process, browser_page)
    calls = [{"type": "track", "event": "Viewed Pricing", "properties": {}}]
    api_host = urlsplit(service.url).netloc + "/v1"
    result = replay(
        browser_page,
        "replaySegment",
        calls,
        {"writeKey": WRITE_KEY, "apiHost": api_host, "withApiKey": False},
    )
    assert result == {"sent": 1, "failed": ["NonRetryableError: Non-retryable error: 401"]}
    status = service.admin("/status")
    assert status["pending"] + status["delivered"] + status["rejected"] == 0


def test_an_origin_not_allowed_is_refused_by_the_browser(
    sandbox: SandboxHandle, serve_process: StartServe, browser_page: Page
) -> None:
    """Without the page's origin in SAILBRIDGE_CORS_ORIGINS the preflight fails: no event."""
    service = serve_process(SAILBRIDGE_CORS_ORIGINS="http://shop.example")
    outcome = browser_page.evaluate(
        """async ([url, auth]) => {
             try {
               await fetch(url, {method: 'POST', body: '{"userId": "u", "event": "E"}',
                                 headers: {'Content-Type': 'text/plain', Authorization: auth}})
               return 'sent'
             } catch (error) { return error.name }
           }""",
        [service.url + "/v1/t", "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()],
    )
    assert outcome == "TypeError"
    status = service.admin("/status")
    assert status["pending"] + status["delivered"] + status["rejected"] == 0
