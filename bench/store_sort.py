"""What sorting the SQLite inbox into the queue costs an event, statement by statement.

Not a test: run it by hand (``bench/compare.py ... store_sort`` runs it on two trees)::

    .venv/bin/python bench/store_sort.py [--events 30000] [--step 2000] [--users 10000]

Sorting is what sustained ingest is bound by (docs/benchmarks.md, issue 18): a request
is answered once its events are in the inbox, and the writer thread then places each
event in the queue (de-duplication, the user's line, the job's row and indexes). This
fills a fresh file through the store as single-event requests arrive (analytics.js
events, unique messageIds, users scattered over ``--users``; groups of 14 requests, as
the coalescer joins them under load), closes it with everything still in the inbox,
then sorts it on this thread with the store's own code, ``--step`` events a
transaction (2,000: a backlog with nothing waiting; ~100: while ingest is busy).

Reported, in CPU µs an event: ``work`` (everything before COMMIT: the statements and
the Python around them), ``commit`` (writing the dirtied pages to the WAL), and each
named statement's share of ``work``. No checkpoint runs meanwhile (the store's
checkpointer is not started), so the WAL grows: compare trees, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sailbridge.intake.sorting import Sorter
from sailbridge.store.sqlite import SqliteStore
from sailbridge.store.sqlite import transaction as transaction_module
from sailbridge.store.sqlite.connection import connect
from sailbridge.store.sqlite.intake import Intake
from sailbridge.store.sqlite.writer import _add_counts

WRITE_KEY = "wk_bench"
GROUP = 14
DEDUPE_WINDOW = 86_400.0


def event(number: int, users: int) -> bytes:
    """An analytics.js track event as a single-event request carries it."""
    return json.dumps(
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": f"user-{(number * 7919) % users}",
            "messageId": f"ajs-x-{number}",
            "timestamp": "2024-05-01T12:30:15.250Z",
            "sentAt": "2024-05-01T12:30:15.300Z",
            "properties": {
                "product_id": f"sku-{number % 97}",
                "name": "Blue Shirt",
                "price": 19.99,
                "category": "apparel",
            },
            "context": {
                "library": {"name": "analytics.js", "version": "next-1.70.0"},
                "page": {"url": "https://shop.example/p/blue-shirt", "path": "/p/blue-shirt"},
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
                "locale": "en-US",
            },
            "writeKey": WRITE_KEY,
        },
        separators=(",", ":"),
    ).encode()


async def fill(path: Path, events: int, users: int) -> None:
    """The events accepted into the inbox of a fresh store, none sorted."""
    store = await SqliteStore.open(path)
    writer: Any = store._writer  # a bench: keep the inbox as accepted
    writer._can_sort = lambda: False
    sorter = Sorter()
    jobs = [
        sorter.sort_single(event(n, users), "track", None, time.time(), lambda key: key or "").jobs[
            0
        ]
        for n in range(events)
    ]
    for start in range(0, events, GROUP):
        await store.accept(jobs[start : start + GROUP], [], DEDUPE_WINDOW, time.time())
    await store.close()


def timed(method: Callable[..., Any], spent: Counter[str]) -> Callable[..., Any]:
    def run(self: Any, name: str, params: Any) -> Any:
        started = time.thread_time()
        try:
            return method(self, name, params)
        finally:
            spent[name] += time.thread_time() - started

    return run


def sort(path: Path, step: int) -> tuple[int, float, float, Counter[str]]:
    """Sort the whole inbox in ``step``-event transactions; events, CPU seconds of
    work and of COMMIT, and CPU seconds by statement."""
    spent: Counter[str] = Counter()
    tx_class: Any = transaction_module.Tx
    tx_class.run = timed(tx_class.run, spent)
    tx_class.run_many = timed(tx_class.run_many, spent)
    db = connect(path)
    intake = Intake()
    events = 0
    work = commit = 0.0
    while True:
        started = time.thread_time()
        db.execute("BEGIN IMMEDIATE")
        tx = transaction_module.Tx(db)
        outcome = intake.sort(tx, step)
        _add_counts(db, tx.counts)
        worked = time.thread_time()
        db.execute("COMMIT")
        work += worked - started
        commit += time.thread_time() - worked
        events += outcome.events
        if not outcome.more:
            break
    db.close()
    return events, work, commit, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--step", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sort.db"
        asyncio.run(fill(path, args.events, args.users))
        events, work, commit, spent = sort(path, args.step)
    per_event = 1e6 / events
    print(f"sorted {events} events in steps of {args.step}")
    print(f"work {work * per_event:.2f} µs an event, commit {commit * per_event:.2f} µs an event")
    for name, seconds in spent.most_common():
        print(f"  {name:24s} {seconds * per_event:6.2f} µs an event")
    python = work - sum(spent.values())
    print(f"  {'(Python around them)':24s} {python * per_event:6.2f} µs an event")


if __name__ == "__main__":
    main()
