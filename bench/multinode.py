"""Several nodes on one PostgreSQL: throughput with 1, 2 and 3 nodes, and the accuracy of
the global rate limit.

For each node count N, in a fresh database, with the sandbox and the N ``sailbridge
serve`` processes all on this machine (they share its two cores):

- ingest: 100-event batches sent round-robin to the N nodes by 16 concurrent
  connections for a few seconds — acknowledged events/s;
- delivery capacity: the sandbox's POST /event limit set far above what the machine can
  do, so calls/s measures the nodes' own delivery throughput;
- rate-limit accuracy: the limit set to L/s; each node is configured with the full L
  (only the shared limiter keeps their sum within it) — delivered calls/s ÷ L and the
  share of 429s;
- per-account accuracy (``--accounts``, 2 nodes): two accounts (two sandboxes) with
  limits L and L/2, one source feeding both; each node configured with each account's
  full limit — each account's delivered calls/s ÷ its limit (one limiter keyed by
  account and route, shared through PostgreSQL).

    python bench/multinode.py [--limit 200] [--seconds 5] [--accounts]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import requests

ADMIN_URL = os.environ.get(
    "SAILBRIDGE_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/postgres"
)
WRITE_KEY = "wk_bench"
ADMIN_TOKEN = "bench-admin-token"
"""At least 16 characters, as `serve` requires."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy")


class Database:
    def __init__(self) -> None:
        self.name = f"sailbridge_bench_{secrets.token_hex(4)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Processes:
    """``python -m sailbridge`` processes started for a run, stopped together."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "sailbridge", *args],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


class Cluster(Processes):
    """Sandboxes and N serve nodes on one fresh database: one sandbox (the account
    ``default``) with ``limit``, or one sandbox per account of ``accounts`` (name →
    limit), fed by one source."""

    def __init__(
        self, nodes: int, limit: int, scratch: Path, accounts: dict[str, int] | None = None
    ) -> None:
        super().__init__()
        self.database = Database()
        self.sandboxes = {
            name: self._sandbox(name, account_limit, scratch)
            for name, account_limit in (accounts or {"default": limit}).items()
        }
        self.sandbox_url = next(iter(self.sandboxes.values()))
        args = ["serve", "--log-level", "warning"]
        if accounts:
            config = scratch / "accounts.toml"
            config.write_text(
                "".join(
                    f'[[accounts]]\nname = "{name}"\nsailthru_api_key = "key-{name}"\n'
                    f'sailthru_api_secret = "secret-{name}"\n'
                    f'sailthru_base_url = "{self.sandboxes[name]}"\n'
                    f'rate_limits = "POST /event={account_limit}/s"\n\n'
                    for name, account_limit in accounts.items()
                )
                + f'[[sources]]\nwrite_keys = ["{WRITE_KEY}"]\n'
                f"accounts = {list(accounts)!r}\n".replace("'", '"')
            )
            args += ["--config", str(config)]
        self.urls = []
        for index in range(nodes):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("SAILBRIDGE_")}
            env.update(
                {
                    "SAILBRIDGE_PORT": str(port),
                    "SAILBRIDGE_DATABASE": self.database.url,
                    "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
                }
            )
            if not accounts:
                env.update(
                    {
                        "SAILBRIDGE_SAILTHRU_API_KEY": "sandbox-key",
                        "SAILBRIDGE_SAILTHRU_API_SECRET": "sandbox-secret",
                        "SAILBRIDGE_SAILTHRU_BASE_URL": self.sandbox_url,
                        "SAILBRIDGE_WRITE_KEYS": WRITE_KEY,
                        "SAILBRIDGE_RATE_LIMITS": f"POST /event={limit}/s",
                    }
                )
            node = self._spawn(args, env, scratch / f"node{index}.log")
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url + "/healthz", node)
            self.urls.append(url)

    def _sandbox(self, name: str, limit: int, scratch: Path) -> str:
        url = f"http://127.0.0.1:{free_port()}"
        credentials = (
            []
            if name == "default"
            else ["--api-key", f"key-{name}", "--api-secret", f"secret-{name}"]
        )
        sandbox = self._spawn(
            [
                "sandbox",
                "--port",
                url.rsplit(":", 1)[1],
                *credentials,
                "--rate-limit",
                f"POST /event={limit}/s",
                "--rate-limit-window",
                "1",
            ],
            os.environ.copy(),
            scratch / f"sb-{name}.log",
        )
        wait_healthy(url + "/_sandbox/state", sandbox)
        return url

    def status(self) -> dict[str, Any]:
        return dict(
            requests.get(
                self.urls[0] + "/admin/status",
                timeout=30,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ).json()
        )

    def sandbox_counters(self, url: str | None = None) -> dict[str, Any]:
        return dict(
            requests.get((url or self.sandbox_url) + "/_sandbox/state", timeout=30).json()[
                "counters"
            ]
        )

    def delivered_in(self, url: str) -> int:
        """POST /event calls a sandbox accepted (its requests less its 429s)."""
        counters = self.sandbox_counters(url)
        return int(counters["requests"].get("POST /event", 0) - counters["rate_limited"])

    def close(self) -> None:
        super().close()
        self.database.drop()


async def ingest(urls: list[str], seconds: float, users: int = 2000) -> int:
    """Acknowledged events in ``seconds`` of 100-event batches, 16 connections."""
    acknowledged = 0
    deadline = time.monotonic() + seconds
    counter = 0

    async def connection(number: int) -> None:
        nonlocal acknowledged, counter
        headers = {"Authorization": aiohttp.BasicAuth(WRITE_KEY, "").encode()}
        async with aiohttp.ClientSession(headers=headers) as session:
            url = urls[number % len(urls)] + "/v1/batch"
            while time.monotonic() < deadline:
                start = counter
                counter += 100
                batch = [
                    {
                        "type": "track",
                        "userId": f"u{(start + i) % users}",
                        "event": "Bench",
                        "messageId": f"m{number}-{start + i}",
                        "properties": {"n": start + i},
                    }
                    for i in range(100)
                ]
                async with session.post(url, json={"batch": batch}) as response:
                    if response.status == 200:
                        acknowledged += 100

    await asyncio.gather(*(connection(n) for n in range(16)))
    return acknowledged


def drain_rate(cluster: Cluster, total: int, timeout: float) -> float:
    """Delivered events/s while draining a backlog (first to last 10 %)."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivered = cluster.status()["delivered"]
        samples.append((time.monotonic(), delivered))
        if delivered >= total:
            break
        time.sleep(0.5)
    low = next((s for s in samples if s[1] >= total * 0.1), samples[0])
    high = next((s for s in samples if s[1] >= total * 0.9), samples[-1])
    return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0


def queue_rate_events(cluster: Cluster, events: int) -> None:
    """``events`` track events for 500 users, 100 a batch, round-robin over the nodes."""
    batch = [
        {"type": "track", "userId": f"r{n % 500}", "event": "Rate", "messageId": f"r{n}"}
        for n in range(events)
    ]
    for start in range(0, events, 100):
        requests.post(
            cluster.urls[(start // 100) % len(cluster.urls)] + "/v1/batch",
            json={"batch": batch[start : start + 100]},
            auth=(WRITE_KEY, ""),
            timeout=60,
        ).raise_for_status()


def run(nodes: int, limit: int, seconds: float, scratch: Path) -> dict[str, float]:
    result: dict[str, float] = {}
    cluster = Cluster(nodes, 100_000, scratch)
    try:
        total = asyncio.run(ingest(cluster.urls, seconds))
        result["ingest_events_per_s"] = total / seconds
        result["delivery_events_per_s"] = drain_rate(cluster, total, timeout=total / 50 + 120)
    finally:
        cluster.close()
    cluster = Cluster(nodes, limit, scratch)
    try:
        events = limit * 15
        queue_rate_events(cluster, events)
        rate = drain_rate(cluster, events, timeout=events / limit * 3 + 60)
        counters = cluster.sandbox_counters()
        calls = counters["requests"].get("POST /event", 0)
        result["limit_accuracy"] = rate / limit
        result["throttled_share"] = counters["rate_limited"] / max(calls, 1)
    finally:
        cluster.close()
    return result


def run_accounts(nodes: int, limit: int, scratch: Path) -> dict[str, dict[str, float]]:
    """Each account's delivered calls/s ÷ its limit, ``nodes`` nodes, two accounts."""
    limits = {"brand-a": limit, "brand-b": max(limit // 2, 1)}
    cluster = Cluster(nodes, limit, scratch, accounts=limits)
    try:
        events = limit * 15
        queue_rate_events(cluster, events)
        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in limits}
        deadline = time.monotonic() + events / min(limits.values()) * 3 + 60
        while time.monotonic() < deadline:
            done = True
            for name, url in cluster.sandboxes.items():
                delivered = cluster.delivered_in(url)
                samples[name].append((time.monotonic(), delivered))
                done = done and delivered >= events
            if done:
                break
            time.sleep(0.5)
        result = {}
        for name, points in samples.items():
            low = next((p for p in points if p[1] >= events * 0.1), points[0])
            high = next((p for p in points if p[1] >= events * 0.9), points[-1])
            rate = (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0
            counters = cluster.sandbox_counters(cluster.sandboxes[name])
            calls = counters["requests"].get("POST /event", 0)
            result[name] = {
                "limit": limits[name],
                "rate": rate,
                "limit_accuracy": rate / limits[name],
                "throttled_share": counters["rate_limited"] / max(calls, 1),
            }
        return result
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--accounts",
        action="store_true",
        help="Only the per-account accuracy run (2 nodes, two accounts).",
    )
    args = parser.parse_args()
    if args.accounts:
        with tempfile.TemporaryDirectory() as scratch:
            per_account = run_accounts(2, args.limit, Path(scratch))
        print(
            f"{'account':>8} {'limit/s':>8} {'delivered/s':>12} {'delivered/limit':>16} "
            f"{'429 share':>10}"
        )
        for name, row in per_account.items():
            print(
                f"{name:>8} {row['limit']:>8.0f} {row['rate']:>12.1f} "
                f"{row['limit_accuracy']:>16.3f} {row['throttled_share'] * 100:>9.2f}%"
            )
        return
    with tempfile.TemporaryDirectory() as scratch:
        rows = {n: run(n, args.limit, args.seconds, Path(scratch)) for n in (1, 2, 3)}
    print(
        f"{'nodes':>5} {'ingest ev/s':>12} {'delivery ev/s':>14} "
        f"{'delivered/limit':>16} {'429 share':>10}"
    )
    for n, row in rows.items():
        print(
            f"{n:>5} {row['ingest_events_per_s']:>12.0f} {row['delivery_events_per_s']:>14.0f} "
            f"{row['limit_accuracy']:>16.3f} {row['throttled_share'] * 100:>9.2f}%"
        )
    base = rows[1]
    print(
        "ratios to one node: ingest "
        + ", ".join(
            f"{n} nodes {rows[n]['ingest_events_per_s'] / base['ingest_events_per_s']:.2f}"
            for n in (2, 3)
        )
        + "; delivery "
        + ", ".join(
            f"{n} nodes "
            f"{rows[n]['delivery_events_per_s'] / max(base['delivery_events_per_s'], 1):.2f}"
            for n in (2, 3)
        )
    )


if __name__ == "__main__":
    main()
