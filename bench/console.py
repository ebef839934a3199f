"""How fast the console's pages are with a million queued events, against 10,000.

Not a test: run it by hand and compare the ratios (the machine is noisy)::

    .venv/bin/python bench/console.py                      # SQLite, 10,000 vs 1,000,000
    .venv/bin/python bench/console.py --postgres postgresql://root@127.0.0.1/postgres
    .venv/bin/python bench/console.py --big 200000 --dir /tmp

For each size it fills a fresh store in bulk (one transaction of executemany on
SQLite; ``COPY`` on PostgreSQL — the rows the store itself would have written: jobs,
their lines, history, counters), then serves both stores at once with the real
``serve`` app (ingest only: no worker, so the queues stay as filled), logs in to each
and requests every console page ``--repeat`` times, the two sizes taking turns
request by request (so a busy moment on a shared machine slows both alike), and
reports the median. The mix: 94 % pending (about 20 events a
user, so most wait behind their user's first), 1 % retrying, 3 % delivered and 2 %
dead over the last hour, plus rejections; a few events carry a rare name so the
event-name filter has to search.

Target: every page at 1M within 2× of its time at 10k, and well under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import msgspec
import requests

from sailbridge.service import Roles, running_service
from sailbridge.settings import load_settings
from sailbridge.store.base import Attempt
from sailbridge.store.sqlite.connection import connect, migrate

TOKEN = "bench-console-admin-token-0123"
EVENTS_PER_USER = 20
NAMES = ["Product Viewed", "Product Added", "Order Completed", "Signed Up", "Played Game"]
RARE = "Rare Event"
RARE_EVERY = 50_000
REASONS = [
    "Unknown template: winback",
    "User not found with extid",
    "Invalid email",
    "gave up after 31 attempts over the retry window: no answer within 30 s",
]

_encode = msgspec.json.encode


@dataclass(frozen=True)
class Row:
    """One job as the stores keep it."""

    id: int
    user: str
    name: str
    state: str
    attempts: int
    received_at: float
    updated_at: float
    available_at: float
    reason: str | None
    blockers: int
    attempt: bytes | None


def rows(n: int, now: float, seed: int = 7) -> Iterator[Row]:
    """The bench's mix of ``n`` jobs, in id order."""
    rng = random.Random(seed)
    users = max(1, n // EVENTS_PER_USER)
    waiting: set[str] = set()  # users with an unfinished job so far (their line is busy)
    for job_id in range(1, n + 1):
        user = f"user-{rng.randrange(users)}"
        name = RARE if job_id % RARE_EVERY == 7 else rng.choice(NAMES)
        roll = rng.random()
        received = now - 3600 + 3600 * job_id / n
        if roll < 0.03:
            state, attempts, reason = "delivered", 1, None
        elif roll < 0.05:
            state, attempts, reason = "dead", 1, f"Sailthru error 14: {rng.choice(REASONS)}"
        elif roll < 0.06:
            state, attempts, reason = "pending", 2, None
        else:
            state, attempts, reason = "pending", 0, None
        updated = received + rng.random() * (now - received)
        attempt = None
        if attempts:
            outcome = {"delivered": "delivered", "dead": "dead"}.get(state, "retry")
            attempt = _encode(
                Attempt(
                    at=updated,
                    outcome=outcome,
                    requests=[
                        {
                            "api": "rest",
                            "method": "POST",
                            "endpoint": "/event",
                            "params": {"id": user, "key": "extid", "event": name},
                        }
                    ],
                    status=None if outcome == "delivered" else 400,
                    code=None if outcome == "delivered" else 14,
                    message=reason,
                )
            )
        blockers = 0
        if state == "pending":
            blockers = 1 if user in waiting else 0
            waiting.add(user)
        yield Row(
            job_id,
            user,
            name,
            state,
            attempts,
            received,
            updated,
            now + 600 if attempts and state == "pending" else received,
            reason,
            blockers,
            attempt,
        )


def event_json(row: Row) -> bytes:
    return _encode(
        {
            "type": "track",
            "event": row.name,
            "userId": row.user,
            "messageId": f"bench-{row.id}",
            "properties": {"sku": f"sku-{row.id % 977}", "price": 12.99},
        }
    )


def fill_sqlite(path: Path, n: int, now: float) -> None:
    db = connect(path)
    migrate(db)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    counts = {"pending": 0, "retrying": 0, "delivered": 0, "dead": 0}
    chunk: list[Row] = []

    def flush() -> None:
        db.executemany(
            "INSERT INTO jobs (id, write_key, message_id, event, event_type, user_key,"
            " ordering_keys, blockers, state, attempts, received_at, first_attempt_at,"
            " available_at, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    r.id,
                    "wk",
                    f"bench-{r.id}",
                    event_json(r),
                    "track",
                    r.user,
                    _encode([r.user]),
                    r.blockers,
                    r.state,
                    r.attempts,
                    r.received_at,
                    r.updated_at if r.attempts else None,
                    r.available_at,
                    r.reason,
                    r.updated_at,
                )
                for r in chunk
            ],
        )
        db.executemany(
            "INSERT INTO job_keys (key, pos, job_id) VALUES (?,?,?)",
            [(r.user, r.id, r.id) for r in chunk if r.state == "pending"],
        )
        db.executemany(
            "INSERT INTO job_attempts (job_id, seq, attempt) VALUES (?,1,?)",
            [(r.id, r.attempt) for r in chunk if r.attempt is not None],
        )
        chunk.clear()

    for row in rows(n, now):
        counts["retrying" if row.state == "pending" and row.attempts else row.state] += 1
        chunk.append(row)
        if len(chunk) >= 20_000:
            flush()
    flush()
    rejections = max(1, n // 1000)
    db.executemany(
        "INSERT INTO rejections (write_key, message_id, raw, reason, received_at)"
        " VALUES (?,?,?,?,?)",
        [
            ("wk", f"rej-{i}", '{"type": "track"}', "track needs an event name", now - i)
            for i in range(rejections)
        ],
    )
    for name, total in [*counts.items(), ("rejected", rejections)]:
        db.execute("UPDATE job_counts SET n = ? WHERE name = ?", (total, name))
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


async def fill_postgres(url: str, n: int, now: float) -> None:
    """COPY the same rows into an emptied sailbridge schema."""
    import psycopg

    from sailbridge.store.postgres import PostgresStore

    store = await PostgresStore.open(url)
    await store.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "TRUNCATE jobs, job_keys, lines, job_attempts, rejections, "
            "job_counts, control, seen_messages"
        )
        counts = {"pending": 0, "retrying": 0, "delivered": 0, "dead": 0}
        users: set[str] = set()
        async with conn.cursor() as cursor:
            async with cursor.copy(
                "COPY jobs (id, write_key, message_id, event, event_type, user_key,"
                " ordering_keys, blockers, state, attempts, received_at, first_attempt_at,"
                " available_at, reason, updated_at) FROM STDIN"
            ) as copy:
                keys: list[tuple[str, int, int]] = []
                attempts: list[tuple[int, str]] = []
                for r in rows(n, now):
                    counts["retrying" if r.state == "pending" and r.attempts else r.state] += 1
                    await copy.write_row(
                        (
                            r.id,
                            "wk",
                            f"bench-{r.id}",
                            event_json(r).decode(),
                            "track",
                            r.user,
                            [r.user],
                            r.blockers,
                            r.state,
                            r.attempts,
                            r.received_at,
                            r.updated_at if r.attempts else None,
                            r.available_at,
                            r.reason,
                            r.updated_at,
                        )
                    )
                    if r.state == "pending":
                        keys.append((r.user, r.id, r.id))
                        users.add(r.user)
                    if r.attempt is not None:
                        attempts.append((r.id, r.attempt.decode()))
            async with cursor.copy("COPY job_keys (key, pos, job_id) FROM STDIN") as copy:
                for key in keys:
                    await copy.write_row(key)
            async with cursor.copy("COPY lines (key) FROM STDIN") as copy:
                for user in users:
                    await copy.write_row((user,))
            async with cursor.copy("COPY job_attempts (job_id, attempt) FROM STDIN") as copy:
                for attempt in attempts:
                    await copy.write_row(attempt)
        rejections = max(1, n // 1000)
        async with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY rejections (write_key, message_id, raw, reason, received_at) FROM STDIN"
            ) as copy,
        ):
            for i in range(rejections):
                await copy.write_row(
                    ("wk", f"rej-{i}", '{"type": "track"}', "track needs an event name", now - i)
                )
        for name, total in [*counts.items(), ("rejected", rejections)]:
            await conn.execute(
                "INSERT INTO job_counts (name, shard, n) VALUES (%s, 0, %s)", (name, total)
            )
        await conn.execute(f"SELECT setval('jobs_id_seq', {n})")
        await conn.execute("VACUUM ANALYZE jobs")
        await conn.execute("VACUUM ANALYZE job_attempts")


def pages(n: int) -> list[tuple[str, str, dict[str, str] | None]]:
    """(label, path, form to POST or None) for every console page, sized to ``n``."""
    middle = n // 2
    return [
        ("overview", "/console/", None),
        ("events, all", "/console/events", None),
        ("events, pending", "/console/events?state=pending", None),
        (
            "events, pending, page at the middle",
            f"/console/events?state=pending&before={middle}",
            None,
        ),
        ("events, retrying", "/console/events?state=retrying", None),
        ("events, delivered", "/console/events?state=delivered", None),
        ("events, dead", "/console/events?state=dead", None),
        ("events, rejected", "/console/events?state=rejected", None),
        ("events, by user", "/console/events?user=user-7", None),
        ("events, by rare name (searches)", f"/console/events?event={RARE}", None),
        ("events, dead by reason", "/console/events?state=dead&reason=winback", None),
        ("event page (dead, with history)", "/console/events/{dead_id}", None),
        ("dead letters", "/console/dead", None),
        ("dead letters by reason", "/console/dead?reason=Invalid+email", None),
        (
            "dead letters, replay confirmation",
            "/console/dead/confirm",
            {"action": "replay", "scope": "reason", "reason": "winback"},
        ),
        ("user timeline", "/console/timeline?user=user-7", None),
        ("event tester, page", "/console/tester", None),
        (
            "event tester, explain",
            "/console/tester",
            {
                "action": "explain",
                "events": '{"type": "identify", "userId": "user-7", '
                '"traits": {"email": "u7@example.com"}}',
            },
        ),
    ]


class Client:
    """A logged-in operator's browser, reduced to the requests it makes."""

    def __init__(self, url: str, n: int) -> None:
        self.url = url
        self.n = n
        self.session = requests.Session()
        # A fresh connection per request: on a kept-alive connection every answer here
        # waits ~40 ms for a delayed ACK (the response goes out in two writes), which
        # would hide what the pages themselves cost.
        self.session.headers["Connection"] = "close"
        csrf = _csrf(self.session.get(url + "/console/login").text)
        self.session.post(
            url + "/console/login", data={"csrf": csrf, "token": TOKEN}
        ).raise_for_status()
        self.csrf = _csrf(self.session.get(url + "/console/tester").text)
        dead = re.search(r'name="ids" value="(\d+)"', self.session.get(url + "/console/dead").text)
        assert dead is not None, "no dead job in the store"
        self.dead_id = dead.group(1)

    def seconds(self, label: str, path: str, form: dict[str, str] | None) -> float:
        """One request's wall time; a page that does not answer 200 stops the bench."""
        path = path.replace("{dead_id}", self.dead_id)
        started = time.perf_counter()
        if form is None:
            response = self.session.get(self.url + path)
        else:
            response = self.session.post(self.url + path, data={**form, "csrf": self.csrf})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{label}: HTTP {response.status_code}\n{response.text[:500]}")
        return elapsed


def time_side_by_side(clients: dict[int, Client], repeat: int) -> dict[int, dict[str, float]]:
    """Median milliseconds per page and size. The sizes take turns request by request,
    so a busy moment on the (shared) machine slows both, not one."""
    results: dict[int, dict[str, float]] = {n: {} for n in clients}
    plans = {n: pages(n) for n in clients}
    for index in range(len(next(iter(plans.values())))):
        times: dict[int, list[float]] = {n: [] for n in clients}
        for _ in range(repeat):
            for n, client in clients.items():
                label, path, form = plans[n][index]
                times[n].append(client.seconds(label, path, form))
        for n in clients:
            results[n][plans[n][index][0]] = statistics.median(times[n]) * 1000
    return results


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def measure(databases: dict[int, str], repeat: int) -> dict[int, dict[str, float]]:
    """Serve every filled store at once (ingest only, no worker) and time their pages."""
    with contextlib.ExitStack() as stack:
        clients = {}
        for n, database in databases.items():
            settings = load_settings(
                database=database, admin_token=TOKEN, write_keys="wk", host="127.0.0.1"
            )
            service = stack.enter_context(
                running_service(settings, Roles(ingest=True, delivery=False))
            )
            clients[n] = Client(service.url, n)
        return time_side_by_side(clients, repeat)


def filled(n: int, fill: Callable[[], None]) -> None:
    started = time.perf_counter()
    fill()
    print(f"  filled {n:,} jobs in {time.perf_counter() - started:.1f} s", flush=True)


def report(
    backend: str, small: int, big: int, repeat: int, figures: dict[int, dict[str, float]]
) -> None:
    print(f"\n{backend}: median ms per page (each page requested {repeat}×)")
    print(f"{'page':44} {small:>10,} {big:>12,}   ratio")
    for label in figures[small]:
        a, b = figures[small][label], figures[big][label]
        print(f"{label:44} {a:10.1f} {b:12.1f}   {b / a:5.2f}×")
    slowest = max(figures[big], key=lambda label: figures[big][label])
    print(
        f"slowest page at {big:,} jobs: {slowest}, {figures[big][slowest]:.1f} ms "
        f"({figures[small][slowest]:.1f} ms at {small:,})"
    )


def sqlite_run(args: argparse.Namespace, now: float) -> None:
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="sailbridge-console-bench-"))
    databases = {n: scratch / f"console-{n}.db" for n in (args.small, args.big)}
    try:
        for n, path in databases.items():
            _remove(path)
            print(f"SQLite, {n:,} jobs", flush=True)

            def fill(path: Path = path, n: int = n) -> None:
                fill_sqlite(path, n, now)

            filled(n, fill)
        figures = measure({n: str(path) for n, path in databases.items()}, args.repeat)
    finally:
        for path in databases.values():
            _remove(path)
    report("SQLite", args.small, args.big, args.repeat, figures)


def postgres_run(args: argparse.Namespace, now: float) -> None:
    """Two databases beside ``--postgres`` (``…_small``, ``…_big``), created if missing."""
    import psycopg

    base = args.postgres.rsplit("/", 1)
    urls = {
        args.small: f"{base[0]}/sailbridge_console_small",
        args.big: f"{base[0]}/sailbridge_console_big",
    }
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        for url in urls.values():
            name = url.rsplit("/", 1)[1]
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall():
                conn.execute(f"CREATE DATABASE {name}")
    for n, url in urls.items():
        print(f"PostgreSQL, {n:,} jobs", flush=True)

        def fill(n: int = n, url: str = url) -> None:
            with ThreadPoolExecutor(1) as pool:  # a loop of its own, off the caller's
                pool.submit(asyncio.run, fill_postgres(url, n, now)).result()

        filled(n, fill)
    figures = measure(urls, args.repeat)
    report("PostgreSQL", args.small, args.big, args.repeat, figures)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", help="where the SQLite files go (default: a temp dir)")
    parser.add_argument(
        "--postgres",
        help="also measure PostgreSQL: a URL of that server "
        "(two databases sailbridge_console_small/_big are "
        "created beside it and emptied)",
    )
    args = parser.parse_args()
    now = time.time()
    sqlite_run(args, now)
    if args.postgres:
        postgres_run(args, now)


if __name__ == "__main__":
    main()
