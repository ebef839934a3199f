"""The command line with two Sailthru accounts (two sandboxes): `send --account`,
`forget` in every account or one, `dlq list` / `events list` / `status` / `resume` /
`explain` / `backfill` with `--account`, and the one-line refusals (both stores)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from sailbridge.sandbox.server import SandboxHandle
from sailbridge.store.factory import open_store

from ..environment import clean_environment
from ..service.test_accounts_service import two_brands
from ..store.helpers import new_job


@pytest.fixture
def env(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, database: str, tmp_path: Path
) -> dict[str, str]:
    config = tmp_path / "accounts.toml"
    config.write_text(two_brands(sandbox, sandbox_b))
    return {
        **clean_environment(),
        "SAILBRIDGE_DATABASE": database,
        "SAILBRIDGE_CONFIG": str(config),
        "SAILBRIDGE_RETRY_MIN_DELAY": "0.1",
    }


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


EVENTS = "\n".join(
    json.dumps(event)
    for event in [
        {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}},
        {"type": "track", "userId": "ada", "event": "purchase"},  # reserved: dead
    ]
)


def test_send_goes_to_the_account_named_and_needs_one_when_there_are_several(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, env: dict[str, str]
) -> None:
    refused = run(["send", "-"], env, EVENTS)
    assert refused.returncode != 0
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "--account" in line and "brand-a, brand-b" in line

    sent = run(["send", "--account", "brand-b", "--json", "-"], env, EVENTS)
    assert sent.returncode == 1, sent.stderr  # the reserved event died
    assert sandbox_b.user("ada") is not None and sandbox.user("ada") is None

    dead_b = json.loads(run(["dlq", "list", "--account", "brand-b", "--json"], env).stdout)
    assert [row["account"] for row in dead_b] == ["brand-b"]
    assert json.loads(run(["dlq", "list", "--account", "brand-a", "--json"], env).stdout) == []
    listed = run(["events", "list", "--state", "delivered", "--account", "brand-b"], env)
    assert listed.stdout.splitlines()[0].split("\t")[:3] == ["id", "account", "received"]


def test_forget_forgets_in_every_account_unless_one_is_named(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, env: dict[str, str]
) -> None:
    identify = json.dumps(
        {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}}
    )
    for account in ("brand-a", "brand-b"):
        assert run(["send", "--account", account, "-"], env, identify).returncode == 0
    assert sandbox.user("ada") is not None and sandbox_b.user("ada") is not None

    assert run(["forget", "ada", "--account", "brand-a"], env).returncode == 0
    assert sandbox.user("ada") is None and sandbox_b.user("ada") is not None

    assert run(["forget", "ada"], env).returncode == 0
    assert sandbox_b.user("ada") is None


def test_resume_and_status_name_the_account(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0
    unknown = run(["status", "--account", "brand-c"], env)
    assert unknown.returncode != 0 and "brand-a, brand-b" in unknown.stderr
    assert run(["resume", "--account", "brand-b"], env).returncode == 4  # not paused
    status = json.loads(run(["status", "--json"], env).stdout)
    assert status["paused_accounts"] == {}


def test_explain_plans_with_the_accounts_own_settings(env: dict[str, str]) -> None:
    identify = json.dumps(
        {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}}
    )
    planned_b = json.loads(run(["explain", "--account", "brand-b", "-"], env, identify).stdout)
    planned_a = json.loads(run(["explain", "--account", "brand-a", "-"], env, identify).stdout)
    assert "Brand B" in json.dumps(planned_b) and "Brand B" not in json.dumps(planned_a)
    assert "brand-b-secret" not in json.dumps(planned_b)


def queue_for_brands(database: str) -> None:
    """Three events fed to both brands and two to brand-b alone, none delivered; brand-b
    paused."""

    async def write() -> None:
        store = await open_store(database)
        try:
            jobs = [
                msgspec.structs.replace(
                    new_job(f"u{n}", received_at=time.time()), accounts=accounts
                )
                for n, accounts in enumerate([("brand-a", "brand-b")] * 3 + [("brand-b",)] * 2)
            ]
            await store.enqueue(jobs, [], 0.0, time.time())
            await store.set_paused("Sailthru refused the key", "brand-b")
        finally:
            await store.close()

    asyncio.run(write())


def test_status_of_one_account_counts_its_jobs_and_its_drain_only(
    env: dict[str, str], database: str
) -> None:
    queue_for_brands(database)

    a = json.loads(run(["status", "--account", "brand-a", "--json"], env).stdout)
    b = json.loads(run(["status", "--account", "brand-b", "--json"], env).stdout)

    assert (a["pending"], b["pending"]) == (3, 5)
    assert (a["paused"], b["paused"]) == (False, True)
    assert "accounts" not in a
    # POST /event at the documented 40/s, each account its own calls
    assert a["drain"]["routes"][0]["calls"] == 3
    assert b["drain"]["total_seconds"] == pytest.approx(5 / 40, abs=0.1)


def test_status_of_several_accounts_shows_each_beside_the_whole_store(
    env: dict[str, str], database: str
) -> None:
    queue_for_brands(database)

    whole = json.loads(run(["status", "--json"], env).stdout)
    table = run(["status"], env).stdout

    assert whole["pending"] == 8
    assert {name: view["pending"] for name, view in whole["accounts"].items()} == {
        "brand-a": 3,
        "brand-b": 5,
    }
    assert whole["accounts"]["brand-b"]["paused_reason"] == "Sailthru refused the key"
    assert "rejected" not in whole["accounts"]["brand-a"]  # ingest's counts: the store's
    assert {route["account"] for route in whole["drain"]["routes"]} == {"brand-a", "brand-b"}
    lines = [line.split("\t") for line in table.splitlines()]
    # one row per account (its counts, age, drain, delivery), then each account's routes
    accounts = {cells[0]: cells for cells in lines if len(cells) == 9}
    assert accounts["brand-a"][1:3] == ["3", "0"] and accounts["brand-b"][1] == "5"
    assert (accounts["brand-a"][-1], accounts["brand-b"][-1]) == ("delivering", "paused")
    routes = [cells for cells in lines if cells[1:2] == ["POST /event"]]
    assert [(cells[0], cells[2]) for cells in routes] == [("brand-a", "3"), ("brand-b", "5")]
