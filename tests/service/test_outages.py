"""The database goes away under a running `serve`, and comes back: delivery resumes by
itself, nothing acknowledged is lost, and readiness said 503 while it could not work.

PostgreSQL runs as a cluster of the test's own (`private_postgres`), restarted and
stopped for `OUTAGE` seconds; SQLite is locked by another process for `LOCK` seconds.
The recovery times are printed (``pytest -s``) for docs/operations.md.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .private_postgres import private_cluster
from .process import ADMIN_TOKEN, WRITE_KEY, ServeProcess
from .test_operations import sailbridge_cli

OUTAGE = 10.0
"""Seconds PostgreSQL is stopped (the issue's measured case)."""
LOCK = 6.0
"""Seconds another process holds the SQLite database's write lock."""


class Traffic(threading.Thread):
    """Posts small batches until stopped; remembers the events acknowledged with 200."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.prefix = prefix
        self.acknowledged: set[str] = set()
        self.refused = 0
        self.stopping = threading.Event()
        self._numbers = itertools.count()

    def post(self, count: int) -> bool:
        ids = [f"{self.prefix}-{next(self._numbers)}" for _ in range(count)]
        batch = [
            {
                "type": "track",
                "userId": f"{self.prefix}-user-{n % 7}",
                "event": "Tick",
                "messageId": mid,
                "properties": {"mid": mid},
            }
            for n, mid in enumerate(ids)
        ]
        try:
            response = requests.post(
                self.url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=5
            )
        except requests.RequestException:
            self.refused += 1
            return False
        if response.status_code != 200:
            assert response.status_code == 503, response.text  # never a 500
            self.refused += 1
            return False
        self.acknowledged.update(ids)
        return True

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            self.post(5)


class ReadinessLog(threading.Thread):
    """``/readyz`` every 0.2 s: (monotonic time, status) pairs."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            try:
                status = requests.get(self.url + "/readyz", timeout=3).status_code
            except requests.RequestException:
                status = 0
            self.seen.append((time.monotonic(), status))

    def between(self, start: float, end: float) -> set[int]:
        return {status for at, status in self.seen if start <= at <= end}


def delivered_ids(sandbox: SandboxHandle, prefix: str) -> set[str]:
    return {
        str(request["params"]["vars"]["mid"])
        for request in sandbox.requests()
        if request["route"] == "POST /event"
        and request["status"] == 200
        and str(request["params"].get("vars", {}).get("mid", "")).startswith(prefix)
    }


def recovery_time(
    service: ServeProcess, sandbox: SandboxHandle, name: str, since: float, timeout: float = 60.0
) -> float:
    """Seconds from ``since`` (the database back) until an event posted then is at
    Sailthru: what an operator waits for delivery to resume."""
    probe = Traffic(service.url, f"probe-{name}")
    deadline = time.monotonic() + timeout
    while not probe.post(1):
        assert time.monotonic() < deadline, f"ingest did not recover after {name}"
        time.sleep(0.05)
    while not delivered_ids(sandbox, f"probe-{name}"):
        assert time.monotonic() < deadline, (
            f"delivery did not recover after {name}:\n" + service.log.read_text()[-3000:]
        )
        time.sleep(0.05)
    return time.monotonic() - since


def wait_ready(service: ServeProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while requests.get(service.url + "/readyz", timeout=3).status_code != 200:
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        time.sleep(0.1)


@contextmanager
def watched(service: ServeProcess, prefix: str) -> Iterator[tuple[Traffic, ReadinessLog]]:
    """Traffic and readiness polling for the block's length; at its end, once the
    node is ready again and a moment has passed, both stop."""
    traffic, readiness = Traffic(service.url, prefix), ReadinessLog(service.url)
    traffic.start()
    readiness.start()
    try:
        yield traffic, readiness
        wait_ready(service)
        time.sleep(1)
    finally:
        traffic.stopping.set()
        readiness.stopping.set()
        traffic.join()
        readiness.join()


def check_everything_delivered(
    service: ServeProcess, sandbox: SandboxHandle, traffic: Traffic
) -> None:
    assert traffic.acknowledged
    deadline = time.monotonic() + 60
    missing = traffic.acknowledged - delivered_ids(sandbox, traffic.prefix)
    while missing and time.monotonic() < deadline:
        time.sleep(0.2)
        missing = traffic.acknowledged - delivered_ids(sandbox, traffic.prefix)
    assert not missing, f"{len(missing)} acknowledged events not delivered"
    assert service.process is not None and service.process.poll() is None  # same process


def test_postgres_restart_and_outage_recover_without_restarting_serve(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    with private_cluster() as cluster:
        service = serve_process(
            database=cluster.url, SAILBRIDGE_DELIVERY_STALL_AFTER="5", SAILBRIDGE_CONCURRENCY="8"
        )
        with watched(service, "pg") as (traffic, readiness):
            time.sleep(2)
            cluster.restart()
            restarted = recovery_time(service, sandbox, "restart", time.monotonic())
            time.sleep(2)
            cluster.stop()
            down = time.monotonic()
            time.sleep(OUTAGE)
            cluster.start()
            up = time.monotonic()
            recovered = recovery_time(service, sandbox, "outage", up)
        check_everything_delivered(service, sandbox, traffic)
        print(
            f"\nPostgreSQL restart: delivery resumed {restarted:.2f} s after the server "
            f"was back; {OUTAGE:.0f} s outage: {recovered:.2f} s; "
            f"{len(traffic.acknowledged)} acknowledged, {traffic.refused} refused, all delivered"
        )
        assert readiness.between(down + 1, up) == {503}
        assert readiness.seen[-1][1] == 200
        metrics = requests.get(service.url + "/metrics", timeout=5).text
        assert "sailbridge_delivery_stalled 0.0" in metrics
        assert 'sailbridge_background_task_restarts_total{task="delivery worker"}' in metrics


def test_sqlite_locked_by_another_process_recovers(
    sandbox: SandboxHandle, serve_process: StartServe, tmp_path: Path
) -> None:
    database = tmp_path / "locked.db"
    service = serve_process(database=str(database), SAILBRIDGE_DELIVERY_STALL_AFTER="5")
    with watched(service, "lite") as (traffic, readiness):
        time.sleep(2)
        locker = sqlite3.connect(database, isolation_level=None, timeout=10)
        locker.execute("BEGIN EXCLUSIVE")
        locked = time.monotonic()
        time.sleep(LOCK)
        locker.execute("ROLLBACK")
        locker.close()
        released = time.monotonic()
        recovered = recovery_time(service, sandbox, "lock", released)
    check_everything_delivered(service, sandbox, traffic)
    print(
        f"\nSQLite locked {LOCK:.0f} s: delivery resumed {recovered:.2f} s after the lock "
        f"was released; {len(traffic.acknowledged)} acknowledged, {traffic.refused} refused"
    )
    assert 503 in readiness.between(locked + 1, released)
    assert readiness.seen[-1][1] == 200


def test_a_stalled_delivery_is_not_ready_and_says_so_everywhere(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    sandbox.configure(slow_rate=1.0, slow_seconds=6.0)  # every call hangs for 6 s
    service = serve_process(
        SAILBRIDGE_DELIVERY_STALL_AFTER="1.5",
        SAILBRIDGE_CONCURRENCY="1",
        SAILBRIDGE_REQUEST_TIMEOUT="30",
    )
    assert requests.get(service.url + "/readyz", timeout=5).status_code == 200
    Traffic(service.url, "stall").post(3)
    deadline = time.monotonic() + 10
    while (ready := requests.get(service.url + "/readyz", timeout=5)).status_code == 200:
        assert time.monotonic() < deadline, "readiness never noticed the stall"
        time.sleep(0.1)
    assert ready.status_code == 503
    assert ready.json()["code"] == "delivery_stalled"
    assert "no progress" in ready.json()["message"]
    health = requests.get(service.url + "/healthz", timeout=5)
    assert (health.status_code, health.json()["code"]) == (503, "delivery_stalled")
    assert requests.get(service.url + "/livez", timeout=5).status_code == 200
    assert (
        "sailbridge_delivery_stalled 1.0" in requests.get(service.url + "/metrics", timeout=5).text
    )
    status = sailbridge_cli(service, "status", "--json")
    assert json.loads(status.stdout)["readiness"]["code"] == "delivery_stalled", status.stderr
    console = requests.Session()
    login = console.get(service.url + "/console/login", timeout=5).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login)
    assert csrf
    overview = console.post(
        service.url + "/console/login",
        timeout=5,
        data={"csrf": csrf.group(1), "next": "/console/", "token": ADMIN_TOKEN},
    ).text
    assert "stalled" in overview and "no progress" in overview

    sandbox.configure(slow_rate=0.0)
    service.wait_until_settled(3, timeout=60)
    wait_ready(service)
    assert (
        "sailbridge_delivery_stalled 0.0" in requests.get(service.url + "/metrics", timeout=5).text
    )
