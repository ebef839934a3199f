"""Re-sending a file delivers nothing twice (issue 8): real `sailbridge send` processes
against the sandbox, on SQLite and on PostgreSQL.

The trap: the tool stops with "not delivered yet … run `sailbridge send` again", and
doing exactly that must deliver the queued copies once — not the copies plus the file
again (two purchases of one order, which Sailthru cannot undo).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from ..service.process import free_port

EVENTS: list[dict[str, Any]] = [
    {"type": "identify", "userId": "u-1", "traits": {"email": "ada@example.com"}},
    {"type": "track", "userId": "u-1", "event": "Played Game", "properties": {"level": 3}},
    {
        "type": "track",
        "userId": "u-1",
        "event": "Product Added",
        "properties": {
            "product_id": "mug",
            "name": "Mug",
            "price": 12.99,
            "url": "https://shop.example/mug",
        },
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Order Completed",
        "context": {"page": {"url": "https://shop.example/checkout"}},
        "properties": {"order_id": "o-1", "products": [{"product_id": "mug", "price": 12.99}]},
    },
    {"type": "identify", "userId": "u-2", "traits": {"email": "bob@example.com"}},
    # The same event twice: two events, each delivered once per send.
    {"type": "track", "userId": "u-2", "event": "Clapped", "properties": {}},
    {"type": "track", "userId": "u-2", "event": "Clapped", "properties": {}},
]


def with_message_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "messageId": f"m-{n}"} for n, event in enumerate(events)]


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def environment(sandbox: SandboxHandle, database: str, **extra: str) -> dict[str, str]:
    return sandbox_environment(
        sandbox,
        database,
        SAILBRIDGE_RETRY_MAX_DELAY="0.3",
        SAILBRIDGE_LEASE_TIMEOUT="1",
        SAILBRIDGE_REQUEST_TIMEOUT="2",
        **extra,
    )


def send(
    path: Path, sandbox: SandboxHandle, database: str, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", "send", *args, str(path)],
        env=environment(sandbox, database, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_send(
    path: Path, sandbox: SandboxHandle, database: str, **extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sailbridge", "send", str(path)],
        env=environment(sandbox, database, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def unreachable() -> str:
    """A Sailthru nobody answers: every call fails to connect and is retried."""
    return f"http://127.0.0.1:{free_port()}"


def delivered_calls(sandbox: SandboxHandle) -> list[tuple[str, str]]:
    """What Sailthru accepted, as (route, JSON of the params): duplicates stay visible."""
    return [
        (r["route"], json.dumps(r["params"], sort_keys=True))
        for r in sandbox.requests()
        if r["status"] == 200 and r["method"] != "GET"
    ]


def assert_each_event_delivered_once(sandbox: SandboxHandle) -> None:
    calls = delivered_calls(sandbox)
    routes = sorted(route for route, _ in calls)
    assert routes == sorted(
        [
            "POST /user",
            "POST /event",
            "POST /purchase",
            "POST /purchase",
            "POST /user",
            "POST /event",
            "POST /event",
        ]
    ), calls
    profile = sandbox.user("u-1")
    assert profile is not None and len(profile["purchases"]) == 1
    assert [event["event"] for event in profile["events"]] == ["Played Game"]
    other = sandbox.user("u-2")
    assert other is not None
    assert [event["event"] for event in other["events"]] == ["Clapped", "Clapped"]


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("ids", [False, True], ids=["content-identity", "message-ids"])
def test_wrong_secret_then_fixed_then_the_same_file_again_delivers_each_event_once(
    sandbox: SandboxHandle, tmp_path: Path, database: str, ids: bool
) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", with_message_ids(EVENTS) if ids else EVENTS)

    refused = send(path, sandbox, database, "--json", SAILBRIDGE_SAILTHRU_API_SECRET="wrong-secret")
    assert refused.returncode == 1
    assert summary_of(refused)["waiting"] == len(EVENTS)
    assert "wrong-secret" not in refused.stdout + refused.stderr

    fixed = send(path, sandbox, database, "--json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    summary = summary_of(fixed)
    assert (summary["delivered"], summary["earlier"]) == (len(EVENTS), len(EVENTS))
    assert_each_event_delivered_once(sandbox)

    # And once more, as a user unsure whether it worked would: nothing is sent.
    seen = len(sandbox.requests())
    again = send(path, sandbox, database)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"delivered {len(EVENTS)}" in again.stdout
    assert f"{len(EVENTS)} events had been queued by an earlier send" in again.stdout
    assert len(sandbox.requests()) == seen


def test_an_overlapping_file_sends_only_its_new_events(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    first = send(write_jsonl(tmp_path / "a.jsonl", EVENTS[:4]), sandbox, database)
    assert first.returncode == 0, first.stdout + first.stderr

    second = send(write_jsonl(tmp_path / "b.jsonl", EVENTS), sandbox, database)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "4 events had been queued by an earlier send" in second.stdout
    assert_each_event_delivered_once(sandbox)


def test_force_sends_the_file_again_deliberately(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", EVENTS[:4])
    assert send(path, sandbox, database).returncode == 0

    forced = send(path, sandbox, database, "--force")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    profile = sandbox.user("u-1")
    assert profile is not None and len(profile["purchases"]) == 2


def test_after_a_kill_9_of_send_the_same_file_delivers_each_event_once(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", EVENTS)
    running = start_send(path, sandbox, database, SAILBRIDGE_SAILTHRU_BASE_URL=unreachable())
    time.sleep(4)  # queued, and retrying against a Sailthru that does not answer
    assert running.poll() is None, running.communicate()
    running.kill()
    running.wait(10)

    resent = send(path, sandbox, database, "--json")

    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert summary_of(resent)["earlier"] == len(EVENTS)
    assert_each_event_delivered_once(sandbox)


def test_ctrl_c_says_what_is_still_queued_and_how_to_finish(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", EVENTS)
    running = start_send(path, sandbox, database, SAILBRIDGE_SAILTHRU_BASE_URL=unreachable())
    time.sleep(4)
    running.send_signal(signal.SIGINT)
    stdout, stderr = running.communicate(timeout=60)

    assert running.returncode == 130, stdout + stderr
    assert f"interrupted: {len(EVENTS)} not delivered yet" in stdout
    assert f"run `sailbridge send {path}` again to finish (nothing is sent twice)" in stdout
    assert "Traceback" not in stderr

    finished = send(path, sandbox, database)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert_each_event_delivered_once(sandbox)
