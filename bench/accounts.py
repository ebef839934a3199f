"""Isolation between accounts: does one account's trouble slow another's delivery?

One `sailbridge serve` with two accounts, each on its own sandbox (all processes on
this machine), fed by two sources (one write key per account). Account ``steady`` gets
a steady stream of single events (``--rate`` per second through /v1/track); its wait —
from the event's receipt to the start of its delivery, read from each job's record — is
measured in four phases of one run, side by side:

1. alone;
2. while account ``storm`` has a backlog of ``--storm`` events and its sandbox allows
   only 2 calls/s on POST /event against a configured 300/s (nearly every call answered
   429 by the limit, for the whole phase);
3. while ``storm``'s sandbox answers 429 to every call whatever the limit says
   (``throttle_rate`` 1: a sustained 429 storm);
4. while ``storm``'s Sailthru is down: every call hangs (``slow_rate`` 1, far past
   sailbridge's ``--request-timeout``), so each times out.

Reported: p50 / p99 of the steady account's wait in each phase, each p99 over the
alone one, and what the storm account's sandbox saw. Its fair share of the worker's
slots (`delivery/fairness.py`) and its own (account, route) limiter are what keep the
ratios near 1.

    cd bench && python accounts.py [--rate 40] [--seconds 10] [--storm 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from multinode import ADMIN_TOKEN, Processes, free_port, wait_healthy  # type: ignore[import-not-found]

STEADY_KEY = "wk_steady"
STORM_KEY = "wk_storm"


class Deployment(Processes):
    def __init__(self, scratch: Path, request_timeout: float) -> None:
        super().__init__()
        self.steady = self._sandbox("steady", [], scratch)
        self.storm = self._sandbox(
            "storm", ["--rate-limit", "POST /event=2/s", "--rate-limit-window", "1"], scratch
        )
        config = scratch / "accounts.toml"
        config.write_text(
            f'[[accounts]]\nname = "steady"\nsailthru_api_key = "key-steady"\n'
            f'sailthru_api_secret = "secret-steady"\nsailthru_base_url = "{self.steady}"\n\n'
            f'[[accounts]]\nname = "storm"\nsailthru_api_key = "key-storm"\n'
            f'sailthru_api_secret = "secret-storm"\nsailthru_base_url = "{self.storm}"\n'
            f'rate_limits = "POST /event=300/s"\n\n'
            f'[[sources]]\nname = "steady"\nwrite_keys = ["{STEADY_KEY}"]\n'
            f'accounts = ["steady"]\n\n'
            f'[[sources]]\nname = "storm"\nwrite_keys = ["{STORM_KEY}"]\n'
            f'accounts = ["storm"]\n'
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.database = str(scratch / "sailbridge.db")
        env = {
            "PATH": "/usr/bin:/bin",
            "SAILBRIDGE_PORT": str(port),
            "SAILBRIDGE_DATABASE": self.database,
            "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SAILBRIDGE_REQUEST_TIMEOUT": str(request_timeout),
        }
        node = self._spawn(
            ["serve", "--log-level", "warning", "--config", str(config)], env, scratch / "serve.log"
        )
        wait_healthy(self.url + "/healthz", node)

    def _sandbox(self, name: str, extra: list[str], scratch: Path) -> str:
        url = f"http://127.0.0.1:{free_port()}"
        process = self._spawn(
            [
                "sandbox",
                "--port",
                url.rsplit(":", 1)[1],
                "--api-key",
                f"key-{name}",
                "--api-secret",
                f"secret-{name}",
                *extra,
            ],
            {"PATH": "/usr/bin:/bin"},
            scratch / f"sb-{name}.log",
        )
        wait_healthy(url + "/_sandbox/state", process)
        return url

    def admin(self, path: str) -> Any:
        return requests.get(
            self.url + "/admin" + path,
            timeout=30,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()


def steady_stream(deployment: Deployment, tag: str, rate: float, seconds: float) -> None:
    """``rate`` single events a second for ``seconds`` to the steady account."""
    session = requests.Session()
    session.auth = (STEADY_KEY, "")
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        session.post(
            deployment.url + "/v1/track",
            json={
                "userId": f"{tag}-{n % 50}",
                "event": "Steady",
                "messageId": f"{tag}-{n}",
                "properties": {"phase": tag},
            },
            timeout=30,
        ).raise_for_status()


async def steady_waits(database: str, tag: str) -> list[float]:
    """Receipt → first delivery attempt of each delivered event of the steady account
    tagged ``tag``, read from the job records."""
    from sailbridge.store.base import JobQuery, ListState
    from sailbridge.store.factory import open_store

    store = await open_store(database, create=False)
    try:
        page = await store.find_jobs(
            JobQuery(state=ListState.DELIVERED, account="steady", limit=100_000, scan=None)
        )
    finally:
        await store.close()
    return [
        job.history[0].at - job.received_at
        for job in page.items
        if job.history and job.event.get("properties", {}).get("phase") == tag
    ]


def configure_storm(deployment: Deployment, **changes: float) -> None:
    """Change the storm account's sandbox at runtime (its fault switches)."""
    requests.post(
        deployment.storm + "/_sandbox/config", json=changes, timeout=30
    ).raise_for_status()


def wait_delivered(deployment: Deployment, tag: str, count: int) -> list[float]:
    deadline = time.monotonic() + 120
    found: list[float] = []
    while time.monotonic() < deadline:
        found = asyncio.run(steady_waits(deployment.database, tag))
        if len(found) >= count:
            break
        time.sleep(1)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


PHASES = (
    ("alone", "alone"),
    ("storm", "429s from the limit"),
    ("throttled", "429 to every call"),
    ("outage", "calls hanging"),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--storm", type=int, default=3000)
    parser.add_argument(
        "--request-timeout", type=float, default=5.0, help="sailbridge's, in the outage phase"
    )
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    waits: dict[str, list[float]] = {}
    seen: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        deployment = Deployment(Path(scratch), args.request_timeout)
        try:
            steady_stream(deployment, "alone", args.rate, args.seconds)
            waits["alone"] = wait_delivered(deployment, "alone", count)
            storm = [
                {
                    "type": "track",
                    "userId": f"s{n % 500}",
                    "event": "Storm",
                    "messageId": f"storm-{n}",
                }
                for n in range(args.storm)
            ]
            for first in range(0, len(storm), 500):
                requests.post(
                    deployment.url + "/v1/batch",
                    json={"batch": storm[first : first + 500]},
                    auth=(STORM_KEY, ""),
                    timeout=60,
                ).raise_for_status()
            trouble = {
                "storm": {},
                "throttled": {"throttle_rate": 1.0},
                "outage": {"throttle_rate": 0.0, "slow_rate": 1.0, "slow_seconds": 600.0},
            }
            for tag, _ in PHASES[1:]:
                before = storm_calls(deployment)
                configure_storm(deployment, **trouble[tag])
                time.sleep(2)  # the trouble is under way: the storm account's slots are in it
                steady_stream(deployment, tag, args.rate, args.seconds)
                waits[tag] = wait_delivered(deployment, tag, count)
                after = storm_calls(deployment)
                seen[tag] = {name: after[name] - before[name] for name in after}
            status = deployment.admin("/status?account=storm")
        finally:
            deployment.close()
    print(
        f"steady account, {args.rate:.0f} events/s for {args.seconds:.0f} s a phase; wait "
        "from receipt to delivery start (ms); the other account:"
    )
    print(f"{'other account':>22} {'events':>7} {'p50':>8} {'p99':>8} {'p99/alone':>10}")
    alone_p99 = max(percentile(waits["alone"], 0.99), 1e-9)
    for tag, label in PHASES:
        values = waits[tag]
        print(
            f"{label:>22} {len(values):>7} {percentile(values, 0.5) * 1000:>8.1f} "
            f"{percentile(values, 0.99) * 1000:>8.1f} "
            f"{percentile(values, 0.99) / alone_p99:>10.2f}"
        )
    for tag, label in PHASES[1:]:
        changes = seen[tag]
        print(
            f"storm account, {label}: {changes['answered']} calls answered "
            f"({changes['rate_limited']} of them 429), {changes['timed_out']} timed out"
        )
    print(
        f"storm account at the end: {status['delivered']} delivered, {status['dead']} dead, "
        f"{status['pending'] + status['retrying'] + status['in_flight']} still queued"
    )


def storm_calls(deployment: Deployment) -> dict[str, int]:
    """The storm account's calls so far: answered and answered 429 (its sandbox's
    counters), and timed out (sailbridge's ``status="error"`` responses: a hanging call
    is recorded by the sandbox only once it answers)."""
    from prometheus_client.parser import text_string_to_metric_families

    counters = requests.get(deployment.storm + "/_sandbox/state", timeout=30).json()["counters"]
    metrics = requests.get(deployment.url + "/metrics", timeout=30).text
    timed_out = sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "sailbridge_sailthru_responses_total"
        and sample.labels.get("account") == "storm"
        and sample.labels.get("status") == "error"
    )
    return {
        "answered": sum(counters["requests"].values()),
        "rate_limited": counters["rate_limited"],
        "timed_out": int(timed_out),
    }


if __name__ == "__main__":
    main()
