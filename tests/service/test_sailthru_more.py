"""Issue 21 end to end: Segment's SDK → `sailbridge serve` (each store) → the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from .conftest import StartServe, segment_client
from .process import ServeProcess

MUG: dict[str, Any] = {
    "product_id": "mug",
    "name": "Mug",
    "price": 12.5,
    "quantity": 2,
    "url": "https://shop/mug",
}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The store's location: the default SQLite file, or the test PostgreSQL database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return None


def test_a_refund_reaches_sailthru_as_a_return_and_lowers_net_revenue(
    sandbox: SandboxHandle, serve_process: StartServe, database: str | None
) -> None:
    service = serve_process(database=database)
    client = segment_client(service.url)
    client.identify("buyer", {"email": "buyer@example.com"})
    client.track("buyer", "Order Completed", {"order_id": "o-1", "products": [MUG]})
    client.track(
        "buyer",
        "Order Refunded",
        {"order_id": "o-1", "total": 12.5, "products": [{**MUG, "quantity": 1}]},
    )
    client.track("buyer", "Order Refunded", {"order_id": "o-1"})
    client.flush()

    status = service.wait_until_settled(4)
    assert (status["delivered"], status["dead"]) == (3, 1)

    profile = sandbox.user("buyer")
    assert profile is not None
    [returned] = profile["returns"]
    assert returned["items"] == [
        {"id": "mug", "title": "Mug", "qty": 1, "price": 1250, "url": "https://shop/mug"}
    ]
    assert returned["purchase_keys"] == {"extid": "o-1"}
    assert returned["vars"] == {"order_id": "o-1", "total": 12.5}
    assert profile["net_revenue"] == 2 * 1250 - 1250
    [dead] = service.admin("/dlq")["dead"]
    assert dead["event"] == "Order Refunded" and "needs the returned items" in dead["reason"]


def test_a_cart_older_than_its_expiry_starts_empty(
    sandbox: SandboxHandle, serve_process: StartServe, database: str | None
) -> None:
    """The age comes from the cart Sailthru returns (``purchase_incomplete.time``); the
    memory TTL is 0 so every cart event reads it back."""
    service = serve_process(
        database=database,
        SAILBRIDGE_CART_MEMORY_TTL="0",
        SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS="72",
    )
    client = segment_client(service.url)
    sandbox.configure(clock_offset=-30 * 3600)  # these carts were filed 30 hours ago
    for user in ("by-event", "by-setting", "fresh"):
        client.identify(user, {"email": f"{user}@example.com"})
        client.track(user, "Product Added", {**MUG, "product_id": "old"})
    client.flush()
    service.wait_until_settled(6)
    sandbox.configure(clock_offset=0)

    client.track("by-event", "Product Added", {**MUG, "clearIncompleteCartAfterNHours": "24"})
    client.track("fresh", "Product Added", {**MUG, "clearIncompleteCartAfterNHours": 48.7})
    client.flush()
    service.wait_until_settled(8)
    service.stop()  # the same store: only the node with the 12-hour setting may deliver
    with_setting = serve_process(
        database=database,
        SAILBRIDGE_CART_MEMORY_TTL="0",
        SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS="12",
    )
    setting_client = segment_client(with_setting.url)
    setting_client.track("by-setting", "Product Added", MUG)
    setting_client.flush()
    with_setting.wait_until_settled(9)

    def cart_ids(user: str) -> list[str]:
        profile = sandbox.user(user)
        assert profile is not None and profile["cart"] is not None
        return [item["id"] for item in profile["cart"]["items"]]

    assert cart_ids("by-event") == ["mug"]
    assert cart_ids("fresh") == ["old", "mug"]
    assert cart_ids("by-setting") == ["mug"]


ODD_NAMES = {
    "1st_visit": "2024-01-01",
    "utm-source": "ads",
    "Played Game": "Pong",
    "checkout_shipping_address_postal_code": "N1 9GU",
}


def test_var_names_sailthru_refuses_are_renamed_so_the_call_is_taken(
    sandbox: SandboxHandle, serve_process: StartServe, database: str | None
) -> None:
    sandbox.configure(var_name_max_length=32)
    as_written = serve_process(database=database, SAILBRIDGE_RENAME_VARS="false")
    client = segment_client(as_written.url)
    client.identify("before", ODD_NAMES)
    client.flush()
    status = as_written.wait_until_settled(1)
    assert status["dead"] == 1  # the refusal before: error 99, every var with it
    [dead] = as_written.admin("/dlq")["dead"]
    assert "Invalid variable name" in dead["reason"]
    assert sandbox.user("before") is None
    as_written.stop()

    renaming = serve_process(database=database, SAILBRIDGE_VAR_NAME_MAX_LENGTH="32")
    client = segment_client(renaming.url)
    client.identify("after", ODD_NAMES)
    client.track("after", "Clicked", {"utm.medium": "cpc", "2": "x"})
    client.flush()
    status = renaming.wait_until_settled(3)
    assert (status["delivered"], status["dead"]) == (2, 1)

    profile = sandbox.user("after")
    assert profile is not None
    postal = [name for name in profile["vars"] if name.startswith("checkout_shipping_address_")]
    assert profile["vars"] == {
        "var_1st_visit": "2024-01-01",
        "utmsource": "ads",
        "Played Game": "Pong",
        postal[0]: "N1 9GU",
    }
    assert len(postal[0]) == 32
    assert profile["events"][0]["vars"] == {"utmmedium": "cpc", "var_2": "x"}


HISTORY = [
    {
        "type": "identify",
        "userId": "u-1",
        "timestamp": "2024-01-01T00:00:00.000Z",
        "traits": {"email": "ada@example.com", "name": "Ada"},
    },
    {
        "type": "identify",
        "userId": "u-2",
        "timestamp": "2024-01-02T00:00:00.000Z",
        "traits": {"email": "ben@example.com", "name": "Ben"},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Order Completed",
        "timestamp": "2024-02-01T10:00:00.000Z",
        "properties": {"order_id": "o-1", "products": [MUG]},
    },
]


def backfill(
    sandbox: SandboxHandle, database: str, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(event) + "\n" for event in HISTORY))
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", "backfill", "--json", str(history)],
        env=sandbox_environment(sandbox, database, SAILBRIDGE_BACKFILL_POLL_INTERVAL="0.05", **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def go_live(serve_process: StartServe, database: str) -> ServeProcess:
    """Live events for the backfilled users: an identify without email (by extid alone),
    one with the email the history gave, a custom event and an order for each."""
    service = serve_process(database=database)
    client = segment_client(service.url)
    client.identify("u-1", {"plan": "pro"})
    client.identify("u-2", {"email": "ben@example.com", "plan": "free"})
    client.track("u-1", "Played Game", {"level": 3})
    client.track("u-1", "Order Completed", {"order_id": "o-2", "products": [MUG]})
    client.track("u-2", "Order Completed", {"order_id": "o-3", "products": [MUG]})
    client.flush()
    return service


def test_backfilled_profiles_are_the_ones_live_delivery_addresses(
    sandbox: SandboxHandle, serve_process: StartServe, database: str | None, tmp_path: Path
) -> None:
    sandbox.configure(job_delay=0.1)
    location = database or str(tmp_path / "sailbridge.db")
    result = backfill(sandbox, location, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    service = go_live(serve_process, location)
    status = service.wait_until_settled(5)
    assert (status["delivered"], status["dead"]) == (5, 0), service.admin("/dlq")

    profiles = sandbox.state()["profiles"]
    assert sorted(p["keys"]["extid"] for p in profiles) == ["u-1", "u-2"]  # one each
    ada, ben = sandbox.user("u-1"), sandbox.user("u-2")
    assert ada is not None and ben is not None
    assert ada["keys"]["email"] == "ada@example.com"
    assert ada["vars"] == {"email": "ada@example.com", "name": "Ada", "plan": "pro"}
    assert [p["purchase_keys"] for p in ada["purchases"]] == [{"extid": "o-1"}, {"extid": "o-2"}]
    assert [e["event"] for e in ada["events"]] == ["Played Game"]
    assert ben["vars"] == {"email": "ben@example.com", "name": "Ben", "plan": "free"}
    assert [p["purchase_keys"] for p in ben["purchases"]] == [{"extid": "o-3"}]


def test_email_addressed_history_is_not_the_live_profile(
    sandbox: SandboxHandle, serve_process: StartServe, tmp_path: Path
) -> None:
    """The setting kept for accounts without extid lookup, and why it is not the default:
    the backfilled profiles carry no extid, so live delivery cannot find them."""
    sandbox.configure(job_delay=0.1)
    location = str(tmp_path / "sailbridge.db")
    result = backfill(sandbox, location, tmp_path, SAILBRIDGE_BACKFILL_UPDATE_KEY="email")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all("extid" not in p["keys"] for p in sandbox.state()["profiles"])

    service = go_live(serve_process, location)
    status = service.wait_until_settled(5)

    assert status["dead"] >= 1  # u-2's identify: its email belongs to another profile
    reasons = [dead["reason"] for dead in service.admin("/dlq")["dead"]]
    assert any("Key conflict" in reason for reason in reasons)
    assert len(sandbox.state()["profiles"]) > 2  # u-1 got a second profile
