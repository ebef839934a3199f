"""`sailbridge send` as a user runs it: a real process, the sandbox with a 3 s cart lag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment, sandbox_environment

EVENTS: list[dict[str, Any]] = [
    {"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "trial"}},
    {
        "type": "track",
        "anonymousId": "anon-1",
        "event": "Viewed Pricing",
        "properties": {"tiers": ["basic", "pro"]},
    },
    {
        "type": "identify",
        "userId": "u-1",
        "anonymousId": "anon-1",
        "traits": {"email": "ada@example.com", "address": {"city": "London"}, "tags": []},
        "integrations": {"Sailthru": {"defaultListName": "Weekly"}},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Played Game",
        "properties": {"levels": [1, 2], "arcade": {"galaxy": {"coordinates": "1232.4832"}}},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Added",
        "properties": {
            "product_id": "mug",
            "name": "Mug",
            "price": 12.99,
            "quantity": 1,
            "url": "https://shop.example/mug",
            "image_url": "https://img/mug.jpg",
        },
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Added",
        "properties": {
            "product_id": "mug",
            "name": "Mug",
            "price": 12.99,
            "quantity": 2,
            "url": "https://shop.example/mug",
        },
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "product_added",
        "properties": {
            "product_id": "hat",
            "name": "Hat",
            "price": 20,
            "url": "https://shop.example/hat",
        },
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Removed",
        "properties": {"product_id": "hat"},
    },
    {
        "type": "page",
        "userId": "u-1",
        "context": {"page": {"url": "https://shop.example/cart"}},
        "properties": {"keywords": ["cart"]},
    },
]
ORDER = {
    "type": "track",
    "userId": "u-1",
    "event": "Order Completed",
    "context": {"page": {"url": "https://shop.example/checkout"}},
    "properties": {
        "order_id": "o-9",
        "shipping": 4,
        "currency": "USD",
        "products": [{"product_id": "mug", "name": "Mug", "price": 12.99, "quantity": 3}],
    },
}
EMPTY_REMOVAL = {
    "type": "track",
    "userId": "u-1",
    "event": "Product Removed",
    "properties": {"product_id": "mug"},
}


def sailbridge(
    args: list[str], sandbox: SandboxHandle, tmp_path: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = sandbox_environment(sandbox, str(tmp_path / "sailbridge.db"), **extra_env)
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


@pytest.fixture
def lagging(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.configure(cart_read_lag=3.0)
    return sandbox


def test_send_leaves_sailthru_holding_exactly_the_mapped_state(
    lagging: SandboxHandle, tmp_path: Path
) -> None:
    result = sailbridge(["send", str(write_jsonl(tmp_path / "e.jsonl", EVENTS))], lagging, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered 9, skipped 0, failed 0" in result.stdout
    profile = lagging.user("u-1")
    assert profile is not None and lagging.user("anon-1") is None
    assert profile["keys"]["email"] == "ada@example.com"
    assert profile["vars"] == {
        "plan": "trial",
        "email": "ada@example.com",
        "address_city": "London",
    }
    assert "Weekly" in profile["lists"]
    assert [(e["event"], e["vars"]) for e in profile["events"]] == [
        ("Viewed Pricing", {"tiers_0": "basic", "tiers_1": "pro"}),
        ("Played Game", {"levels_0": 1, "levels_1": 2, "arcade_galaxy_coordinates": "1232.4832"}),
    ]
    cart = profile["cart"]
    assert [(i["id"], i["qty"], i["price"]) for i in cart["items"]] == [("mug", 3, 1299)]
    assert cart["items"][0]["images"] == {"full": {"url": "https://img/mug.jpg"}}
    assert cart["reminder_template"] == "abandoned cart"
    assert cart["reminder_time"] == "+20 minutes"
    assert profile["pageviews"][0] == {
        **profile["pageviews"][0],
        "url": "https://shop.example/cart",
        "tags": ["cart"],
    }


def test_order_then_removal_from_the_emptied_cart_fails_with_sailthrus_message(
    lagging: SandboxHandle, tmp_path: Path
) -> None:
    events = [EVENTS[2], EVENTS[4], ORDER, EMPTY_REMOVAL]
    result = sailbridge(
        ["send", "--json", str(write_jsonl(tmp_path / "e.jsonl", events))], lagging, tmp_path
    )
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["delivered"], summary["failed"]) == (3, 1)
    assert summary["events"][3]["reason"] == "Nothing to remove from Incomplete Cart for this user."
    [purchase] = lagging.user("u-1")["purchases"]
    assert purchase["items"] == [
        {
            "id": "mug",
            "title": "Mug",
            "qty": 3,
            "price": 1299,
            "url": "https://shop.example/checkout",
        }
    ]
    assert purchase["adjustments"] == [{"title": "Shipping", "price": 400}]
    assert purchase["purchase_keys"] == {"extid": "o-9"}
    assert lagging.user("u-1")["cart"] is None


def test_sailthru_errors_are_reported_with_code_and_message(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    events = [
        {"type": "identify", "userId": "ok"},
        {
            "type": "track",
            "userId": "ok",
            "event": "Product Added",
            "properties": {"product_id": "p", "price": 1, "url": "https://e/p"},
            "context": {"traits": {"email": "ok@example.com"}},
            "integrations": {
                "Sailthru": {"reminder_template": "no such template", "reminder_time": "1 hour"}
            },
        },
        {"type": "group", "userId": "ok", "groupId": "g"},
    ]
    result = sailbridge(["send", str(write_jsonl(tmp_path / "e.jsonl", events))], sandbox, tmp_path)
    assert result.returncode == 1
    assert "delivered 1, skipped 1, failed 1" in result.stdout
    assert "14" in result.stdout and "Unknown template" in result.stdout


def test_invalid_lines_are_reported_and_the_rest_delivered(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"type":"identify","userId":"good"}\n{oops\n{"type":"identify"}\n')
    result = sailbridge(["send", str(path)], sandbox, tmp_path)
    assert result.returncode == 1
    assert "delivered 1, skipped 0, failed 2 (2 invalid)" in result.stdout
    assert "line 2" in result.stdout and "line 3" in result.stdout
    assert sandbox.user("good") is not None


def test_transient_faults_are_retried_until_delivered(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(fail_rate=0.5)
    events = [{"type": "identify", "userId": f"user-{n}"} for n in range(10)]
    result = sailbridge(
        ["send", str(write_jsonl(tmp_path / "e.jsonl", events))],
        sandbox,
        tmp_path,
        SAILBRIDGE_RETRY_MAX_DELAY="0.2",
    )
    assert result.returncode == 0, result.stdout
    assert all(sandbox.user(f"user-{n}") for n in range(10))


def test_wrong_secret_pauses_keeps_the_events_queued_and_a_fixed_send_delivers_them(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    events = [{"type": "identify", "userId": "a"}, {"type": "identify", "userId": "b"}]
    path = write_jsonl(tmp_path / "e.jsonl", events)
    refused = sailbridge(
        ["send", "--json", str(path)],
        sandbox,
        tmp_path,
        SAILBRIDGE_SAILTHRU_API_SECRET="wrong-secret",
    )
    assert refused.returncode == 1
    summary = json.loads(refused.stdout)
    assert (summary["delivered"], summary["failed"], summary["waiting"]) == (0, 0, 2)
    assert "refused the credentials" in summary["paused_reason"]
    assert "wrong-secret" not in refused.stdout + refused.stderr
    # Only the calls already in flight when Sailthru refused: no hammering after it.
    assert len([r for r in sandbox.requests() if r["route"] == "POST /user"]) <= 2

    # Sending again with the right secret delivers the queued copies, and only them.
    fixed = sailbridge(["send", str(path)], sandbox, tmp_path)
    assert fixed.returncode == 0, fixed.stdout
    assert "delivered 2" in fixed.stdout
    assert sandbox.user("a") is not None and sandbox.user("b") is not None
    ok_calls = [r for r in sandbox.requests() if r["route"] == "POST /user" and r["status"] == 200]
    assert len(ok_calls) == 2


def test_missing_setting_stops_with_one_line_naming_it(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    result = sailbridge(
        ["send", str(write_jsonl(tmp_path / "e.jsonl", EVENTS))],
        sandbox,
        tmp_path,
        SAILBRIDGE_SAILTHRU_API_KEY="",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SAILBRIDGE_SAILTHRU_API_KEY is required but not set"


def test_demo_runs_end_to_end_as_the_readme_promises() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sailbridge", "demo"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo complete" in result.stdout
    assert '"arcade_blips and chitz_planet": "Parblesnops"' in result.stdout
