"""Delivery under crashes, faults and rate limits: nothing acknowledged is lost."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import requests

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .process import WRITE_KEY


def post_batch(url: str, events: list[dict[str, Any]]) -> None:
    """Send a batch the way Segment's SDK does; assert it was acknowledged."""
    response = requests.post(
        url + "/v1/batch", json={"batch": events}, auth=(WRITE_KEY, ""), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


def numbered_events(users: int, per_user: int, prefix: str) -> list[dict[str, Any]]:
    """Interleaved events: user u's n-th event carries ``seq`` n."""
    return [
        {
            "type": "track",
            "userId": f"{prefix}-{u}",
            "event": "Step",
            "messageId": f"{prefix}-{u}-{n}",
            "properties": {"seq": n},
        }
        for n in range(per_user)
        for u in range(users)
    ]


def delivered_sequences(sandbox: SandboxHandle, prefix: str) -> dict[str, list[int]]:
    """For each user, the seq values in the order Sailthru received them (first time each)."""
    sequences: dict[str, list[int]] = defaultdict(list)
    for request in sandbox.requests():
        if request["route"] != "POST /event" or request["status"] != 200:
            continue
        params = request["params"]
        if not str(params.get("id", "")).startswith(prefix):
            continue
        seq = params["vars"]["seq"]
        if seq not in sequences[params["id"]]:
            sequences[params["id"]].append(seq)
    return dict(sequences)


def test_kill_9_mid_delivery_loses_nothing_acknowledged(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    sandbox.configure(slow_rate=1.0, slow_seconds=0.05)
    service = serve_process(SAILBRIDGE_LEASE_TIMEOUT="2", SAILBRIDGE_CONCURRENCY="4")
    events = numbered_events(users=20, per_user=10, prefix="crash")
    for start in range(0, len(events), 50):
        post_batch(service.url, events[start : start + 50])
    time.sleep(1.0)
    service.kill()
    delivered_before = sum(len(s) for s in delivered_sequences(sandbox, "crash").values())
    assert 0 < delivered_before < len(events), "the kill should land mid-delivery"

    sandbox.configure(slow_rate=0.0)
    restarted = serve_process(
        SAILBRIDGE_LEASE_TIMEOUT="2", database=service.env["SAILBRIDGE_DATABASE"]
    )
    restarted.wait_until_settled(len(events), timeout=90)
    sequences = delivered_sequences(sandbox, "crash")
    assert len(sequences) == 20
    assert all(seq == list(range(10)) for seq in sequences.values()), sequences


def test_faulty_sailthru_still_gets_everything_in_per_user_order(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    sandbox.configure(fail_rate=0.15, slow_rate=0.05, slow_seconds=3.0, drop_rate=0.1)
    service = serve_process(SAILBRIDGE_REQUEST_TIMEOUT="1")
    events = numbered_events(users=30, per_user=8, prefix="fault")
    post_batch(service.url, events[:120])
    post_batch(service.url, events[120:])
    status = service.wait_until_settled(len(events), timeout=120)
    assert status["dead"] == 0
    counters = sandbox.state()["counters"]["faults"]
    assert counters["http_500"] + counters["http_200"] + counters["dropped"] > 20
    sequences = delivered_sequences(sandbox, "fault")
    assert len(sequences) == 30
    assert all(seq == list(range(8)) for seq in sequences.values()), sequences


def test_burst_over_the_rate_limit_runs_near_the_limit_with_few_429s(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    limit = 25
    sandbox.configure(rate_limits={"POST /event": limit}, rate_limit_window=1.0)
    service = serve_process()  # configured for Sailthru's default 40/s: the headers must win
    events = numbered_events(users=50, per_user=4, prefix="burst")
    started = time.monotonic()
    post_batch(service.url, events)
    service.wait_until_settled(len(events), timeout=60)
    elapsed = time.monotonic() - started
    throttled = sandbox.state()["counters"]["rate_limited"]
    assert throttled <= len(events) * 0.02, f"{throttled} 429s"
    assert elapsed >= len(events) / limit - 1.5  # never faster than the limit allows
    assert elapsed <= len(events) / limit * 1.6 + 2  # and not far slower
