"""The command line with two Sailthru accounts (two sandboxes): `send --account`,
`forget` in every account or one, `dlq list` / `events list` / `status` / `resume` /
`explain` / `backfill` with `--account`, and the one-line refusals (both stores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment
from ..service.test_accounts_service import two_brands


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
