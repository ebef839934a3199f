"""Delivery benchmarks: saturation of Sailthru's rate limit, and end-to-end latency.

Runs the sandbox and `sailbridge serve` as separate processes (as deployed), then:

1. saturation — a backlog of N track events for many users is queued; the sandbox's
   POST /event limit is L per second. Reported: delivered calls/s ÷ L over the drain,
   and the share of calls answered 429. Target: ≥ 0.95 with 429s under 1 %.
2. latency — at light load (20 events/s, one at a time through /v1/track), the time
   from the client's send to the sandbox receiving the Sailthru call: p50 / p99.

    python bench/delivery.py [--events 4000] [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import requests

WRITE_KEY = "wk_bench"
ADMIN_TOKEN = "bench-admin-token"
"""At least 16 characters, as `serve` requires."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


class Processes:
    def __init__(self, limit: int, scratch: Path) -> None:
        self.sandbox_port, self.serve_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"
        self.sandbox = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sailbridge",
                "sandbox",
                "--port",
                str(self.sandbox_port),
                "--rate-limit",
                f"POST /event={limit}/s",
                "--rate-limit-window",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(self.sandbox_url + "/_sandbox/state", self.sandbox)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAILBRIDGE_")}
        env.update(
            {
                "SAILBRIDGE_SAILTHRU_API_KEY": "sandbox-key",
                "SAILBRIDGE_SAILTHRU_API_SECRET": "sandbox-secret",
                "SAILBRIDGE_SAILTHRU_BASE_URL": self.sandbox_url,
                "SAILBRIDGE_WRITE_KEYS": WRITE_KEY,
                "SAILBRIDGE_PORT": str(self.serve_port),
                "SAILBRIDGE_DATABASE": str(scratch / "bench.db"),
                "SAILBRIDGE_RATE_LIMITS": f"POST /event={limit}/s",
                "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "sailbridge", "serve", "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(self.serve_url + "/healthz", self.serve)

    def status(self) -> dict[str, Any]:
        response = requests.get(
            self.serve_url + "/admin/status",
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        return dict(response.json())

    def sandbox_requests(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        since = 0
        while True:
            page = get_json(f"{self.sandbox_url}/_sandbox/requests?since={since}")["requests"]
            if not page:
                return entries
            entries += page
            since = page[-1]["seq"]

    def close(self) -> None:
        for process in (self.serve, self.sandbox):
            process.terminate()
            process.wait(30)


def saturation(procs: Processes, events: int, limit: int) -> dict[str, float]:
    session = requests.Session()
    session.auth = (WRITE_KEY, "")
    batch = [
        {
            "type": "track",
            "userId": f"sat-{n % 500}",
            "event": "Backlog",
            "messageId": f"sat-{n}",
            "properties": {"n": n},
        }
        for n in range(events)
    ]
    for start in range(0, events, 100):
        session.post(
            procs.serve_url + "/v1/batch", json={"batch": batch[start : start + 100]}, timeout=30
        ).raise_for_status()
    deadline = time.monotonic() + events / limit * 3 + 60
    while time.monotonic() < deadline:
        status = procs.status()
        if status["delivered"] >= events:
            break
        time.sleep(0.5)
    calls = [r for r in procs.sandbox_requests() if r["route"] == "POST /event"]
    ok = sorted(r["time"] for r in calls if r["status"] == 200)
    throttled = sum(1 for r in calls if r["status"] == 429)
    # Steady state: drop the first and last second (partial windows at the edges).
    steady = [t for t in ok if ok[0] + 1 <= t <= ok[-1] - 1]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    return {
        "delivered": len(ok),
        "calls_per_second": rate,
        "limit": limit,
        "saturation": rate / limit,
        "throttled_share": throttled / max(len(calls), 1),
    }


def latency(procs: Processes, count: int = 200, rate: float = 20.0) -> dict[str, float]:
    session = requests.Session()
    session.auth = (WRITE_KEY, "")
    sent: dict[str, float] = {}
    for n in range(count):
        message_id = f"lat-{n}"
        sent[message_id] = time.time()
        session.post(
            procs.serve_url + "/v1/track",
            timeout=10,
            json={
                "userId": f"lat-{n % 20}",
                "event": "Latency",
                "messageId": message_id,
                "properties": {"message": message_id},
            },
        ).raise_for_status()
        time.sleep(1 / rate)
    time.sleep(2)
    arrived = {
        r["params"]["vars"]["message"]: r["time"]
        for r in procs.sandbox_requests()
        if r["route"] == "POST /event"
        and r["status"] == 200
        and str(r["params"].get("event")) == "Latency"
    }
    delays = sorted((arrived[m] - t) * 1000 for m, t in sent.items() if m in arrived)
    return {
        "count": len(delays),
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--limit", type=int, default=200, help="sandbox POST /event limit, /s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        procs = Processes(args.limit, Path(scratch))
        try:
            sat = saturation(procs, args.events, args.limit)
            lat = latency(procs)
        finally:
            procs.close()
    print(
        f"saturation: {sat['calls_per_second']:.1f} calls/s against a limit of "
        f"{sat['limit']}/s = {sat['saturation']:.3f} (target >= 0.95); "
        f"429s {sat['throttled_share'] * 100:.2f} % (target < 1 %); "
        f"{sat['delivered']} delivered"
    )
    print(
        f"latency at 20 events/s: p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms "
        f"({lat['count']} events)"
    )


if __name__ == "__main__":
    main()
