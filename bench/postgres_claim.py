"""How claiming scales with queue depth on the PostgreSQL store, and how fast it takes events.

Not a test: run it by hand and compare ratios (the machine is noisy, ±10 %)::

    .venv/bin/python bench/postgres_claim.py            # 10,000 vs 1,000,000 queued
    .venv/bin/python bench/postgres_claim.py --url postgresql://root@127.0.0.1:5432/postgres

It works in databases of its own (created, then dropped). The same workload as
``bench/store_claim.py`` (SQLite): "many users, a few events each" plus a few heavy
users whose heads are retrying, so their long backlogs stay blocked. Each depth is
filled in bulk on the server (one INSERT … SELECT over generate_series, with the lines,
blockers, dedupe ids and counters a real enqueue would have written), vacuumed and
analysed as autovacuum would, then timed in steady-state cycles of claim 10 → deliver
10 → enqueue 10 through the store, so the depth stays put. Both depths stay open and
their cycles alternate in rounds, so load from elsewhere on the machine hits both
alike and the ratio stays meaningful. Enqueue throughput is
measured separately through `PostgresStore.enqueue` (batches of 100; one producer,
then eight on two nodes).

Target: claim cost at 1M within 1.5× of 10k.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from store_claim import (
    BATCH,
    CLAIM,
    HEAVY_USERS,
    event,
    job,
    user_for,
)

from sailbridge.store.base import Attempt, JobState
from sailbridge.store.postgres import PostgresStore

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"

FILL = """
INSERT INTO jobs (id, write_key, message_id, event, event_type, user_key, ordering_keys,
                  blockers, state, attempts, received_at, available_at, updated_at)
SELECT n + 1, 'wk', mid,
       replace(replace(replace(%(template)s::text, '__USER__', u), '__N__', n::text),
               '__MID__', mid)::json,
       'track', u, ARRAY[u],
       CASE WHEN row_number() OVER (PARTITION BY u ORDER BY n) = 1 THEN 0 ELSE 1 END,
       'pending', 0, %(now)s::float8, %(now)s::float8, %(now)s::float8
FROM (SELECT n, md5(n::text || %(salt)s::text)::uuid::text AS mid,
             CASE WHEN n %% 10 = 0 THEN 'heavy-' || ((n / 10) %% %(heavy)s::int)
                  ELSE 'user-' || lpad(to_hex(((n %% %(users)s::bigint) * 2654435761)
                                              %% 4294967296), 8, '0') END AS u
      FROM generate_series(0, %(depth)s::bigint - 1) AS n) AS generated
"""

AROUND_FILL = [
    "INSERT INTO job_keys (key, pos, job_id) SELECT user_key, id, id FROM jobs",
    "INSERT INTO lines (key) SELECT DISTINCT user_key FROM jobs",
    "INSERT INTO seen_messages (write_key, message_id, seen_at) "
    "SELECT write_key, message_id, updated_at FROM jobs",
    "INSERT INTO job_counts (name, shard, n) SELECT 'pending', 0, count(*) FROM jobs",
    "SELECT setval('jobs_id_seq', (SELECT max(id) FROM jobs))",
]

TABLES = (
    "jobs",
    "job_keys",
    "lines",
    "job_attempts",
    "seen_messages",
    "rejections",
    "job_counts",
    "control",
)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def event_template() -> str:
    """The bench's event as JSON text with placeholders the fill substitutes."""
    text = msgspec.json.encode(event("__USER__", 0) | {"messageId": "__MID__"}).decode()
    return text.replace('"sku-0"', '"sku-__N__"')


async def fill(url: str, depth: int) -> float:
    """Fill the queue with ``depth`` jobs on the server; returns the seconds it took."""
    began = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        async with conn.transaction():
            await conn.execute(
                FILL,
                {
                    "template": event_template(),
                    "now": time.time(),
                    "salt": secrets.token_hex(4),
                    "heavy": HEAVY_USERS,
                    "users": max(depth // 4, 1),
                    "depth": depth,
                },
            )
            for statement in AROUND_FILL:
                await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


async def stall_heavy_users(store: PostgresStore) -> int:
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
    for job_id in held:
        await store.release(job_id, time.time(), worker="staller")
    return stalled


async def steady_claims(store: PostgresStore, depth: int, cycles: int) -> list[float]:
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


async def claim_plan(url: str) -> str:
    """EXPLAIN of the claim's candidate scans, to see they use the partial indexes."""
    from sailbridge.store.postgres.connection import QUERIES

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "EXPLAIN " + QUERIES["claim"],
            {
                "worker": "x",
                "limit": CLAIM,
                "now": time.time(),
                "lease_until": time.time(),
                "shard": 0,
            },
        )
        lines = [row[0] for row in await cursor.fetchall()]
        await conn.rollback()
    return "\n".join(line for line in lines if "Index" in line or "Seq Scan" in line)


async def prepare(url: str, depth: int) -> PostgresStore:
    """A store on a queue of ``depth`` jobs, heavy users stalled, warmed up."""
    fill_seconds = await fill(url, depth)
    print(f"filled {depth:,} in {fill_seconds:.1f} s", flush=True)
    store = await PostgresStore.open(url, max_size=4)
    await stall_heavy_users(store)
    await steady_claims(store, depth, 20)
    return store


async def report(
    store: PostgresStore, url: str, times: list[float], explain: bool
) -> dict[str, float]:
    began = time.perf_counter()
    for _ in range(50):
        counts = await store.counts()
    counts_us = (time.perf_counter() - began) / 50 * 1e6
    depth = counts.pending + counts.retrying
    if explain:
        print(f"claim plan at {depth:,}:\n{await claim_plan(url)}")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        size = (
            await (await conn.execute("SELECT pg_database_size(current_database())")).fetchone()
        )[0]  # type: ignore[index]
    return {
        "claim_mean_us": statistics.fmean(times),
        "claim_median_us": statistics.median(times),
        "claim_p99_us": sorted(times)[int(len(times) * 0.99)],
        "queued": depth,
        "counts_us": counts_us,
        "db_mb": size / 2**20,
    }


async def enqueue_rate(
    url: str, events: int, producers: int, nodes: int, dedupe_window: float = 86_400.0
) -> float:
    """Events per second through `PostgresStore.enqueue`, batches of 100, from
    ``producers`` tasks spread over ``nodes`` stores (pools)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    stores = [
        await PostgresStore.open(url, max_size=max(producers // nodes, 1) + 1) for _ in range(nodes)
    ]
    users = max(events // 4, 1)
    batches = [
        [job(user_for(n, users)) for n in range(start, min(start + BATCH, events))]
        for start in range(0, events, BATCH)
    ]
    pending = iter(batches)

    async def produce(store: PostgresStore) -> None:
        for jobs in pending:
            await store.enqueue(jobs, [], dedupe_window, time.time())

    try:
        began = time.perf_counter()
        await asyncio.gather(*(produce(stores[n % nodes]) for n in range(producers)))
        return events / (time.perf_counter() - began)
    finally:
        for store in stores:
            await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("SAILBRIDGE_BENCH_POSTGRES_URL", DEFAULT_URL),
        help="a database on the server to create the bench's own from",
    )
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--enqueue-events", type=int, default=50_000)
    parser.add_argument("--explain", action="store_true", help="print the claim's plan")
    args = parser.parse_args()

    names = [f"sailbridge_bench_{secrets.token_hex(4)}" for _ in range(2)]
    async with await psycopg.AsyncConnection.connect(args.url, autocommit=True) as admin:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
    small_url, big_url = (with_database(args.url, name) for name in names)
    try:
        for url in (small_url, big_url):
            await (await PostgresStore.open(url)).close()  # migrate
        small_store = await prepare(small_url, args.small)
        big_store = await prepare(big_url, args.big)
        small_times: list[float] = []
        big_times: list[float] = []
        rounds = 10
        for _ in range(rounds):
            small_times += await steady_claims(small_store, args.small, args.cycles // rounds)
            big_times += await steady_claims(big_store, args.big, args.cycles // rounds)
        small = await report(small_store, small_url, small_times, args.explain)
        big = await report(big_store, big_url, big_times, args.explain)
        await small_store.close()
        await big_store.close()
        one = await enqueue_rate(small_url, args.enqueue_events, producers=1, nodes=1)
        many = await enqueue_rate(small_url, args.enqueue_events, producers=8, nodes=2)
        no_dedupe = await enqueue_rate(
            small_url, args.enqueue_events, producers=8, nodes=2, dedupe_window=0
        )
    finally:
        async with await psycopg.AsyncConnection.connect(args.url, autocommit=True) as admin:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"{'queued':>10} {'claim µs':>9} {'median':>7} {'p99':>7} {'counts µs':>9} {'db MB':>6}")
    for row in (small, big):
        print(
            f"{row['queued']:>10,} {row['claim_mean_us']:>9.0f}"
            f" {row['claim_median_us']:>7.0f} {row['claim_p99_us']:>7.0f}"
            f" {row['counts_us']:>9.0f} {row['db_mb']:>6.0f}"
        )
    ratio = big["claim_mean_us"] / small["claim_mean_us"]
    median_ratio = big["claim_median_us"] / small["claim_median_us"]
    print(
        f"claim cost ratio {args.big:,} / {args.small:,} queued: {ratio:.2f} "
        f"(medians {median_ratio:.2f}; target ≤ 1.5)"
    )
    print(
        f"enqueue, batches of {BATCH}: 1 producer {one:,.0f} events/s; 8 producers on 2 "
        f"nodes {many:,.0f} events/s, the same with dedupe off {no_dedupe:,.0f} events/s"
    )
    print(f"pid {os.getpid()}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    asyncio.run(main())
