"""Running `sailbridge serve` as a real process, the way an operator does."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment

WRITE_KEY = "wk_service_test"
ADMIN_TOKEN = "admin-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(sandbox: SandboxHandle, database: str, port: int, **extra: str) -> dict[str, str]:
    return sandbox_environment(
        sandbox,
        database,
        **{
            "SAILBRIDGE_WRITE_KEYS": WRITE_KEY,
            "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SAILBRIDGE_HOST": "127.0.0.1",
            "SAILBRIDGE_PORT": str(port),
            "SAILBRIDGE_RETRY_MIN_DELAY": "0.2",
            "SAILBRIDGE_RETRY_MAX_DELAY": "1",
            "SAILBRIDGE_REQUEST_TIMEOUT": "2",
            **extra,
        },
    )


@dataclass
class ServeProcess:
    """One `sailbridge serve` process; `url` is its ingest/admin base URL."""

    env: dict[str, str]
    log: Path
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['SAILBRIDGE_PORT']}"

    def start(self, timeout: float = 20.0) -> ServeProcess:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sailbridge", "serve", "--log-level", "warning", *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"serve exited with {self.process.returncode}:\n" + self.log.read_text()
                )
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("serve did not become healthy:\n" + self.log.read_text())

    def kill(self) -> None:
        """``kill -9``: no shutdown, no drain."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def admin(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        response = requests.request(
            method,
            self.url + "/admin" + path,
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def wait_until_settled(self, expected: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until ``expected`` events have finished (delivered, skipped or dead)."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.admin("/status")
            if status["delivered"] + status["skipped"] + status["dead"] >= expected and (
                status["pending"] + status["retrying"] + status["in_flight"] == 0
            ):
                return status
            time.sleep(0.2)
        raise AssertionError(
            f"not settled after {timeout} s: {status}\n" + self.log.read_text()[-3000:]
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
