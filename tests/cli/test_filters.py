"""Destination filters and consent through `sailbridge send` and `explain` (real
processes, the sandbox over HTTP, both stores), and a rule written wrong refusing to
start `serve`, `send` and `explain` with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sailbridge.mapping.filters import sample_point
from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment, sandbox_environment

CONFIG = """
consent_categories = ["Email"]

[[filters]]
name = "Lifecycle Optimizer events"
action = "only_send"
when = { any = [{ not = { type = "track" } },
                { event = ["Signed Up", "Order Completed", "User Deleted"] }] }

[[filters]]
name = "no phone"
action = "drop_fields"
fields = ["traits.phone", "context.ip"]

[[filters]]
name = "half of Signed Up"
action = "sample"
share = 0.5
when = { event = "signed_up" }

[[filters]]
name = "no files from send"
action = "drop"
[filters.when]
all = [{ write_key = "sailbridge-send" },
       { field = "properties.source", equals = "import" }]
"""

IN_SAMPLE = next(f"u-{n}" for n in range(100) if sample_point(f"u-{n}") < 0.5)
OUT_OF_SAMPLE = next(f"u-{n}" for n in range(100) if sample_point(f"u-{n}") >= 0.5)
GRANTED = {"consent": {"categoryPreferences": {"Email": True, "Advertising": False}}}
DECLINED = {"consent": {"categoryPreferences": {"Email": False}}}

EVENTS: list[dict[str, Any]] = [
    {
        "type": "identify",
        "userId": IN_SAMPLE,
        "context": {**GRANTED, "ip": "10.1.2.3"},
        "traits": {"email": "in@example.com", "phone": "+33 6 00", "plan": "pro"},
    },
    {"type": "track", "userId": IN_SAMPLE, "event": "Product Viewed", "context": GRANTED},
    {
        "type": "track",
        "userId": IN_SAMPLE,
        "event": "Signed Up",
        "context": GRANTED,
        "properties": {"plan": "pro"},
    },
    {"type": "track", "userId": OUT_OF_SAMPLE, "event": "Signed Up", "properties": {"plan": "pro"}},
    {
        "type": "identify",
        "userId": "declined",
        "context": DECLINED,
        "traits": {"email": "no@example.com"},
        "integrations": {"Sailthru": True},
    },
    {
        "type": "track",
        "userId": IN_SAMPLE,
        "event": "Signed Up",
        "properties": {"source": "import"},
    },
]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sailbridge.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    return path


def test_send_delivers_only_what_the_filters_and_consent_let_through(
    sandbox: SandboxHandle, database: str, config: Path, events_file: Path
) -> None:
    result = run(
        ["send", "--json", "--config", str(config), str(events_file)],
        sandbox_environment(sandbox, database),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert (summary["delivered"], summary["skipped"]) == (2, 4)
    reasons = [event.get("reason") for event in summary["events"]]
    assert reasons[0] is None and reasons[2] is None
    assert "'Lifecycle Optimizer events'" in reasons[1]
    assert "'half of Signed Up'" in reasons[3]
    assert reasons[4] == "no consent for category 'Email' (declined)"
    assert "'no files from send'" in reasons[5]

    profile = sandbox.user(IN_SAMPLE)
    assert profile is not None
    assert profile["vars"] == {"email": "in@example.com", "plan": "pro"}  # no phone
    assert [event["event"] for event in profile["events"]] == ["Signed Up"]
    assert sandbox.user(OUT_OF_SAMPLE) is None
    assert sandbox.user("declined") is None


def test_explain_shows_the_same_verdicts_as_send(
    config: Path, events_file: Path, tmp_path: Path
) -> None:
    env = {**clean_environment(), "SAILBRIDGE_DATABASE": str(tmp_path / "none.db")}
    result = run(["explain", "--config", str(config), str(events_file)], env)
    assert result.returncode == 0, result.stderr
    views = json.loads(result.stdout)
    assert [view["outcome"] for view in views] == [
        "deliver",
        "skip",
        "deliver",
        "skip",
        "skip",
        "skip",
    ]
    assert views[0]["consent"] == "consent granted for Email"
    assert views[0]["filters"] == ["filter 'no phone' dropped traits.phone, context.ip"]
    assert "phone" not in json.dumps(views[0]["calls"])
    assert views[1]["filter"] == "Lifecycle Optimizer events"
    assert views[3]["filter"] == "half of Signed Up"
    assert views[3]["consent"] == "no consent object: sent unenforced (consent is not required)"
    assert views[4]["consent"] == views[4]["reason"] == "no consent for category 'Email' (declined)"
    assert "filter" not in views[4]
    assert views[5]["filter"] == "no files from send"


BAD_RULES = [
    (
        '[[filters]]\nname = "x"\naction = "only_send"\n',
        "config file {path}: filters is invalid: rule 1 ('x'): only_send needs a condition",
    ),
    (
        '[[filters]]\nname = "ip"\naction = "drop_fields"\nfields = ["ctx.ip"]\n',
        "rule 1 ('ip'): fields: unknown field root 'ctx' in 'ctx.ip'",
    ),
    (
        '[[filters]]\nname = "re"\naction = "drop"\nwhen = { field = "context.page.url", '
        'matches = "(" }\n',
        "rule 1 ('re'): when: matches '(' is not a valid regular expression",
    ),
    (
        '[[filters]]\nname = "s"\naction = "sample"\nshare = 1.5\n',
        "rule 1 ('s'): share must be above 0 and below 1",
    ),
    (
        '[[filters]]\nname = "a"\naction = "allow"\nwhen = { type = "track" }\n',
        "rule 1 ('a'): unknown action 'allow'",
    ),
]


@pytest.mark.parametrize(("toml", "problem"), BAD_RULES)
@pytest.mark.parametrize("command", ["serve", "send", "explain"])
def test_a_rule_written_wrong_stops_the_command_with_one_line(
    command: str, toml: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    events = tmp_path / "e.jsonl"
    events.write_text('{"type":"identify","userId":"u"}\n')
    env = {
        **clean_environment(),
        "SAILBRIDGE_DATABASE": str(tmp_path / "s.db"),
        "SAILBRIDGE_WRITE_KEYS": "wk",
        "SAILBRIDGE_SAILTHRU_API_KEY": "k",
        "SAILBRIDGE_SAILTHRU_API_SECRET": "s",
        "SAILBRIDGE_PORT": "0",
    }
    args = [command, "--config", str(path)] + ([] if command == "serve" else [str(events)])
    result = run(args, env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert problem.format(path=path) in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
