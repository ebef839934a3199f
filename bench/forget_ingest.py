"""Does forgetting a person hold ingest? Accept latency during a forget, side by side.

Usage::

    .venv/bin/python bench/forget_ingest.py [--retained 1000000] [--seconds 6]

A `SqliteStore` (no HTTP: the store's accept is what a forget could hold) holding
``--retained`` finished jobs, ~500-byte events of 10,000 users. Four callers accept
one-event batches back to back, as ingest's single-event requests do, for
``--seconds`` without a forget, then for as long as one person (with a remembered
email, so the payload search runs too) is being forgotten; then the same against a store with no
retained jobs. Prints the accept latency percentiles of each phase and the ratio of
p99 during the forget to p99 without one. Run it on this tree and on the tree before
the change (``PYTHONPATH=<other tree>/src``) to compare; the machine is shared, so
the ratios within one run are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import secure_delete  # bench/: run as a script, its folder is on the path

from sailbridge.mapping.plan import RememberEmail
from sailbridge.store.base import NewJob
from sailbridge.store.sqlite import SqliteStore

CALLERS = 4
USERS = 10_000


def event(user: str, message_id: str) -> dict[str, Any]:
    """secure_delete's typical track event, with the user's email in its properties."""
    typical = secure_delete.event(user, message_id)
    return {**typical, "properties": {**typical["properties"], "email": f"{user}@example.com"}}


def fill(path: Path, retained: int) -> None:
    """``retained`` delivered jobs written straight into the (migrated) file."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    now = time.time()
    rows = []
    for n in range(retained):
        user = f"user-{n % USERS}"
        rows.append(
            (
                "wk",
                f"m-{n}",
                msgspec.json.encode(event(user, f"m-{n}")),
                "track",
                user,
                f'["{user}"]',
                "delivered",
                1,
                now,
                now,
                now,
            )
        )
        if len(rows) == 50_000:
            db.executemany(INSERT, rows)
            rows = []
    db.executemany(INSERT, rows)
    db.execute("COMMIT")
    db.close()


INSERT = (
    "INSERT INTO jobs (write_key, message_id, event, event_type, user_key, ordering_keys,"
    " state, attempts, received_at, available_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def accept_latencies(
    store: SqliteStore, until: asyncio.Future[None]
) -> list[tuple[float, float]]:
    """(when it started, how long it took) of every accept until ``until``."""
    latencies: list[tuple[float, float]] = []

    async def caller() -> None:
        while not until.done():
            message_id = str(uuid.uuid4())
            job = NewJob(
                "wk",
                message_id,
                event("live-user", message_id),
                "track",
                "live-user",
                ("live-user",),
                time.time(),
            )
            started = time.perf_counter()
            await store.accept([job], [], 86_400.0, time.time())
            latencies.append((started, time.perf_counter() - started))

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return latencies


async def phase(store: SqliteStore, seconds: float, forget: bool) -> tuple[list[float], float]:
    """Accept latencies over ``seconds`` of accepts, or (``forget``) of the accepts
    started while the forget ran; and how long the forget took."""
    loop = asyncio.get_running_loop()
    until: asyncio.Future[None] = loop.create_future()
    measuring = asyncio.ensure_future(accept_latencies(store, until))
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    if forget:
        await store.forget("user-42")
    else:
        await asyncio.sleep(seconds)
    ended = time.perf_counter()
    await asyncio.sleep(0.2)
    until.set_result(None)
    window = [took for at, took in await measuring if started <= at <= ended]
    return window, ended - started


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=1000)
    return {"p50": cuts[499] * 1000, "p99": cuts[989] * 1000, "max": max(values) * 1000}


async def one_store(path: Path, retained: int, seconds: float) -> dict[str, Any]:
    store = await SqliteStore.open(path)
    await store.close()
    fill(path, retained)
    store = await SqliteStore.open(path)
    try:
        await store.apply([RememberEmail("user-42", "user-42@example.com")])
        quiet, _ = await phase(store, seconds, forget=False)
        during, took = await phase(store, seconds, forget=True)
    finally:
        await store.close()
    return {"quiet": percentiles(quiet), "during": percentiles(during), "forget_s": took}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--retained", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {
            f"{args.retained:,} retained": await one_store(
                Path(folder) / "full.db", args.retained, args.seconds
            ),
            "0 retained": await one_store(Path(folder) / "empty.db", 0, args.seconds),
        }
    print(f"accept latency (ms), {CALLERS} callers of one-event batches")
    print(f"{'store':<20}{'phase':<14}{'p50':>8}{'p99':>9}{'max':>9}{'forget s':>10}")
    for name, result in results.items():
        for label in ("quiet", "during"):
            cut = result[label]
            took = f"{result['forget_s']:.2f}" if label == "during" else ""
            print(
                f"{name:<20}{label:<14}{cut['p50']:>8.2f}{cut['p99']:>9.2f}{cut['max']:>9.1f}"
                f"{took:>10}"
            )
    full = results[f"{args.retained:,} retained"]
    print(
        f"p99 during forget / p99 without: {full['during']['p99'] / full['quiet']['p99']:.2f} "
        f"({args.retained:,} retained); during forget on {args.retained:,} / during forget "
        f"on 0: {full['during']['p99'] / results['0 retained']['during']['p99']:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
