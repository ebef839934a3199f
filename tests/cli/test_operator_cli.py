"""The operator's command line as a person runs it: real processes, real environment.

Exit codes, one-line errors naming the setting, read-only commands that never create a
store, plain lines when piped (``capture_output`` is a pipe, as ``| cat`` would be).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment, sandbox_environment

EXIT_FAILED, EXIT_USAGE, EXIT_STORE, EXIT_NOTHING_TO_DO = 1, 2, 3, 4

LONG_TEMPLATE = "winback " + "very long template name " * 6
DEAD_CART = {
    "type": "track",
    "userId": "cart-user",
    "event": "Product Added",
    "context": {"traits": {"email": "cart@example.com"}},
    "properties": {"product_id": "p", "price": 2, "url": "https://shop/p"},
    "integrations": {"Sailthru": {"reminder_template": LONG_TEMPLATE, "reminder_time": "1 day"}},
}
EVENTS: list[dict[str, Any]] = [
    {"type": "identify", "userId": "fine", "traits": {"email": "fine@example.com"}},
    {"type": "track", "userId": "clicker", "event": "click"},
    DEAD_CART,
    {"type": "group", "userId": "fine", "groupId": "g1"},
]


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def env(sandbox: SandboxHandle, tmp_path: Path) -> dict[str, str]:
    return sandbox_environment(sandbox, str(tmp_path / "sailbridge.db"))


@pytest.fixture
def sent(env: dict[str, str], tmp_path: Path) -> dict[str, int]:
    """A store holding a delivered, a skipped and two dead events; their ids by user."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    result = run(["send", "--json", str(path)], env)
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    return {
        f"{job['user']}:{job['state']}": job["id"] for job in json.loads(result.stdout)["events"]
    }


# ------------------------------------------------------------------ basics


def test_version_is_printed() -> None:
    result = run(["--version"], clean_environment())
    assert (result.returncode, result.stdout.strip()) == (0, "sailbridge 0.1.0")


@pytest.mark.parametrize(
    "command", [[], ["dlq"], ["events"], ["serve"], ["dlq", "purge"], ["events", "list"]]
)
def test_dash_h_is_help_everywhere(command: list[str]) -> None:
    result = run([*command, "-h"], clean_environment())
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "--help" in result.stdout


# ------------------------------------------------------------------ stores


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["dlq", "list"],
        ["dlq", "show", "1"],
        ["events", "list", "--state", "dead"],
        ["resume"],
        ["dlq", "replay", "1"],
    ],
)
def test_reading_commands_never_create_a_store(command: list[str], tmp_path: Path) -> None:
    result = run(command, clean_environment(), cwd=tmp_path)
    assert result.returncode == EXIT_STORE, result.stderr
    assert "store: SQLite ./sailbridge.db" in result.stderr
    assert error_lines(result) == [
        (
            "error: SAILBRIDGE_DATABASE=./sailbridge.db: no store there (nothing has been queued "
            "with this setting; check the path, or start `sailbridge serve` first)"
        )
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["migrate"], ["status"], ["serve"]])
def test_an_unopenable_sqlite_path_is_one_line_naming_setting_and_value(command: list[str]) -> None:
    env = {
        **clean_environment(),
        "SAILBRIDGE_DATABASE": "/nonexistent/x.db",
        "SAILBRIDGE_SAILTHRU_API_KEY": "k",
        "SAILBRIDGE_SAILTHRU_API_SECRET": "s",
        "SAILBRIDGE_WRITE_KEYS": "wk",
    }
    result = run(command, env)
    assert result.returncode == EXIT_STORE
    [line] = error_lines(result)
    assert line.startswith("error: SAILBRIDGE_DATABASE=/nonexistent/x.db: ")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback() -> None:
    env = {**clean_environment(), "SAILBRIDGE_DATABASE": "/nonexistent/x.db"}
    result = run(["--debug", "migrate"], env)
    assert result.returncode == EXIT_STORE
    assert "Traceback" in result.stderr and "OperationalError" in result.stderr


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server takes connections and never answers (a hung database)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", [["migrate"], ["serve"]])
def test_an_unresponsive_postgresql_fails_fast_in_one_line(
    silent_server: int, command: list[str]
) -> None:
    url = f"postgresql://root:db-password@127.0.0.1:{silent_server}/sailbridge"
    started = time.monotonic()
    result = run(
        command,
        {
            **clean_environment(),
            "SAILBRIDGE_DATABASE": url,
            "SAILBRIDGE_SAILTHRU_API_KEY": "k",
            "SAILBRIDGE_SAILTHRU_API_SECRET": "s",
            "SAILBRIDGE_WRITE_KEYS": "wk",
        },
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == EXIT_STORE
    assert elapsed < 10, elapsed
    [line] = error_lines(result)
    assert line.startswith(
        f"error: SAILBRIDGE_DATABASE=postgresql://root:***@127.0.0.1:"
        f"{silent_server}/sailbridge: cannot connect to PostgreSQL"
    )
    assert "db-password" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_postgresql_connection_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(
        ["status"],
        {**clean_environment(), "SAILBRIDGE_DATABASE": f"postgresql://root@127.0.0.1:{port}/x"},
    )
    assert result.returncode == EXIT_STORE
    [line] = error_lines(result)
    assert "cannot connect to PostgreSQL" in line and "Connection refused" in line
    assert f"store: PostgreSQL postgresql://root@127.0.0.1:{port}/x" in result.stderr


# ------------------------------------------------------------------ settings


def test_an_unknown_variable_is_warned_about_with_the_closest_name(tmp_path: Path) -> None:
    env = {**clean_environment(), "SAILBRIDGE_DEFAULT_LIST": "Weekly"}
    result = run(["explain", "-"], env, cwd=tmp_path)
    assert (
        "warning: SAILBRIDGE_DEFAULT_LIST is not a sailbridge setting and is ignored; did "
        "you mean SAILBRIDGE_DEFAULT_LIST_NAME?" in result.stderr
    )


def test_a_reminder_time_sailthru_would_refuse_stops_the_start() -> None:
    env = {**clean_environment(), "SAILBRIDGE_REMINDER_TIME": "tomorrow"}
    result = run(["status"], env)
    assert result.returncode == EXIT_USAGE
    assert error_lines(result) == [
        (
            "error: SAILBRIDGE_REMINDER_TIME is invalid: 'tomorrow' is not a time Sailthru "
            "accepts; use an offset like '60 minutes', '+24 hours', '2 weeks', or an ISO date and "
            "time like '2026-12-24 09:00'"
        )
    ]


def test_an_optout_sailthru_would_refuse_stops_the_start() -> None:
    result = run(["status"], {**clean_environment(), "SAILBRIDGE_OPTOUT_VALUE": "sometimes"})
    assert result.returncode == EXIT_USAGE
    assert error_lines(result) == [
        (
            "error: SAILBRIDGE_OPTOUT_VALUE is invalid: 'sometimes': "
            "Sailthru takes one of none|basic|blast|all"
        )
    ]


def test_a_toml_error_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('optout_value = "sometimes"\n')
    result = run(["status", "--config", str(config)], clean_environment())
    assert result.returncode == EXIT_USAGE
    [line] = error_lines(result)
    assert line.startswith(f"error: config file {config}: optout_value is invalid")
    assert "SAILBRIDGE_" not in line


def test_a_short_admin_token_is_refused_at_start() -> None:
    result = run(["serve"], {**clean_environment(), "SAILBRIDGE_ADMIN_TOKEN": "letmein"})
    assert result.returncode == EXIT_USAGE
    [line] = error_lines(result)
    assert line.startswith("error: SAILBRIDGE_ADMIN_TOKEN is invalid: must be at least 16")
    assert "letmein" not in result.stderr


# ------------------------------------------------------------------ dead letters and events


def test_piped_dlq_list_is_one_line_per_event_with_the_whole_reason(
    env: dict[str, str], sent: dict[str, int]
) -> None:
    result = run(["dlq", "list"], env)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split("\t") == ["id", "event", "user", "attempts", "code", "reason"]
    by_user = {row.split("\t")[2]: row.split("\t") for row in rows}
    assert set(by_user) == {"clicker", "cart-user"}
    cart = by_user["cart-user"]
    assert cart[:5] == [str(sent["cart-user:dead"]), "Product Added", "cart-user", "1", "14"]
    assert LONG_TEMPLATE.strip() in cart[5]
    assert "store: SQLite " in result.stderr


def test_dlq_show_gives_iso_times_and_the_get_user_answer(
    env: dict[str, str], sent: dict[str, int]
) -> None:
    result = run(["dlq", "show", str(sent["cart-user:dead"])], env)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["received_at"].endswith("Z") and job["received_at"][:2] == "20"
    [attempt] = job["history"]
    assert attempt["at"].endswith("Z")
    lookup, post = attempt["requests"]
    assert (lookup["method"], lookup["endpoint"]) == ("GET", "/user")
    assert lookup["answer"]["found"] is False
    assert post["endpoint"] == "/purchase" and attempt["code"] == 14


def test_replaying_an_unknown_id_fails_with_a_message(
    env: dict[str, str], sent: dict[str, int]
) -> None:
    result = run(["dlq", "replay", "999"], env)
    assert result.returncode == EXIT_FAILED
    assert error_lines(result) == ["error: no job 999"]
    assert result.stdout.strip() == "replayed 0 events"


def test_replaying_a_delivered_id_says_it_is_not_dead_and_replays_the_rest(
    env: dict[str, str], sent: dict[str, int]
) -> None:
    result = run(["dlq", "replay", str(sent["fine:delivered"]), str(sent["clicker:dead"])], env)
    assert result.returncode == EXIT_FAILED
    assert error_lines(result) == [f"error: job {sent['fine:delivered']} is delivered, not dead"]
    assert result.stdout.strip() == "replayed 1 event"


def test_replaying_a_reason_nothing_matches_is_nothing_to_do(
    env: dict[str, str], sent: dict[str, int]
) -> None:
    result = run(["dlq", "replay", "--reason", "no such reason"], env)
    assert (result.returncode, result.stdout.strip()) == (EXIT_NOTHING_TO_DO, "replayed 0 events")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["dlq", "replay"], "error: name what to replay: job ids, --all, or --reason TEXT"),
        (["dlq", "replay", "1", "--all"], "error: give job ids, or --all / --reason, not both"),
        (
            ["dlq", "replay", "1", "--reason", "x"],
            "error: give job ids, or --all / --reason, not both",
        ),
    ],
)
def test_a_replay_names_ids_or_a_filter(command: list[str], message: str) -> None:
    result = run(command, clean_environment())
    assert (result.returncode, error_lines(result)) == (EXIT_USAGE, [message])


def test_an_empty_reason_filter_is_refused(env: dict[str, str], sent: dict[str, int]) -> None:
    for command in (["dlq", "list", "--reason", ""], ["dlq", "replay", "--reason", ""]):
        result = run(command, env)
        assert result.returncode == EXIT_USAGE
        [line] = error_lines(result)
        assert line.startswith("error: --reason: an empty reason matches every dead event")
    assert len(json.loads(run(["dlq", "list", "--json"], env).stdout)) == 2


def test_dead_events_are_purged_by_id(env: dict[str, str], sent: dict[str, int]) -> None:
    result = run(["dlq", "purge", str(sent["clicker:dead"])], env)
    assert (result.returncode, result.stdout.strip()) == (0, "purged 1 event")
    left = json.loads(run(["dlq", "list", "--json"], env).stdout)
    assert [row["user"] for row in left] == ["cart-user"]
    again = run(["dlq", "purge", str(sent["clicker:dead"])], env)
    assert again.returncode == EXIT_FAILED
    assert error_lines(again) == [f"error: no job {sent['clicker:dead']}"]


def test_purge_needs_ids_or_an_age(env: dict[str, str], sent: dict[str, int]) -> None:
    assert run(["dlq", "purge"], env).returncode == EXIT_USAGE
    assert run(["dlq", "purge", "1", "--older-than", "7d"], env).returncode == EXIT_USAGE


def test_resume_with_nothing_paused_says_so(env: dict[str, str], sent: dict[str, int]) -> None:
    result = run(["resume"], env)
    assert result.returncode == EXIT_NOTHING_TO_DO
    assert result.stdout.strip() == "delivery is not paused; nothing to resume"


def test_events_are_listed_by_state_one_per_line(env: dict[str, str], sent: dict[str, int]) -> None:
    skipped = run(["events", "list", "--state", "skipped"], env)
    assert skipped.returncode == 0, skipped.stderr
    header, row = skipped.stdout.splitlines()
    assert header.split("\t") == ["id", "received", "event", "user", "attempts", "code", "reason"]
    cells = row.split("\t")
    assert (cells[0], cells[2], cells[3]) == (str(sent["fine:skipped"]), "group", "fine")
    assert cells[1].endswith("Z") and "T" in cells[1]
    dead = run(["events", "list", "--state", "dead", "--event", "click"], env)
    assert [line.split("\t")[3] for line in dead.stdout.splitlines()[1:]] == ["clicker"]
    pending = run(["events", "list", "--state", "pending"], env)
    assert (pending.returncode, pending.stdout.strip()) == (0, "no pending events")
    as_json = json.loads(run(["events", "list", "--state", "delivered", "--json"], env).stdout)
    assert [event["user"] for event in as_json["events"]] == ["fine"]


def test_events_list_pages_with_a_cursor(env: dict[str, str], sent: dict[str, int]) -> None:
    first = run(["events", "list", "--state", "dead", "--limit", "1"], env)
    assert len(first.stdout.splitlines()) == 2
    [cursor] = [line for line in first.stderr.splitlines() if line.startswith("more:")]
    rest = run(
        [
            "events",
            "list",
            "--state",
            "dead",
            "--limit",
            "1",
            *cursor.removeprefix("more: ").split(),
        ],
        env,
    )
    assert rest.stdout.splitlines()[1].split("\t")[0] != first.stdout.splitlines()[1].split("\t")[0]


def test_an_unknown_state_is_refused(env: dict[str, str]) -> None:
    result = run(["events", "list", "--state", "lost"], env)
    assert result.returncode == EXIT_USAGE
    assert "use one of pending, retrying" in result.stderr


def test_piped_status_is_plain_lines(env: dict[str, str], sent: dict[str, int]) -> None:
    result = run(["status"], env)
    lines = dict(line.split("\t") for line in result.stdout.splitlines())
    assert (lines["delivered"], lines["skipped"], lines["dead"]) == ("1", "1", "2")


def test_piped_send_summary_is_one_line_per_problem(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    result = run(["send", str(path)], env)
    lines = result.stdout.splitlines()
    assert lines[0] == "delivered 1, skipped 1, failed 2"
    assert lines[1].split("\t") == ["event", "outcome", "code", "reason"]
    assert len(lines) == 5
    assert any(LONG_TEMPLATE.strip() in line for line in lines)


def test_send_shows_why_it_is_retrying(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"type": "identify", "userId": "u"}) + "\n")
    result = run(
        ["send", str(path)],
        {
            **env,
            "SAILBRIDGE_SAILTHRU_BASE_URL": closed,
            "SAILBRIDGE_RETRY_MIN_DELAY": "0.2",
            "SAILBRIDGE_RETRY_MAX_DELAY": "0.3",
            "SAILBRIDGE_RETRY_WINDOW": "2",
        },
    )
    assert result.returncode == EXIT_FAILED
    retries = [
        line for line in result.stderr.splitlines() if line.startswith("sending: retrying: ")
    ]
    assert retries and "127.0.0.1" in retries[0], result.stderr
    assert "sending: 1/1 finished" in result.stderr


def test_status_says_when_the_backlog_drains_at_sailthrus_limits(
    env: dict[str, str], tmp_path: Path
) -> None:
    import asyncio

    from sailbridge.store.base import NewJob
    from sailbridge.store.sqlite import SqliteStore

    async def queue() -> None:
        store = await SqliteStore.open(str(tmp_path / "sailbridge.db"))
        jobs = [
            NewJob(
                "wk",
                f"m{n}",
                {"type": "track", "userId": f"u{n}", "event": "Bought"},
                "track",
                f"u{n}",
                (f"u{n}",),
                900.0,
            )
            for n in range(80)
        ]
        jobs += [
            NewJob(
                "wk",
                f"i{n}",
                {"type": "identify", "userId": f"u{n}"},
                "identify",
                f"u{n}",
                (f"u{n}",),
                900.0,
            )
            for n in range(600)
        ]
        await store.enqueue(jobs, [], 0.0, 1_000.0)
        await store.close()

    asyncio.run(queue())
    view = json.loads(run(["status", "--json"], env).stdout)
    assert view["drain"] == {
        "total_seconds": 4.0,
        "routes": [
            {
                "route": "POST /event",
                "calls": 80,
                "limit_per_second": 40.0,
                "limit_from": "configured",
                "seconds": 2.0,
            },
            {
                "route": "POST /user",
                "calls": 600,
                "limit_per_second": 300.0,
                "limit_from": "configured",
                "seconds": 2.0,
            },
        ],
    }
    piped = run(["status"], env).stdout.splitlines()
    assert "all routes\t680\t\t4 s" in piped
