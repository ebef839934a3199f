"""`serve` under a low open-file limit: it raises its soft limit to the hard one, caps
its connections below what it can open, says so at start, and a flood of idle clients
is turned away with 429 instead of running it out of descriptors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sailbridge.sandbox.server import SandboxHandle
from sailbridge.server.files import (
    RESERVED_FILES,
    connection_cap,
    listen_backlog,
    reserved_files,
)

from .process import free_port, service_env


def test_the_cap_leaves_room_for_the_processes_own_files() -> None:
    assert reserved_files(32) == RESERVED_FILES + 32
    assert reserved_files(1) == RESERVED_FILES + 10
    assert [listen_backlog(files) for files in (300, 1024, 8192, 100_000, -1)] == [
        64,
        128,
        1024,
        2048,
        2048,
    ]
    assert connection_cap(1000, 1024, 96) == 1024 - 96 - 128
    assert connection_cap(1000, 100_000, 96) == 1000
    assert connection_cap(1000, 50, 96) == 1
    assert connection_cap(1000, -1, 96) == 1000  # unlimited


def test_serve_raises_its_limit_caps_connections_and_survives_a_flood(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    if not Path("/usr/bin/prlimit").exists():
        pytest.skip("prlimit (util-linux) is not installed")
    port = free_port()
    env = service_env(sandbox, str(tmp_path / "files.db"), port, SAILBRIDGE_CONCURRENCY="4")
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                "/usr/bin/prlimit",
                "--nofile=150:300",
                sys.executable,
                "-m",
                "sailbridge",
                "serve",
                "--log-level",
                "info",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/livez", timeout=1).ok:
                    break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        start = next(
            json.loads(line)
            for line in log.read_text().splitlines()
            if "sailbridge starting" in line
        )
        assert start["open_files"] == {"soft": 300, "hard": 300, "was": 150}
        assert start["max_connections"] == 300 - reserved_files(4) - 64
        assert "SAILBRIDGE_MAX_CONNECTIONS 1000 lowered to" in start["max_connections_capped"]

        for _ in range(300):  # more idle clients than the process could ever hold
            client = socket.create_connection(("127.0.0.1", port))
            clients.append(client)
        time.sleep(0.5)
        started = time.monotonic()
        answer = requests.get(url + "/livez", timeout=5)
        assert answer.status_code in (200, 429)
        assert time.monotonic() - started < 2
        assert "Too many open files" not in log.read_text()
    finally:
        for client in clients:
            client.close()
        process.kill()
        process.wait(10)
    assert process.returncode is not None
