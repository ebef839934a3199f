"""Operating a real `sailbridge serve`: its JSON logs, health under a full disk and a
database outage, the admin API's input checks, and ``--host``/``--port``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .process import ADMIN_TOKEN, ServeProcess, free_port, service_env
from .tcp_proxy import cuttable_proxy
from .test_operations import sailbridge_cli, wait_for
from .test_reliability import post_batch

INFO = ("--log-level", "info")


def log_lines(service: ServeProcess) -> list[dict[str, Any]]:
    """Every line the process wrote, each parsed as JSON (a line that is not fails)."""
    return [json.loads(line) for line in service.log.read_text().splitlines() if line.strip()]


def lines_for(service: ServeProcess, event: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(service) if line["event"] == event]


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(
        netloc=f"{parts.username or 'root'}:{password}@{parts.hostname}:{parts.port or 5432}"
    ).geturl()


# ------------------------------------------------------------------ logs


def test_serve_logs_its_configuration_masked_and_each_dead_event(
    serve_process: StartServe, postgres_url: str
) -> None:
    database = with_password(postgres_url, "pg-password-123")
    service = serve_process(
        *INFO,
        database=database,
        SAILBRIDGE_QUEUE_LOG_INTERVAL="0.3",
        SAILBRIDGE_WEBHOOK_SECRETS_TYPO="x",
    )
    post_batch(service.url, [{"type": "track", "userId": "clicker", "event": "click"}])
    [dead] = wait_for(lambda: lines_for(service, "event dead"))
    wait_for(lambda: lines_for(service, "queue"))
    service.terminate()

    lines = log_lines(service)  # every line is JSON: stderr is a file here, not a terminal
    [start] = [line for line in lines if line["event"] == "sailbridge starting"]
    text = service.log.read_text()
    for secret in (
        "pg-password-123",
        ADMIN_TOKEN,
        service.env["SAILBRIDGE_SAILTHRU_API_SECRET"],
        service.env["SAILBRIDGE_WRITE_KEYS"],
    ):
        assert secret not in text
    settings = start["settings"]
    assert settings["sailthru_api_secret"] == settings["admin_token"] == "***"
    assert settings["write_keys"] == "***"
    assert settings["database"] == with_password(postgres_url, "***")
    assert start["store"].startswith("PostgreSQL postgresql://root:***@")
    assert start["level"] == "info" and start["timestamp"].endswith("Z")
    assert start["roles"] == ["ingest", "delivery"]
    assert any(
        line["event"] == "unknown setting" and "SAILBRIDGE_WEBHOOK_SECRETS_TYPO" in line["detail"]
        for line in lines
    )

    assert (dead["level"], dead["user"], dead["event_name"]) == ("warning", "clicker", "click")
    assert "reserved by Sailthru" in dead["reason"] and dead["attempts"] == 1
    [queue, *_] = [line for line in lines if line["event"] == "queue"]
    assert {"pending", "retrying", "dead", "oldest_pending_age_seconds", "paused"} <= set(queue)
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's, in JSON too


def test_a_dead_event_line_carries_sailthrus_code(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process(*INFO)
    post_batch(
        service.url,
        [
            {
                "type": "track",
                "userId": "carter",
                "event": "Product Added",
                "context": {"traits": {"email": "c@example.com"}},
                "properties": {"product_id": "p", "price": 1, "url": "https://s/p"},
                "integrations": {
                    "Sailthru": {"reminder_template": "nope", "reminder_time": "1 hour"}
                },
            }
        ],
    )
    [dead] = wait_for(lambda: lines_for(service, "event dead"))
    assert (dead["sailthru_code"], dead["route"], dead["http_status"]) == (
        14,
        "POST /purchase",
        400,
    )
    assert "Unknown template" in dead["reason"]


def test_pause_and_resume_are_logged(sandbox: SandboxHandle, serve_process: StartServe) -> None:
    service = serve_process(*INFO, SAILBRIDGE_SAILTHRU_API_SECRET="not-the-secret")
    post_batch(service.url, [{"type": "identify", "userId": "u1"}])
    [paused] = wait_for(lambda: lines_for(service, "delivery paused"))
    assert paused["level"] == "warning" and paused["sailthru_code"] == 5
    assert "refused the credentials on POST /user" in paused["reason"]
    assert "not-the-secret" not in service.log.read_text()

    resumed = sailbridge_cli(service, "resume")
    assert resumed.returncode == 0 and resumed.stdout.startswith("delivery resumed")
    [line] = wait_for(lambda: lines_for(service, "delivery resumed"))
    assert line["by"] == "another node or an operator"
    # The next probe is refused again, and says so once more.
    wait_for(lambda: len(lines_for(service, "delivery paused")) == 2, timeout=40)


# ------------------------------------------------------------------ serve flags


def test_host_and_port_flags_win_over_the_environment(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(sandbox, str(tmp_path / "s.db"), free_port())
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sailbridge",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def live() -> bool:
            with contextlib.suppress(requests.ConnectionError):
                return requests.get(f"http://127.0.0.1:{port}/livez", timeout=1).ok
            return False

        wait_for(live)
        start = next(
            json.loads(line)
            for line in (tmp_path / "serve.log").read_text().splitlines()
            if "sailbridge starting" in line
        )
        assert start["listen"] == f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)


# ------------------------------------------------------------------ health


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs) to fill up; needs root to mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no space left."""
    filler = disk / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def test_a_full_disk_makes_the_node_unready_but_alive(
    sandbox: SandboxHandle, serve_process: StartServe, small_disk: Path
) -> None:
    service = serve_process(database=str(small_disk / "sailbridge.db"))
    assert requests.get(service.url + "/readyz", timeout=5).status_code == 200

    filler = fill(small_disk)
    ready = requests.get(service.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["code"] == "store_unwritable" and "full" in ready.json()["message"]
    assert requests.get(service.url + "/healthz", timeout=5).status_code == 503
    assert requests.get(service.url + "/livez", timeout=5).status_code == 200

    filler.unlink()
    assert requests.get(service.url + "/healthz", timeout=5).status_code == 200
    post_batch(service.url, [{"type": "identify", "userId": "after-the-disk-was-freed"}])


def test_health_answers_within_a_second_during_a_postgresql_outage(
    sandbox: SandboxHandle, serve_process: StartServe, postgres_url: str
) -> None:
    parts = urlsplit(postgres_url)
    with cuttable_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
        service = serve_process(database=through)
        assert requests.get(service.url + "/healthz", timeout=5).status_code == 200

        proxy.cut()
        for path in ("/healthz", "/readyz"):
            started = time.monotonic()
            response = requests.get(service.url + path, timeout=10)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "store_unavailable"
            assert elapsed < 1.0, elapsed
        assert requests.get(service.url + "/livez", timeout=2).status_code == 200

        proxy.restore()
        wait_for(lambda: requests.get(service.url + "/healthz", timeout=5).status_code == 200)


# ------------------------------------------------------------------ admin input


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [
        ("GET", "/dlq?limit=abc", None, "limit"),
        ("GET", "/dlq?limit=1e3", None, "limit"),
        ("GET", "/dlq?limit=0", None, "limit"),
        ("GET", "/rejected?limit=-1", None, "limit"),
        ("GET", "/dlq?reason=", None, "empty reason"),
        ("GET", "/dlq/99999999999999999999999", None, "id"),
        ("POST", "/dlq/replay", {"reason": ["x"]}, "reason must be text"),
        ("POST", "/dlq/replay", {"reason": ""}, "empty reason"),
        ("POST", "/dlq/replay", {"ids": [99999999999999999999999]}, "id"),
        ("POST", "/dlq/replay", {"ids": [True]}, "id"),
        ("POST", "/dlq/replay", {"ids": "1"}, "ids"),
        ("POST", "/dlq/replay", {"all": "yes"}, "all"),
        ("POST", "/dlq/replay", {"everything": True}, "unknown field"),
        ("POST", "/dlq/replay", [1, 2], "JSON object"),
        ("POST", "/dlq/replay", {}, 'name what to replay: {"ids": [...]}, {"reason": "text"}'),
        ("POST", "/dlq/replay", {"all": False, "ids": None}, "name what to replay"),
        ("POST", "/dlq/purge", {"older_than": "soon"}, "duration"),
        ("POST", "/dlq/purge", {"ids": [0]}, "id"),
        ("POST", "/dlq/purge", {}, "older_than"),
    ],
)
def test_admin_api_answers_bad_input_with_400_and_a_reason(
    serve_process: StartServe, method: str, path: str, body: Any, needle: str
) -> None:
    service = serve_process()
    response = requests.request(
        method,
        service.url + "/admin" + path,
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert needle in response.json()["message"]


def test_admin_api_purges_dead_events_by_id(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    service = serve_process()
    post_batch(
        service.url,
        [
            {"type": "track", "userId": "a", "event": "click"},
            {"type": "track", "userId": "b", "event": "send"},
        ],
    )
    service.wait_until_settled(2)
    first, second = (row["id"] for row in service.admin("/dlq")["dead"])
    assert service.admin("/dlq/purge", "POST", json={"ids": [first, 424242]}) == {"purged": 1}
    assert [row["id"] for row in service.admin("/dlq")["dead"]] == [second]


def test_on_a_terminal_serve_logs_for_people(sandbox: SandboxHandle, tmp_path: Path) -> None:
    import pty
    import select

    main, terminal = pty.openpty()
    env = service_env(sandbox, str(tmp_path / "s.db"), free_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "sailbridge", "serve", *INFO],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"Application startup complete" not in seen and time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 65536)
    finally:
        process.kill()
        process.wait(10)
        os.close(main)
    text = seen.decode(errors="replace")
    assert "sailbridge starting" in text and "Application startup complete" in text, text
    assert '{"timestamp"' not in text
    assert "\x1b[" in text  # coloured, for a person
