"""How claiming scales with queue depth, and how fast the SQLite store takes events.

Not a test: run it by hand and compare ratios (the machine is noisy, ±10 %)::

    .venv/bin/python bench/store_claim.py            # 10,000 vs 1,000,000 queued
    .venv/bin/python bench/store_claim.py --big 200000 --dir /tmp

For each depth it fills a fresh file through the writer thread (batches of 100,
committed; that is the enqueue throughput), then runs steady-state cycles of
claim 10 → deliver 10 → enqueue 10 so the depth stays put, timing the claims. Users
are "many users, a few events each" (4 on average, spread over the queue) plus a few
heavy users with long backlogs whose heads are retrying, the case a naive
"earliest pending job not blocked" scan walks through on every claim.

Targets: claim cost at 1M within 1.5× of 10k; peak RSS with 1M queued ≤ 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sailbridge.store.base import Attempt, JobState, NewJob
from sailbridge.store.sqlite import SqliteStore

BATCH = 100
CLAIM = 10
HEAVY_USERS = 20
_ids = itertools.count()


def event(user: str, n: int) -> dict[str, object]:
    """A typical Segment track event (~500 bytes of JSON)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": user,
        "anonymousId": f"anon-{user}",
        "messageId": f"msg-{n}",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "properties": {
            "product_id": f"sku-{n % 977}",
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


def job(user: str) -> NewJob:
    """A job as ingest makes it; message ids are random UUIDs, as the SDKs send."""
    n = next(_ids)
    message_id = str(uuid.uuid4())
    payload = event(user, n) | {"messageId": message_id}
    return NewJob("wk", message_id, payload, "track", user, (user,), time.time())


def user_for(n: int, users: int) -> str:
    if n % 10 == 0:  # 10 % of the traffic: a few heavy users with long backlogs
        return f"heavy-{(n // 10) % HEAVY_USERS}"
    return f"user-{(n % users) * 2_654_435_761 % 2**32:08x}"  # scattered, like real ids


async def fill(store: SqliteStore, depth: int) -> float:
    """Enqueue ``depth`` jobs in batches of 100, one at a time; returns events per second
    counting only the time spent in `enqueue` (building the events is the bench's)."""
    users = max(depth // 4, 1)
    spent = 0.0
    for start in range(0, depth, BATCH):
        jobs = [job(user_for(n, users)) for n in range(start, min(start + BATCH, depth))]
        began = time.perf_counter()
        await store.enqueue(jobs, [], 86_400.0, time.time())
        spent += time.perf_counter() - began
    return depth / spent


async def fill_concurrently(
    store: SqliteStore, events: int, producers: int, dedupe_window: float = 86_400.0
) -> float:
    """Enqueue prepared batches from ``producers`` tasks at once (group commit)."""
    users = max(events // 4, 1)
    batches = [
        [job(user_for(n, users)) for n in range(start, min(start + BATCH, events))]
        for start in range(0, events, BATCH)
    ]
    pending = iter(batches)

    async def produce() -> None:
        for jobs in pending:
            await store.enqueue(jobs, [], dedupe_window, time.time())

    began = time.perf_counter()
    await asyncio.gather(*(produce() for _ in range(producers)))
    return events / (time.perf_counter() - began)


async def stall_heavy_users(store: SqliteStore) -> int:
    """Put every heavy user's head into a long retry: their backlogs stay blocked."""
    held, stalled = [], 0
    while stalled < HEAVY_USERS:
        claimed = await store.claim("staller", 1000, 3600.0, time.time())
        if not claimed:
            break
        for job_ in claimed:
            if job_.user_key.startswith("heavy-"):
                await store.retry_at(
                    job_.id, time.time() + 86_400.0, Attempt(time.time(), "retry"), worker="staller"
                )
                stalled += 1
            else:
                held.append(job_.id)
    await asyncio.gather(*(store.release(job_id, time.time(), worker="staller") for job_id in held))
    return stalled


async def steady_claims(store: SqliteStore, depth: int, cycles: int) -> list[float]:
    """Claim 10, deliver them, enqueue 10 more; returns the claim times in µs."""
    users = max(depth // 4, 1)
    times = []
    n = depth
    for _ in range(cycles):
        now = time.time()
        began = time.perf_counter()
        claimed = await store.claim("bench", CLAIM, 300.0, now)
        times.append((time.perf_counter() - began) * 1e6)
        for held in claimed:
            await store.finish(
                held.id, JobState.DELIVERED, Attempt(now, "delivered"), worker="bench"
            )
        await store.enqueue(
            [job(user_for(n + i, users)) for i in range(CLAIM)], [], 86_400.0, time.time()
        )
        n += CLAIM
    return times


async def measure(depth: int, folder: Path, cycles: int) -> dict[str, float]:
    path = folder / f"bench-{depth}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = await SqliteStore.open(path)
    try:
        rate = await fill(store, depth)
        await stall_heavy_users(store)
        await steady_claims(store, depth, 20)  # warm up
        times = await steady_claims(store, depth, cycles)
        began = time.perf_counter()
        for _ in range(50):
            counts = await store.counts()
        counts_us = (time.perf_counter() - began) / 50 * 1e6
    finally:
        await store.close()
    size = sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {
        "depth": depth,
        "enqueue_per_s": rate,
        "claim_mean_us": statistics.fmean(times),
        "claim_median_us": statistics.median(times),
        "claim_p99_us": sorted(times)[int(len(times) * 0.99)],
        "queued": counts.pending + counts.retrying,
        "counts_us": counts_us,
        "file_mb": size / 2**20,
        "rss_mb": peak_rss_mb(),
    }


async def concurrent_enqueue(
    folder: Path, events: int, producers: int, dedupe_window: float = 86_400.0
) -> float:
    path = folder / "bench-enqueue.db"
    store = await SqliteStore.open(path)
    try:
        return await fill_concurrently(store, events, producers, dedupe_window)
    finally:
        await store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        small = await measure(args.small, folder, args.cycles)
        big = await measure(args.big, folder, args.cycles)
        group = await concurrent_enqueue(folder, 100_000, producers=8)
        no_dedupe = await concurrent_enqueue(folder, 100_000, producers=8, dedupe_window=0)
    print(
        f"{'queued':>10} {'enqueue/s':>10} {'claim µs':>9} {'median':>7} {'p99':>7}"
        f" {'counts µs':>9} {'file MB':>8} {'peak RSS MB':>11}"
    )
    for row in (small, big):
        print(
            f"{row['queued']:>10,} {row['enqueue_per_s']:>10,.0f} {row['claim_mean_us']:>9.0f}"
            f" {row['claim_median_us']:>7.0f} {row['claim_p99_us']:>7.0f}"
            f" {row['counts_us']:>9.0f} {row['file_mb']:>8.0f} {row['rss_mb']:>11.0f}"
        )
    ratio = big["claim_mean_us"] / small["claim_mean_us"]
    print(f"claim cost ratio {args.big:,} / {args.small:,} queued: {ratio:.2f} (target ≤ 1.5)")
    print(f"peak RSS with {args.big:,} queued: {big['rss_mb']:.0f} MB (target ≤ 250 MB)")
    print(
        f"enqueue, batches of {BATCH}, 1 producer: {big['enqueue_per_s']:,.0f} events/s; "
        f"8 producers (group commit): {group:,.0f} events/s, "
        f"the same with dedupe off: {no_dedupe:,.0f} events/s"
    )
    print(f"pid {os.getpid()}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    asyncio.run(main())
