"""Operating a running service: pause on bad credentials, dead letters, replay, SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .process import ServeProcess
from .test_reliability import numbered_events, post_batch


def sailbridge_cli(service: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's command line against the service's store."""
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_refused_credentials_pause_delivery_until_fixed(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    broken = serve_process(SAILBRIDGE_SAILTHRU_API_SECRET="not-the-secret")
    post_batch(broken.url, numbered_events(users=5, per_user=2, prefix="paused"))
    status = wait_for(lambda: (s := broken.admin("/status"))["paused"] and s)
    assert "refused the credentials" in status["paused_reason"]
    assert "not-the-secret" not in json.dumps(status)
    time.sleep(1.0)
    assert broken.admin("/status")["pending"] == 10
    assert status["dead"] == 0
    cli_status = sailbridge_cli(broken, "status")
    assert "delivery paused" in cli_status.stdout
    broken.terminate()

    fixed = serve_process(database=broken.env["SAILBRIDGE_DATABASE"])
    final = fixed.wait_until_settled(10)
    assert (final["delivered"], final["paused"]) == (10, False)


def test_dead_letters_are_listed_inspected_and_replayed(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process()
    cart = {
        "type": "track",
        "userId": "dl-user",
        "event": "Product Added",
        "context": {"traits": {"email": "dl@example.com"}},
        "properties": {"product_id": "p", "price": 2, "url": "https://shop/p"},
        "integrations": {"Sailthru": {"reminder_template": "winback", "reminder_time": "1 day"}},
    }
    post_batch(service.url, [cart, {"type": "track", "userId": "dl-user", "event": "click"}])
    service.wait_until_settled(2)

    listed = json.loads(sailbridge_cli(service, "dlq", "list", "--json").stdout)
    assert [(row["event"], row["sailthru_code"]) for row in listed] == [
        ("Product Added", 14),
        ("click", None),
    ]
    assert "Unknown template" in listed[0]["reason"]

    detail = service.admin(f"/dlq/{listed[0]['id']}")
    [attempt] = detail["history"]
    assert attempt["requests"][-1]["endpoint"] == "/purchase"
    assert attempt["code"] == 14
    assert "sandbox-secret" not in json.dumps(detail)

    sandbox.configure(templates=["abandoned cart", "winback"])
    replay = sailbridge_cli(service, "dlq", "replay", "--reason", "Unknown template")
    assert replay.stdout.strip() == "replayed 1 event"
    wait_for(lambda: service.admin("/status")["delivered"] == 1)
    by_email = requests.get(
        f"{sandbox.url}/_sandbox/users/dl@example.com?key=email", timeout=5
    ).json()
    assert by_email["cart"]["reminder_template"] == "winback"
    remaining = service.admin("/dlq")["dead"]
    assert [row["event"] for row in remaining] == ["click"]
    purged = service.admin("/dlq/purge", "POST", json={"older_than": "0s"})
    assert purged == {"purged": 1}


def test_admin_api_requires_the_token(serve_process: StartServe) -> None:
    service = serve_process()
    assert requests.get(service.url + "/admin/status", timeout=5).status_code == 401
    wrong = requests.get(
        service.url + "/admin/status", timeout=5, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert service.admin("/status")["paused"] is False


def test_sigterm_drains_in_flight_calls_and_exits(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    sandbox.configure(slow_rate=1.0, slow_seconds=0.5)
    service = serve_process(SAILBRIDGE_CONCURRENCY="8")
    post_batch(service.url, numbered_events(users=40, per_user=1, prefix="drain"))
    wait_for(lambda: service.admin("/status")["delivered"] >= 1)
    started = time.monotonic()
    assert service.terminate() == 0
    assert time.monotonic() - started < 15
    calls = [r for r in sandbox.requests() if r["route"] == "POST /event"]
    assert all(r["status"] == 200 for r in calls), "a call was cut off mid-flight"

    sandbox.configure(slow_rate=0.0)
    restarted = serve_process(database=service.env["SAILBRIDGE_DATABASE"])
    restarted.wait_until_settled(40)
    delivered = {
        r["params"]["id"]
        for r in sandbox.requests()
        if r["route"] == "POST /event" and r["status"] == 200
    }
    assert len(delivered) == 40
