"""What checking each pooled PostgreSQL connection before use costs ingest.

Usage::

    .venv/bin/python bench/pool_check.py [--seconds 5] [--rounds 3]

The store's pool checks a connection when it is taken (psycopg_pool's
``check_connection``: an empty query), so one the server closed — a restart, a
failover — is replaced instead of failing its caller (issue 19). That is one more
round trip per store call. Four callers accept one-event batches (ingest's
single-event requests, without HTTP) into a `PostgresStore` on a database of the
bench's own, with the check and without it (the pool class swapped, as the code
before issue 19 had it), alternating rounds; prints accepts/s and latency
percentiles, and the ratios checked ÷ unchecked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
import uuid
from typing import Any

import psycopg
from postgres_claim import DEFAULT_URL, with_database
from psycopg_pool import AsyncConnectionPool

from sailbridge.store.base import NewJob
from sailbridge.store.postgres import PostgresStore, connection

CALLERS = 4


class UncheckedPool(AsyncConnectionPool):
    """The pool as it was before: connections handed out unchecked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("check", None)
        super().__init__(*args, **kwargs)


async def one_round(url: str, seconds: float) -> tuple[float, list[float]]:
    store = await PostgresStore.open(url)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < deadline:
            message_id = str(uuid.uuid4())
            job = NewJob(
                "wk",
                message_id,
                {"type": "track", "event": "E", "userId": "u", "messageId": message_id},
                "track",
                "u",
                ("u",),
                time.time(),
            )
            started = time.perf_counter()
            await store.accept([job], [], 86_400.0, time.time())
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
    finally:
        await store.close()
    return len(latencies) / seconds, latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--url", default=os.environ.get("SAILBRIDGE_BENCH_POSTGRES_URL", DEFAULT_URL)
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"sailbridge_bench_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(args.url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.url, name)
    checked_pool = connection.AsyncConnectionPool
    results: dict[str, list[tuple[float, list[float]]]] = {"checked": [], "unchecked": []}
    try:
        for round_ in range(args.rounds):
            for mode in ("checked", "unchecked") if round_ % 2 == 0 else ("unchecked", "checked"):
                connection.AsyncConnectionPool = (  # type: ignore[misc]
                    checked_pool if mode == "checked" else UncheckedPool
                )
                results[mode].append(await one_round(url, args.seconds))
    finally:
        connection.AsyncConnectionPool = checked_pool  # type: ignore[misc]
        async with await psycopg.AsyncConnection.connect(args.url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    summary = {}
    for mode, rounds in results.items():
        every = [latency for _, round_latencies in rounds for latency in round_latencies]
        cuts = statistics.quantiles(every, n=100)
        summary[mode] = (
            statistics.median(rate for rate, _ in rounds),
            cuts[49] * 1000,
            cuts[98] * 1000,
        )
    print(f"{CALLERS} callers, one-event accepts, {args.rounds} rounds of {args.seconds} s each")
    print(f"{'pool':<12}{'accepts/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for mode, (rate, p50, p99) in summary.items():
        print(f"{mode:<12}{rate:>12,.0f}{p50:>10.2f}{p99:>10.2f}")
    checked, unchecked = summary["checked"], summary["unchecked"]
    print(
        f"checked / unchecked: rate {checked[0] / unchecked[0]:.2f}, "
        f"p50 {checked[1] / unchecked[1]:.2f}, p99 {checked[2] / unchecked[2]:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
