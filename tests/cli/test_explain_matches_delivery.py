"""What `explain` plans is what `send` then does (issue 8): both use one memory-first
fact source, and this test fails if they drift. A mixed file is explained, then sent
to the sandbox; every request Sailthru received must be the one explain listed (the
lookups it said Sailthru would answer, then the calls), in order, on both stores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from .test_resend import write_jsonl

PRODUCT = {"product_id": "mug", "name": "Mug", "price": 12.99, "url": "https://shop.example/mug"}
MIXED: list[dict[str, Any]] = [
    {"type": "identify", "anonymousId": "a-1", "traits": {"plan": "trial"}},
    {"type": "track", "anonymousId": "a-1", "event": "Viewed Pricing"},
    {
        "type": "identify",
        "userId": "u-1",
        "anonymousId": "a-1",
        "traits": {"email": "ada@example.com"},
    },
    {"type": "track", "userId": "u-1", "event": "Product Added", "properties": PRODUCT},
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Added",
        "properties": {**PRODUCT, "quantity": 2},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Removed",
        "properties": {"product_id": "mug"},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Order Completed",
        "properties": {"order_id": "o-1", "shipping": 4, "products": [PRODUCT]},
    },
    {"type": "page", "userId": "u-1", "context": {"page": {"url": "https://shop.example/"}}},
    {"type": "group", "userId": "u-1", "groupId": "g"},
    {
        "type": "track",
        "userId": "u-1",
        "event": "Order Completed",
        "properties": {"adjustments": [{"title": "Ship", "price": 5.99}], "products": [PRODUCT]},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Signed Up",
        "integrations": {"Sailthru": {"optoutValue": "all"}},
    },
    {"type": "identify", "userId": "u-1", "anonymousId": "a-1", "traits": {"name": "Ada"}},
    {"type": "track", "userId": "u-1", "event": "User Deleted"},
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Added",
        "properties": PRODUCT,
        "context": {"traits": {"email": "ada.again@example.com"}},
    },
]
OUTCOMES = ["deliver"] * 8 + ["skip", "fail"] + ["deliver"] * 4


def run(args: list[str], sandbox: SandboxHandle, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=sandbox_environment(sandbox, database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def planned_requests(views: list[dict[str, Any]], base: str) -> list[tuple[str, str, Any]]:
    """The requests explain says delivery will make, in order: lookups Sailthru answers
    (not those memory answers), then each event's calls — or, for events `send` queues
    together that share a call (``sentTogether``), that call once, at the first of them."""
    planned = []
    for view in views:
        for lookup in view.get("lookups", []):
            if lookup["source"] == "planned":
                call = lookup["call"]
                planned.append((call["method"], call["url"].removeprefix(base), call["params"]))
        together = view.get("sentTogether")
        if together is None:
            calls = view.get("calls", [])
        else:
            calls = together["calls"] if view["position"] == together["positions"][0] else []
        for call in calls:
            planned.append((call["method"], call["url"].removeprefix(base), call["params"]))
    return planned


def test_explain_plans_exactly_the_requests_delivery_makes(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    # Timestamps given: one filled in at reading would differ between the two runs.
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{**event, "timestamp": "2026-01-02T03:04:05.000Z"} for event in MIXED],
    )
    explained = run(["explain", str(path)], sandbox, database)
    assert explained.returncode == 0, explained.stderr
    views = json.loads(explained.stdout)
    assert [view["outcome"] for view in views] == OUTCOMES
    assert views[10]["warnings"]  # the opt-out override on a track
    # The file is queued at once: the three cart changes of u-1 share one cart post.
    assert [view.get("sentTogether", {}).get("kind") for view in views[3:6]] == ["cart"] * 3

    sent = run(["send", "--json", str(path)], sandbox, database)

    # Everything of u-1 up to the deletion, its dead letter included, was forgotten
    # once the deletion was delivered: only the event after it is left to report.
    assert sent.returncode == 0, sent.stdout + sent.stderr
    summary = json.loads(sent.stdout)
    assert (summary["delivered"], summary["forgotten"]) == (1, 13)
    made = [(r["method"], r["endpoint"], r["params"]) for r in sandbox.requests()]
    assert made == planned_requests(views, sandbox.url)
