"""`sailbridge backfill` as a user runs it: a real process against the sandbox's Job API."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment

ADA = {
    "type": "identify",
    "userId": "u-1",
    "timestamp": "2024-01-01T00:00:00.000Z",
    "traits": {"email": "ada@example.com", "name": "Ada", "address": {"city": "London"}},
}
BEN = {
    "type": "identify",
    "userId": "u-2",
    "timestamp": "2024-01-02T00:00:00.000Z",
    "traits": {"email": "ben@example.com", "plan": "pro"},
}
ORDER = {
    "type": "track",
    "userId": "u-1",
    "event": "Order Completed",
    "timestamp": "2024-02-01T10:00:00.000Z",
    "properties": {
        "order_id": "o-1",
        "shipping": 4,
        "products": [
            {
                "product_id": "mug",
                "name": "Mug",
                "price": 12.99,
                "quantity": 2,
                "url": "https://shop.example/mug",
            }
        ],
    },
}
STRANGER_ORDER = {
    "type": "track",
    "userId": "u-9",
    "event": "order_completed",
    "timestamp": "2024-02-02T10:00:00.000Z",
    "properties": {
        "products": [{"product_id": "hat", "price": 5, "url": "https://shop.example/hat"}]
    },
}
GAME = {
    "type": "track",
    "userId": "u-1",
    "event": "Played Game",
    "timestamp": "2024-03-01T00:00:00.000Z",
    "properties": {"level": 3},
}
PAGE = {
    "type": "page",
    "userId": "u-2",
    "timestamp": "2024-03-02T00:00:00.000Z",
    "context": {"page": {"url": "https://shop.example/"}},
}
GROUP = {"type": "group", "userId": "u-1", "groupId": "g-1"}


def run(
    args: list[str], sandbox: SandboxHandle, tmp_path: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = sandbox_environment(
        sandbox,
        str(tmp_path / "sailbridge.db"),
        SAILBRIDGE_BACKFILL_POLL_INTERVAL="0.05",
        **extra_env,
    )
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", "backfill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_jsonl(path: Path, events: list[Any]) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def job_uploads(sandbox: SandboxHandle) -> list[str]:
    """The SHA-256 of every file the sandbox received, in upload order."""
    return [job["sha256"] for job in sandbox.state()["jobs"]]


@pytest.fixture
def quick(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.configure(job_delay=0.1)
    return sandbox


def test_a_mixed_file_lands_as_profiles_and_purchases_and_the_rest_is_reported(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    events = [ADA, BEN, ORDER, STRANGER_ORDER, GAME, PAGE, GROUP, "{broken"]

    result = run(
        ["--json", str(write_jsonl(tmp_path / "history.jsonl", events))],
        quick,
        tmp_path,
        SAILBRIDGE_DEFAULT_LIST_NAME="Main",
    )

    summary = summary_of(result)
    assert result.returncode == 1  # the stranger's order and the broken line failed
    assert (
        summary["events_read"],
        summary["mapped"],
        summary["skipped"],
        summary["failed"],
        summary["no_bulk_form"],
    ) == (8, 3, 1, 2, 2)
    assert [(j["job"], j["lines"], j["status"]) for j in summary["jobs"]] == [
        ("update", 2, "completed"),
        ("purchase_import", 1, "completed"),
    ]
    assert all(j["job_id"] for j in summary["jobs"])
    failed = {row["reason"]: row["examples"] for row in summary["failed_reasons"]}
    assert failed[next(r for r in failed if "no email is known for user 'u-9'" in r)] == ["line 4"]
    assert any(r.startswith("invalid: malformed JSON") for r in failed)
    assert {row["reason"] for row in summary["no_bulk_form_reasons"]} == {
        "custom events have no bulk form in Sailthru's Job API",
        "pageviews have no bulk form in Sailthru's Job API",
    }
    assert summary["live"] is None
    profiles = {p["keys"]["email"]: p for p in quick.state()["profiles"]}
    assert set(profiles) == {"ada@example.com", "ben@example.com"}
    ada = profiles["ada@example.com"]
    assert ada["vars"] == {"email": "ada@example.com", "name": "Ada", "address_city": "London"}
    assert "Main" in ada["lists"] and "Main" in profiles["ben@example.com"]["lists"]
    [purchase] = ada["purchases"]
    assert purchase["items"] == [
        {"id": "mug", "title": "Mug", "qty": 2, "price": 1299, "url": "https://shop.example/mug"}
    ]
    assert purchase["adjustments"] == [{"title": "Shipping", "price": 400}]
    assert purchase["purchase_keys"] == {"extid": "o-1"}
    assert purchase["time"] == 1706781600.0  # filed at the order's own date
    assert profiles["ben@example.com"]["events"] == []  # nothing went live


def test_live_delivers_the_events_with_no_bulk_form_after_the_jobs(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    events = [ADA, BEN, ORDER, GAME, PAGE]

    result = run(
        ["--live", "--json", str(write_jsonl(tmp_path / "h.jsonl", events))],
        quick,
        tmp_path,
        SAILBRIDGE_BACKFILL_UPDATE_KEY="extid",
    )

    summary = summary_of(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary["live"]["queued"] == 2 and summary["live"]["delivered"] == 2
    ada, ben = quick.user("u-1"), quick.user("u-2")
    assert ada is not None and ben is not None
    assert ada["keys"]["email"] == "ada@example.com" and len(ada["purchases"]) == 1
    assert [(e["event"], e["vars"]) for e in ada["events"]] == [("Played Game", {"level": 3})]
    assert [p["url"] for p in ben["pageviews"]] == ["https://shop.example/"]
    routes = [(r["method"], r["endpoint"]) for r in quick.requests()]
    last_job_poll = max(i for i, route in enumerate(routes) if route == ("GET", "/job"))
    assert routes.index(("POST", "/event")) > last_job_poll  # live only after the jobs

    again = summary_of(
        run(
            ["--live", "--json", str(tmp_path / "h.jsonl")],
            quick,
            tmp_path,
            SAILBRIDGE_BACKFILL_UPDATE_KEY="extid",
        )
    )
    assert again["live"]["already_queued_by_an_earlier_run"] is True
    ada_again = quick.user("u-1")
    assert ada_again is not None and len(ada_again["events"]) == 1  # not delivered twice


def test_dry_run_writes_the_job_files_and_uploads_nothing(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    out = tmp_path / "files"

    result = run(
        [
            "--dry-run",
            "--out",
            str(out),
            "--json",
            str(write_jsonl(tmp_path / "h.jsonl", [ADA, ORDER, GAME])),
        ],
        quick,
        tmp_path,
        SAILBRIDGE_DEFAULT_LIST_NAME="Main",
    )

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "0001-update.jsonl",
        "0002-purchase_import.jsonl",
        "jobs.json",
        "live.jsonl",
    ]
    # Addressed as live delivery addresses the user (the default, extid).
    assert [json.loads(line) for line in (out / "0001-update.jsonl").read_text().splitlines()] == [
        {
            "id": "u-1",
            "key": "extid",
            "keys": {"email": "ada@example.com"},
            "vars": {"email": "ada@example.com", "name": "Ada", "address_city": "London"},
        }
    ]
    assert json.loads((out / "0002-purchase_import.jsonl").read_text()) == {
        "email": "ada@example.com",
        "items": [
            {
                "id": "mug",
                "title": "Mug",
                "qty": 2,
                "price": 1299,
                "url": "https://shop.example/mug",
            }
        ],
        "adjustments": [{"title": "Shipping", "price": 400}],
        "date": "2024-02-01 10:00:00 +0000",
        "purchase_keys": {"extid": "o-1"},
        "vars": {"order_id": "o-1", "shipping": 4},
    }
    manifest = json.loads((out / "jobs.json").read_text())
    assert [(m["file"], m["params"]) for m in manifest] == [
        ("0001-update.jsonl", {"update": {"lists": {"Main": 1}}}),
        ("0002-purchase_import.jsonl", {}),
    ]
    assert json.loads((out / "live.jsonl").read_text())["event"] == "Played Game"
    assert quick.state()["jobs"] == [] and quick.requests() == []


def test_update_files_are_split_to_stay_under_the_size_limit(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    users = [
        {
            "type": "identify",
            "userId": f"u-{i}",
            "timestamp": "2024-01-01T00:00:00Z",
            "traits": {"email": f"user{i}@example.com"},
        }
        for i in range(40)
    ]

    result = run(
        ["--json", "--max-file-bytes", "400", str(write_jsonl(tmp_path / "h.jsonl", users))],
        quick,
        tmp_path,
    )

    summary = summary_of(result)
    assert result.returncode == 0, result.stderr
    jobs = summary["jobs"]
    assert len(jobs) >= 5 and all(j["bytes"] <= 400 and j["job"] == "update" for j in jobs)
    assert sum(j["lines"] for j in jobs) == 40
    assert all(j["status"] == "completed" for j in jobs)
    assert len({p["keys"]["email"] for p in quick.state()["profiles"]}) == 40


def recorded_job_ids(database: Path) -> list[str]:
    """The Sailthru job ids a backfill has recorded in its store so far."""
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        try:
            rows = db.execute("SELECT job_id FROM backfill_files WHERE job_id IS NOT NULL")
            return [row[0] for row in rows]
        except sqlite3.OperationalError:  # not migrated yet
            return []


def test_a_run_killed_after_its_first_upload_resumes_without_uploading_that_file_again(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    users = [
        {
            "type": "identify",
            "userId": f"u-{i}",
            "timestamp": "2024-01-01T00:00:00Z",
            "traits": {"email": f"user{i}@example.com"},
        }
        for i in range(20)
    ]
    path = write_jsonl(tmp_path / "h.jsonl", [*users, ORDER | {"userId": "u-3"}])
    quick.configure(job_delay=60.0)  # the first job stays pending: the run waits on it
    env = sandbox_environment(
        quick, str(tmp_path / "sailbridge.db"), SAILBRIDGE_BACKFILL_POLL_INTERVAL="0.05"
    )
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sailbridge",
            "backfill",
            "--json",
            "--max-file-bytes",
            "400",
            str(path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not job_uploads(quick) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(job_uploads(quick)) == 1
        # Kill once the run has recorded Sailthru's job id: a kill between the upload and
        # that record cannot know the job, so a resume would rightly upload the file again.
        while not recorded_job_ids(tmp_path / "sailbridge.db") and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    uploaded_first = job_uploads(quick)
    quick.configure(job_delay=0.05)

    result = run(["--json", "--max-file-bytes", "400", str(path)], quick, tmp_path)

    summary = summary_of(result)
    assert result.returncode == 0, result.stderr
    uploads = job_uploads(quick)
    assert len(uploads) == len(set(uploads))  # no file was uploaded twice
    assert uploads[0] == uploaded_first[0]
    assert summary["jobs"][0]["reused"] is True and summary["jobs"][0]["status"] == "completed"
    assert all(not j["reused"] for j in summary["jobs"][1:])
    assert len(uploads) == len(summary["jobs"])
    assert len(quick.state()["profiles"]) == 20

    third = summary_of(run(["--json", "--max-file-bytes", "400", str(path)], quick, tmp_path))
    assert all(j["reused"] and j["status"] == "completed" for j in third["jobs"])
    assert job_uploads(quick) == uploads


def test_a_job_that_ends_in_error_is_reported_with_sailthrus_reason(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    bad_email = ORDER | {"context": {"traits": {"email": "not-an-email@"}}}

    result = run(["--json", str(write_jsonl(tmp_path / "h.jsonl", [bad_email]))], quick, tmp_path)

    summary = summary_of(result)
    assert result.returncode == 1
    [job] = summary["jobs"]
    assert job["status"] == "error" and job["job_id"]
    assert "line 1: Invalid email: not-an-email@" in job["message"]


def test_an_unanswered_purchase_upload_is_not_sent_again_unless_asked(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", [ADA, ORDER])
    quick.configure(drop_rate=1.0)
    dropped = summary_of(run(["--json", str(path)], quick, tmp_path))
    assert [j["status"] for j in dropped["jobs"]] == ["unconfirmed", "unconfirmed"]
    quick.configure(drop_rate=0.0)

    careful = summary_of(run(["--json", str(path)], quick, tmp_path))
    assert [(j["job"], j["status"]) for j in careful["jobs"]] == [
        ("update", "completed"),
        ("purchase_import", "unconfirmed"),
    ]
    assert "--reupload-unconfirmed" in careful["jobs"][1]["message"]

    forced = summary_of(run(["--json", "--reupload-unconfirmed", str(path)], quick, tmp_path))
    assert [j["status"] for j in forced["jobs"]] == ["completed", "completed"]
    [profile] = quick.state()["profiles"]
    assert len(profile["purchases"]) == 1


def test_gzip_json_array_from_stdin_is_streamed_like_a_file(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    data = gzip.compress(json.dumps([ADA, ORDER]).encode())

    result = subprocess.run(
        [sys.executable, "-m", "sailbridge", "backfill", "--json", "-"],
        input=data,
        env=sandbox_environment(
            quick, str(tmp_path / "sailbridge.db"), SAILBRIDGE_BACKFILL_POLL_INTERVAL="0.05"
        ),
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["events_read"], summary["mapped"]) == (2, 2)
    assert summary["failed_reasons"] == []


def test_the_secret_never_appears_in_the_summary_output_or_job_records(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    secret = quick.config.api_secret
    path = write_jsonl(tmp_path / "h.jsonl", [ADA, ORDER, STRANGER_ORDER, GAME])

    result = run(["--live", "--json", str(path)], quick, tmp_path)
    text_run = run([str(path)], quick, tmp_path)

    assert summary_of(result)["jobs"]
    for output in (result.stdout, result.stderr, text_run.stdout, text_run.stderr):
        assert secret not in output
    with sqlite3.connect(tmp_path / "sailbridge.db") as db:
        rows = db.execute("SELECT * FROM backfill_files").fetchall()
    assert rows and secret not in repr(rows)


def test_an_unreadable_input_is_one_clear_error_and_nothing_is_uploaded(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([ADA, ORDER])[:-40])

    result = run([str(path)], quick, tmp_path)

    assert result.returncode == 1
    assert "JSON array is malformed after item 1" in result.stderr
    assert quick.state()["jobs"] == []
