"""Destination filters and consent in a running `sailbridge serve` (both stores): events
posted over HTTP, what reached the sandbox, the skip reasons and the per-rule metrics;
and a changed rule applying to events already queued."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .process import WRITE_KEY, ServeProcess
from .test_operations import wait_for

MOBILE_KEY = "wk_mobile_app"

CONFIG = f"""
consent_categories = "Email"

[[filters]]
name = "Lifecycle Optimizer events"
action = "only_send"
when = {{ any = [{{ not = {{ type = "track" }} }}, {{ event = ["Signed Up", "User Deleted"] }}] }}

[[filters]]
name = "no mobile pageviews"
action = "drop"
when = {{ all = [{{ write_key = "{MOBILE_KEY}" }}, {{ type = "page" }}] }}

[[filters]]
name = "no phone"
action = "drop_fields"
fields = ["traits.phone"]
"""

GRANTED = {"consent": {"categoryPreferences": {"Email": True}}}


def post(
    service: ServeProcess,
    batch: list[dict[str, Any]],
    key: str = WRITE_KEY,
    context: dict[str, Any] | None = None,
) -> None:
    body: dict[str, Any] = {"batch": batch, **({"context": context} if context else {})}
    response = requests.post(service.url + "/v1/batch", json=body, auth=(key, ""), timeout=10)
    assert response.status_code == 200, response.text


def metric(service: ServeProcess, name: str, label: str, value: str) -> float:
    text = requests.get(service.url + "/metrics", timeout=10).text
    found = re.search(rf'^{name}_total{{{label}="{re.escape(value)}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sailbridge.toml"
    path.write_text(CONFIG)
    return path


def test_serve_sends_only_what_filters_and_consent_let_through(
    sandbox: SandboxHandle, serve_process: StartServe, database: str, config: Path
) -> None:
    service = serve_process(
        "--config",
        str(config),
        database=database,
        SAILBRIDGE_WRITE_KEYS=f"{WRITE_KEY},{MOBILE_KEY}",
    )
    post(
        service,
        [
            {
                "type": "identify",
                "userId": "ok",
                "context": GRANTED,
                "traits": {"email": "ok@example.com", "phone": "+33 6"},
            },
            {"type": "track", "userId": "ok", "event": "signed_up", "context": GRANTED},
            {"type": "track", "userId": "ok", "event": "Product Viewed", "context": GRANTED},
            {
                "type": "page",
                "userId": "ok",
                "name": "Home",
                "context": {**GRANTED, "page": {"url": "https://shop.test/"}},
            },
            {
                "type": "identify",
                "userId": "declined",
                "traits": {"email": "no@example.com"},
                "context": {"consent": {"categoryPreferences": {"Email": False}}},
            },
        ],
    )
    # consent given once for the whole batch, as some sources do
    post(
        service,
        [{"type": "identify", "userId": "batch-declined", "traits": {"email": "b@example.com"}}],
        context={"consent": {"categoryPreferences": {"Email": False, "Analytics": True}}},
    )
    post(
        service,
        [
            {
                "type": "page",
                "userId": "ok",
                "name": "App",
                "context": {**GRANTED, "page": {"url": "app://home"}},
            }
        ],
        key=MOBILE_KEY,
    )

    status = service.wait_until_settled(7)
    assert (status["delivered"], status["skipped"], status["dead"]) == (3, 4, 0)
    profile = sandbox.user("ok")
    assert profile is not None
    assert profile["vars"] == {"email": "ok@example.com"}
    assert [event["event"] for event in profile["events"]] == ["signed_up"]
    assert [view["url"] for view in profile["pageviews"]] == ["https://shop.test/"]
    assert sandbox.user("declined") is None and sandbox.user("batch-declined") is None

    assert metric(service, "sailbridge_jobs_filtered", "rule", "Lifecycle Optimizer events") == 1
    assert metric(service, "sailbridge_jobs_filtered", "rule", "no mobile pageviews") == 1
    assert metric(service, "sailbridge_jobs_without_consent", "category", "Email") == 2

    skipped = service.admin("/status")["skipped"]
    assert skipped == 4


def test_a_changed_rule_applies_to_events_already_queued(
    sandbox: SandboxHandle, serve_process: StartServe, tmp_path: Path
) -> None:
    broken = serve_process(SAILBRIDGE_SAILTHRU_API_SECRET="not-the-secret")
    post(
        broken,
        [{"type": "track", "userId": f"q-{n}", "event": "Product Viewed"} for n in range(3)]
        + [{"type": "identify", "userId": "q-keep"}],
    )
    wait_for(lambda: broken.admin("/status")["paused"])
    broken.terminate()

    config = tmp_path / "later.toml"
    config.write_text(
        '[[filters]]\nname = "no product views"\naction = "drop"\n'
        'when = { event = "Product Viewed" }\n'
    )
    fixed = serve_process("--config", str(config), database=broken.env["SAILBRIDGE_DATABASE"])
    status = fixed.wait_until_settled(4)
    assert (status["delivered"], status["skipped"]) == (1, 3)
    assert sandbox.user("q-keep") is not None and sandbox.user("q-0") is None
    assert metric(fixed, "sailbridge_jobs_filtered", "rule", "no product views") == 3
