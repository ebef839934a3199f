"""A `kill -9` while a merged call is in flight loses nothing (SPEC §13, §7)."""

from __future__ import annotations

import time
from typing import Any

from sailbridge.sandbox.server import SandboxHandle

from .conftest import StartServe
from .test_reliability import post_batch

USERS = 3
PER_USER = 6


def identifies() -> list[dict[str, Any]]:
    """Each user's identifies, interleaved: the n-th sets ``step`` n and ``var_n``."""
    return [
        {
            "type": "identify",
            "userId": f"crash-{u}",
            "messageId": f"crash-{u}-{n}",
            "traits": {"step": n, f"var_{n}": True},
        }
        for n in range(PER_USER)
        for u in range(USERS)
    ]


def test_kill_9_mid_merged_call_loses_nothing_and_keeps_the_order(
    sandbox: SandboxHandle, serve_process: StartServe
) -> None:
    # Queue first (no delivery), so each user's identifies wait together.
    ingest = serve_process("--ingest-only")
    post_batch(ingest.url, identifies())
    while ingest.admin("/status")["not_yet_sorted"]:
        time.sleep(0.05)
    ingest.terminate()

    sandbox.configure(slow_rate=1.0, slow_seconds=5.0)  # the merged calls hang
    # ... within the request timeout: a call timed out would rightly be made again (it
    # may have been applied), and those second calls, in flight at the kill too, would
    # be applied by Sailthru as well.
    service = serve_process(
        SAILBRIDGE_LEASE_TIMEOUT="2",
        SAILBRIDGE_REQUEST_TIMEOUT="30",
        database=ingest.env["SAILBRIDGE_DATABASE"],
    )
    deadline = time.monotonic() + 20
    while not any(r["route"] == "POST /user" for r in sandbox.requests()):
        assert time.monotonic() < deadline, "no merged call was made"
        time.sleep(0.05)
    service.kill()
    first = next(r for r in sandbox.requests() if r["route"] == "POST /user")
    assert len(first["params"]["vars"]) == PER_USER + 1  # a merged call was in flight

    sandbox.configure(slow_rate=0.0)
    restarted = serve_process(
        SAILBRIDGE_LEASE_TIMEOUT="2", database=ingest.env["SAILBRIDGE_DATABASE"]
    )
    status = restarted.wait_until_settled(USERS * PER_USER, timeout=90)
    assert status["delivered"] == USERS * PER_USER and status["dead"] == 0
    for u in range(USERS):
        profile = sandbox.user(f"crash-{u}")
        assert profile is not None
        assert profile["vars"] == {
            "step": PER_USER - 1,
            **{f"var_{n}": True for n in range(PER_USER)},
        }
    # Beyond the calls in flight at the kill (one merged call per user at most), each
    # event was delivered once: the lines came back one job at a time, in order. A merged
    # call the sandbox refused delivered nothing (its events then go one by one), so only
    # accepted calls count.
    posts = [r for r in sandbox.requests() if r["route"] == "POST /user"]
    accepted = [r for r in posts if r["status"] == 200 and r["error"] is None]
    assert len(accepted) <= USERS + USERS * PER_USER
