"""What SQLite's secure delete costs the embedded store, side by side in one run.

Usage::

    .venv/bin/python bench/secure_delete.py [--events 40000] [--rounds 2]

The store runs with ``PRAGMA secure_delete = ON`` so that forgetting a person leaves
no bytes behind (docs/operations.md). Deleting then overwrites: each sorted inbox row,
each finished job's line entries, each purged job. This drives a `SqliteStore` alone
(no HTTP) through the work that deletes — ``accept`` of 100-event batches from 16
concurrent callers, sorting the inbox, claiming and finishing every job, purging the
finished ones — with secure delete ON, FAST and OFF, alternating the order of rounds on
fresh files so machine load hits each alike, and prints the rates and their ratios to OFF.
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

from sailbridge.store.base import Attempt, JobState, NewJob
from sailbridge.store.sqlite import SqliteStore, connection

BATCH = 100
PRODUCERS = 16


def event(user: str, message_id: str) -> dict[str, Any]:
    """A typical Segment track event (~500 bytes of JSON)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": user,
        "messageId": message_id,
        "timestamp": "2024-05-01T12:00:00.000Z",
        "properties": {
            "product_id": "sku-1",
            "name": "Wool Socks",
            "price": 12.99,
            "currency": "USD",
            "category": "Apparel",
        },
        "context": {
            "library": {"name": "analytics-python", "version": "2.3.2"},
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
    }


def batch(size: int, users: int, start: int) -> list[NewJob]:
    jobs = []
    for n in range(start, start + size):
        user = f"user-{(n % users) * 2_654_435_761 % 2**32:08x}"
        message_id = str(uuid.uuid4())
        jobs.append(
            NewJob("wk", message_id, event(user, message_id), "track", user, (user,), time.time())
        )
    return jobs


async def one_round(path: Path, events: int) -> dict[str, float]:
    store = await SqliteStore.open(path)
    rates: dict[str, float] = {}
    try:
        batches = [batch(BATCH, max(events // 4, 1), start) for start in range(0, events, BATCH)]
        began = time.perf_counter()
        queue = list(batches)

        async def produce() -> None:
            while queue:
                await store.accept(queue.pop(), [], 86_400.0, time.time())

        await asyncio.gather(*(produce() for _ in range(PRODUCERS)))
        while (await store.counts()).inbox:
            await asyncio.sleep(0.01)
        rates["accept+sort"] = events / (time.perf_counter() - began)

        began = time.perf_counter()
        done = 0
        while done < events:
            jobs = await store.claim("w", 256, 60.0, time.time())
            await asyncio.gather(
                *(
                    store.finish(
                        job.id, JobState.DELIVERED, Attempt(time.time(), "delivered"), worker="w"
                    )
                    for job in jobs
                )
            )
            done += len(jobs)
        rates["claim+finish"] = events / (time.perf_counter() - began)

        began = time.perf_counter()
        while await store.purge_finished(time.time() + 1, limit=10_000):
            pass
        rates["purge"] = events / (time.perf_counter() - began)
    finally:
        await store.close()
    return rates


def with_secure_delete(mode: str) -> None:
    """Make every store connection opened from now on use secure delete ``mode``."""

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = connection.connect(*args, **kwargs)
        db.execute(f"PRAGMA secure_delete = {mode}")
        return db

    import sailbridge.store.sqlite.readers as readers_module
    import sailbridge.store.sqlite.store as store_module

    for module in (store_module, readers_module):  # the modules that open connections
        setattr(module, "connect", connect)  # noqa: B010 - the bench swaps it


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    modes = ["ON", "FAST", "OFF"]
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for mode in modes if round_ % 2 == 0 else modes[::-1]:
                with_secure_delete(mode)
                path = Path(folder) / f"r{round_}-{mode}.db"
                results[mode].append(await one_round(path, args.events))
    print(f"{args.events} events per round, {args.rounds} rounds each, median events/s")
    print(
        f"{'phase':<14}"
        + "".join(f"{mode:>10}" for mode in modes)
        + "".join(f"{mode + ' / OFF':>12}" for mode in modes[:-1])
    )
    for phase in ("accept+sort", "claim+finish", "purge"):
        rates = {mode: statistics.median(r[phase] for r in results[mode]) for mode in modes}
        print(
            f"{phase:<14}"
            + "".join(f"{rates[mode]:>10,.0f}" for mode in modes)
            + "".join(f"{rates[mode] / rates['OFF']:>12.2f}" for mode in modes[:-1])
        )


if __name__ == "__main__":
    asyncio.run(main())
