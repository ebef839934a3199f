"""The shared queue: one PostgreSQL database, any number of sailbridge nodes.

Every node opens a pool to the same database and runs the same contract as the
embedded store (`sailbridge.store.sqlite`), with the same schema ideas (see
``migrations/postgres/0001_initial.sql``): each ordering key has a *line* of
unfinished jobs, each job counts the earlier jobs it waits behind (``blockers``), and
only line heads are in the partial ready indexes, so claiming reads about ``limit``
index entries however deep the queue is.

What makes it safe across nodes:

- Claims lock the rows they take with ``FOR UPDATE SKIP LOCKED``: two nodes claiming
  at once take different jobs and never wait for each other. Only line heads are
  claimable and a claim changes no line, so a user's second job cannot be claimed
  while the first is out, whichever node holds it.
- Everything that changes a line (enqueue, finish, replay) first locks the ``lines``
  rows of its keys, in sorted order. Two nodes enqueueing for one user therefore go
  one after the other, and each sees the other's commit when it counts what it
  waits behind; ids (the position in the line) are taken under that lock, so line
  order is commit order. A finish racing an enqueue of the same user cannot miss the
  new job either: whichever runs second sees the first's rows.
- Leases are times: a node that dies (``kill -9``) stops heartbeating, its jobs'
  leases run out and the next claim anywhere takes them back. A late result from a
  node that lost its lease is refused (`JobNotClaimed`).
- Locks are always taken in one order (see ``postgres.sql``), so nodes never deadlock.

Every write is one transaction committed before the call returns; finishes that arrive
together share one (a group commit, as the SQLite store's writer does). Reads see one
snapshot per call. Counters (for status) are sharded rows updated in the same
transactions as the jobs they count.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from sailbridge.clock import Clock
from sailbridge.mapping.plan import (
    ForgetUser,
    Item,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
)
from sailbridge.store import listing
from sailbridge.store.base import (
    FINAL_STATES,
    SCAN_WINDOW,
    Attempt,
    BackfillFile,
    EnqueueResult,
    Forgotten,
    Job,
    JobQuery,
    JobState,
    MinuteCount,
    NewJob,
    Page,
    Rejection,
    SentJob,
    StatusCounts,
    plan_send,
)
from sailbridge.store.errors import JobNotClaimed, StoreClosed, StoreMissing, StoreUnwritable
from sailbridge.store.memory import linked_ids
from sailbridge.store.postgres_db import QUERIES, has_schema, migrate, open_pool

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Row = tuple[Any, ...]

PRUNE_EVERY = 60.0
"""Seconds between sweeps of message ids that fell out of the dedupe window."""
PRUNE_CHUNK = 50_000
COUNTER_SHARDS = 16
"""Rows per counter; a statement updates one at random, so writers rarely queue."""
TRANSACTION_ATTEMPTS = 3
FINISH_GROUP = 256
"""Most finishes committed in one transaction."""
FINISH_LINGER = 0.003
FINISH_FULL = 16
"""A group of fewer finishes than this waits ``FINISH_LINGER`` seconds for more before it
is committed: the database's work per group is mostly fixed, so under load a few ms
of latency buys a large cut in its work per job (a successful delivery's worker slot
does not wait for the commit)."""

log = logging.getLogger("sailbridge.store")

_encode = msgspec.json.encode
_history_decoder = msgspec.json.Decoder(list[Attempt])
_cart_decoder = msgspec.json.Decoder(list[Any])


class PostgresStore:
    """`sailbridge.store.base.Store` in a PostgreSQL database shared by every node.

    Use `PostgresStore.open` (it migrates), and `close` when done. Lists are in
    arrival (id) order. `claim` returns jobs without their history (`get_job` has it);
    a job keeps its id when replayed but joins the back of its users' lines. The
    store's ``clock`` stamps memory and releases, as in the SQLite store; every other
    time is the one the caller passes.
    """

    def __init__(self, pool: AsyncConnectionPool, clock: Clock = time.time) -> None:
        self._pool = pool
        self._clock = clock
        self._closed = False
        self._prune_at = float("-inf")
        self._finishes: list[_Finish] = []
        self._finisher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, clock: Clock = time.time, *, min_size: int = 1,
                   max_size: int = 10, create: bool = True) -> PostgresStore:
        """Connect a pool to ``url`` (``postgresql://…``) and bring the schema up to date;
        with ``create`` false, a database without sailbridge's schema raises
        `StoreMissing` instead of getting one."""
        pool = await open_pool(url, min_size=min_size, max_size=max_size)
        store = cls(pool, clock)
        try:
            if not create:
                async with store._connection() as conn:
                    if not await has_schema(conn):
                        raise StoreMissing("the database has no sailbridge schema yet")
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def pool(self) -> AsyncConnectionPool:
        """The connection pool, for state kept beside the queue (the global rate limiter)."""
        return self._pool

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def migrate(self) -> int:
        async with self._connection() as conn:
            return await migrate(conn)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._finisher is not None:  # finishes already accepted are committed
                with contextlib.suppress(Exception):
                    await self._finisher
            await self._pool.close()

    # ------------------------------------------------------------------ machinery

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if self._closed:
            raise StoreClosed("the store is closed")
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _in_transaction(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, again if PostgreSQL chose it as a deadlock
        victim. Every lock is taken in one global order (see ``postgres.sql``), so
        this is a safety net, not a path we expect to take."""

        async def transaction(conn: Conn) -> T:
            async with conn.transaction():
                return await work(conn)

        return await self._retrying(transaction)

    async def _retrying(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` (which opens its own transaction) on a pooled connection, again
        if PostgreSQL chose it as a deadlock victim."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                async with self._connection() as conn:
                    return await work(conn)
            except (psycopg.errors.DeadlockDetected,
                    psycopg.errors.SerializationFailure) as error:
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise
                log.warning("store transaction retried after %s", type(error).__name__)
        raise AssertionError("unreachable")

    async def _rows(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self._connection() as conn:
            cursor = await conn.execute(QUERIES[query], params)
            return await cursor.fetchall()

    async def _execute(self, query: str, params: Mapping[str, Any]) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(QUERIES[query], params)
            return cursor.rowcount

    # ------------------------------------------------------------------ queue writes

    async def enqueue(self, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                      dedupe_window: float, now: float) -> EnqueueResult:
        """Store jobs and rejections; ``dedupe_window <= 0`` turns dedupe off."""
        if not jobs and not rejections:
            return EnqueueResult(0, 0, 0)
        dedupe = dedupe_window > 0
        result = await self._in_transaction(
            lambda conn: _enqueue(conn, jobs, rejections, dedupe_window, now))
        if dedupe and now >= self._prune_at:
            self._prune_at = now + PRUNE_EVERY
            await self._execute("forget_messages", {"seen_after": now - dedupe_window,
                                                    "limit": PRUNE_CHUNK})
        return result

    async def accept(self, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                     dedupe_window: float, now: float) -> int:
        """Ingest's call. PostgreSQL takes concurrent writers without a single writer
        thread to protect, so accepting is simply enqueueing (sorted at once)."""
        await self.enqueue(jobs, rejections, dedupe_window, now)
        return len(jobs)

    async def enqueue_sent(self, jobs: Sequence[NewJob], now: float, *,
                           force: bool = False) -> list[SentJob]:
        if not jobs:
            return []
        return await self._in_transaction(lambda conn: _enqueue_sent(conn, jobs, now, force))

    async def forget(self, user_key: str) -> Forgotten:
        return await self._in_transaction(lambda conn: _forget(conn, user_key))

    async def claim(self, worker: str, limit: int, lease: float, now: float) -> list[Job]:
        if limit <= 0:
            return []
        rows = await self._rows("claim", {
            "worker": worker, "limit": limit, "now": now, "lease_until": now + lease,
            "shard": _shard()})
        return [_job(row) for row in rows]

    async def heartbeat(self, worker: str, job_ids: Sequence[int], lease: float,
                        now: float) -> None:
        if job_ids:
            await self._execute("extend_leases", {
                "ids": _json(list(job_ids)), "worker": worker, "lease_until": now + lease})

    async def finish(self, job_id: int, state: JobState, attempt: Attempt,
                     reason: str | None = None, *, worker: str) -> None:
        """Settle a claimed job; returns once committed. Finishes that arrive while one
        group is being committed are committed together as the next group (one
        transaction, a few statements, whatever their number), so the cost of a
        durable commit is shared by every job settled in the same moment."""
        final = JobState(state)
        if final not in FINAL_STATES:
            raise ValueError(f"finish needs delivered, skipped or dead, not {final.value!r}")
        if self._closed:
            raise StoreClosed("the store is closed")
        request = _Finish(job_id, worker, {
            "id": job_id, "worker": worker, "state": final.value, "reason": reason,
            "attempt_at": attempt.at, "attempt": msgspec.Raw(_encode(attempt))},
            asyncio.get_running_loop().create_future())
        self._finishes.append(request)
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_groups())
        await request.done

    async def _finish_groups(self) -> None:
        """Commit the waiting finishes, group after group, until none is waiting."""
        while self._finishes:
            if len(self._finishes) < FINISH_FULL:
                await asyncio.sleep(FINISH_LINGER)  # let the group fill a little
            group: list[_Finish] = []
            later: list[_Finish] = []
            ids: set[int] = set()
            for request in self._finishes:
                if request.job_id in ids or len(group) >= FINISH_GROUP:
                    later.append(request)  # the same job twice: the second goes after
                else:
                    ids.add(request.job_id)
                    group.append(request)
            self._finishes = later
            group = [request for request in group if not request.done.cancelled()]
            if not group:
                continue
            try:
                refused = await self._retrying(functools.partial(_finish_group, group=group))
            except Exception as error:  # noqa: BLE001 - handed to each waiting finish
                for request in group:
                    if not request.done.done():
                        request.done.set_exception(error)
                continue
            except BaseException:
                for request in [*group, *self._finishes]:
                    request.done.cancel()
                self._finishes = []
                raise
            for request in group:
                if not request.done.done():
                    refusal = refused.get(request.job_id)
                    if refusal is None:
                        request.done.set_result(None)
                    else:
                        request.done.set_exception(refusal)

    async def retry_at(self, job_id: int, at: float, attempt: Attempt, *, worker: str) -> None:
        async with self._transaction() as conn:
            cursor = await conn.execute(QUERIES["retry_job"], {
                "id": job_id, "at": at, "worker": worker, "attempt_at": attempt.at,
                "attempt": _json(attempt), "shard": _shard()})
            if not await cursor.fetchall():
                raise await _not_claimed(conn, job_id, worker)

    async def release(self, job_id: int, at: float, *, worker: str) -> None:
        async with self._transaction() as conn:
            cursor = await conn.execute(QUERIES["release_job"], {
                "id": job_id, "at": at, "worker": worker, "now": self._clock(),
                "shard": _shard()})
            if not await cursor.fetchall():
                raise await _not_claimed(conn, job_id, worker)

    async def replay(self, job_ids: Sequence[int] | None, reason_contains: str | None,
                     now: float) -> int:
        if job_ids is not None and not job_ids:
            return 0
        return await self._in_transaction(
            lambda conn: _replay(conn, job_ids, reason_contains, now))

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        async with self._transaction() as conn:
            cursor = await conn.execute(QUERIES["purge_finished_jobs"],
                                        {"before": older_than, "limit": limit})
            deleted = cursor.rowcount
        if deleted < limit:
            # The last chunk of a housekeeping round: also drop the lock rows of lines
            # that are empty now (scanning them once per round, not once per chunk).
            await self._execute("forget_empty_lines", {"limit": 100_000})
        return deleted

    async def purge_dead_jobs(self, job_ids: Sequence[int] | None,
                              reason_contains: str | None) -> int:
        async def purge(conn: Conn) -> int:
            rows = await _dead_chosen(conn, job_ids, reason_contains)
            if not rows:
                return 0
            deleted = (await conn.execute(QUERIES["purge_jobs_of"], {
                "ids": _json([job_id for job_id, _keys in rows])})).rowcount
            await _add_to_counts(conn, {"dead": -deleted})
            return deleted

        if job_ids is not None and not job_ids:
            return 0
        return await self._in_transaction(purge)

    async def purge_dead(self, older_than: float) -> int:
        """Delete dead jobs and rejections from before ``older_than``; returns the number
        of dead jobs deleted."""
        async with self._transaction() as conn:
            jobs = (await conn.execute(QUERIES["purge_dead_jobs"],
                                       {"before": older_than})).rowcount
            rejections = (await conn.execute(QUERIES["purge_rejections"],
                                             {"before": older_than})).rowcount
            await _add_to_counts(conn, {"dead": -jobs, "rejected": -rejections})
        return jobs

    async def set_paused(self, reason: str | None) -> None:
        await self._execute("set_control", {"name": "paused", "value": reason})

    async def check_writable(self, now: float) -> None:
        try:
            await self._execute("set_control", {"name": "health_probe", "value": repr(now)})
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnwritable(f"PostgreSQL refused a write: {message}") from exc

    # ------------------------------------------------------------------ queue reads

    async def get_job(self, job_id: int) -> Job | None:
        rows = await self._rows("get_job", {"id": job_id})
        return _job(rows[0], rows[0][13]) if rows else None

    async def list_jobs(self, state: JobState, limit: int = 100,
                        reason_contains: str | None = None) -> list[Job]:
        rows = await self._rows("list_jobs", {
            "state": JobState(state).value, "reason": reason_contains, "limit": limit})
        return [_job(row, row[13]) for row in rows]

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        rows = await self._rows("list_rejections", {"limit": limit})
        return [Rejection(*row) for row in rows]

    async def find_jobs(self, query: JobQuery) -> Page[Job]:
        plan = listing.job_listing(query, _DIALECT)
        rows, window = await self._page_rows(plan, "jobs", _JOB_COLUMNS, query.before,
                                             query.limit, query.scan)
        return listing.page_of([_job(row, row[13]) for row in rows], lambda job: job.id,
                               query.limit, window, query.scan)

    async def find_rejections(self, reason: str | None = None, before: int | None = None,
                              limit: int = 50, scan: int = SCAN_WINDOW) -> Page[Rejection]:
        plan = listing.rejection_listing(reason, _DIALECT)
        rows, window = await self._page_rows(plan, "rejections", _REJECTION_COLUMNS, before,
                                             limit, scan)
        return listing.page_of([Rejection(*row) for row in rows], lambda r: r.id or 0, limit,
                               window, scan)

    async def _page_rows(self, plan: listing.Listing, table: str, columns: str,
                         before: int | None, limit: int, scan: int
                         ) -> tuple[list[Row], tuple[int | None, int] | None]:
        """One page's rows (up to ``limit + 1``) and its window, in one snapshot."""
        params = listing.bounds(plan, before, limit, scan)
        window = None
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if plan.windowed:
                cursor = await conn.execute(listing.window_sql(plan, _DIALECT, table), params)
                row = await cursor.fetchone()
                assert row is not None
                window = (row[0], int(row[1]))
                if not window[1]:
                    return [], window
                params["floor"] = window[0]
            cursor = await conn.execute(listing.rows_sql(plan, _DIALECT, table, columns),
                                        params)
            return await cursor.fetchall(), window

    async def finished_per_minute(self, since: float, until: float) -> list[MinuteCount]:
        rows = await self._rows("finished_per_minute", {"since": int(since // 60 * 60),
                                   "until": int(until // 60 * 60)})
        return [MinuteCount(float(minute), int(delivered), int(dead))
                for minute, delivered, dead in rows if delivered or dead]

    async def counts(self) -> StatusCounts:
        [(totals, oldest, paused)] = await self._rows("status")
        counts: dict[str, int] = {name: int(n) for name, n in msgspec.json.decode(totals).items()}

        def get(name: str) -> int:
            return counts.get(name, 0)

        return StatusCounts(
            pending=get("pending"), retrying=get("retrying"), claimed=get("claimed"),
            delivered=get("delivered"), skipped=get("skipped"), rejected=get("rejected"),
            dead=get("dead"), oldest_pending_at=oldest, paused_reason=paused,
            deduplicated=get("deduplicated"))

    async def paused_reason(self) -> str | None:
        rows = await self._rows("get_control", {"name": "paused"})
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------ backfill files

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        rows = await self._rows("backfill_file", {"content_hash": content_hash})
        return BackfillFile(*rows[0]) if rows else None

    async def save_backfill_file(self, record: BackfillFile) -> None:
        await self._execute("save_backfill_file", dataclasses.asdict(record))

    # ------------------------------------------------------------------ memory

    async def email(self, user_key: str) -> str | None:
        rows = await self._rows("memory_email", {"user_key": user_key})
        return rows[0][0] if rows else None

    async def cart(self, user_id: str, max_age: float) -> tuple[Item, ...] | None:
        rows = await self._rows("memory_cart",
                                {"user_id": user_id, "since": self._clock() - max_age})
        return tuple(_cart_decoder.decode(rows[0][0])) if rows else None

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        rows = await self._rows("memory_merged",
                                {"anonymous_id": anonymous_id, "user_id": user_id})
        return bool(rows)

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        if not updates:
            return
        now = self._clock()

        async def work(conn: Conn) -> None:
            for update in updates:
                match update:
                    case ForgetUser(user_key):
                        await _forget(conn, user_key)
                    case RememberEmail(user_key, email):
                        await conn.execute(QUERIES["memory_remember_email"],
                                           {"user_key": user_key, "email": email, "now": now})
                    case RememberCart(user_id, items):
                        await conn.execute(QUERIES["memory_remember_cart"], {
                            "user_id": user_id, "items": _json(list(items)), "now": now})
                    case RememberMerge(anonymous_id, user_id):
                        await conn.execute(QUERIES["memory_remember_merge"], {
                            "anonymous_id": anonymous_id, "user_id": user_id, "now": now})

        await self._in_transaction(work)


_DIALECT = listing.Dialect(
    param=lambda name, type_: f"%({name})s::{type_}",
    event_name="(CASE WHEN event_type = 'track' THEN event->>'event' ELSE event_type END)",
    contains=lambda column, value: f"strpos({column}, {value}) > 0",
    index_hints=False,
)
_JOB_COLUMNS = ("id, write_key, message_id, event::text, event_type, user_key, ordering_keys, "
                "state, attempts, received_at, first_attempt_at, available_at, reason, "
                "(SELECT json_agg(attempt ORDER BY seq) FROM job_attempts a "
                "WHERE a.job_id = j.id)::text")
_REJECTION_COLUMNS = "write_key, message_id, raw, reason, received_at, id"

# ---------------------------------------------------------------------- transactions


async def _enqueue(conn: Conn, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                   dedupe_window: float, now: float) -> EnqueueResult:
    """One batch in three statements whatever its size (dedupe, lines, jobs), each
    taking the batch as one JSON document."""
    dedupe = dedupe_window > 0
    kept: list[NewJob] = []
    messages: set[tuple[str, str]] = set()
    for job in jobs:
        if dedupe and job.message_id is not None:
            message = (job.write_key, job.message_id)
            if message in messages:
                continue  # a duplicate inside this batch: the first one counts
            messages.add(message)
        kept.append(job)
    if messages:
        ordered = sorted(messages)  # one lock order for every node
        cursor = await conn.execute(QUERIES["remember_messages"], {
            "messages": _json([{"w": w, "m": m} for w, m in ordered]),
            "now": now, "seen_after": now - dedupe_window})
        fresh = {(w, m) for w, m in await cursor.fetchall()}
        kept = [job for job in kept
                if job.message_id is None or (job.write_key, job.message_id) in fresh]

    if rejections:
        await conn.execute(QUERIES["insert_rejections"], {"rejections": _json([
            {"write_key": r.write_key, "message_id": r.message_id, "raw": r.raw,
             "reason": r.reason, "received_at": r.received_at} for r in rejections])})
    deltas = {name: n for name, n in (("pending", len(kept)), ("rejected", len(rejections)),
                                      ("deduplicated", len(jobs) - len(kept))) if n}
    if not kept:
        await _add_to_counts(conn, deltas)
        return EnqueueResult(0, len(jobs), len(rejections))
    keyed = [list(dict.fromkeys(job.ordering_keys)) for job in kept]
    await _lock_lines(conn, sorted({key for keys in keyed for key in keys}))
    cursor = await conn.execute(QUERIES["enqueue_jobs"], {
        "jobs": _json([{"write_key": job.write_key, "message_id": job.message_id,
                        "event": job.event, "event_type": job.event_type,
                        "user_key": job.user_key, "ordering_keys": keys,
                        "received_at": job.received_at}
                       for job, keys in zip(kept, keyed, strict=True)]),
        "now": now, "deltas": _json(deltas), "shard": _shard()})
    ids = tuple(row[0] for row in await cursor.fetchall())
    return EnqueueResult(len(kept), len(jobs) - len(kept), len(rejections), ids)


SEND_LOCK = 0x5A11B81D6E5E0D
"""The advisory lock that makes `enqueue_sent` one step (see ``lock_sends``)."""


async def _enqueue_sent(conn: Conn, jobs: Sequence[NewJob], now: float,
                        force: bool) -> list[SentJob]:
    """`Store.enqueue_sent` in one transaction: look the identities up, queue the rest."""
    await conn.execute(QUERIES["lock_sends"], {"lock": SEND_LOCK})
    known: dict[str, int] = {}
    if not force:
        cursor = await conn.execute(QUERIES["sent_jobs"], {
            "ids": _json([job.message_id for job in jobs])})
        known = {message_id: job_id for message_id, job_id in await cursor.fetchall()}
    plan = plan_send(jobs, known)
    ids = (await _enqueue(conn, plan.fresh, [], 0.0, now)).job_ids if plan.fresh else ()
    return plan.results(ids)


async def _forget(conn: Conn, user_key: str) -> Forgotten:
    """`Store.forget` inside the caller's transaction."""
    cursor = await conn.execute(QUERIES["merges_touching"], {"keys": _json([user_key])})
    keys = linked_ids(await cursor.fetchall(), user_key)
    keys_json = _json(list(keys))
    cursor = await conn.execute(QUERIES["emails_of"], {"keys": keys_json})
    emails = [row[0] for row in await cursor.fetchall()]
    lists = {"keys": keys_json, "emails": _json(emails)}
    await conn.execute(QUERIES["forget_memory"], lists)
    cursor = await conn.execute(QUERIES["forget_finished_jobs"], lists)
    states = [row[0] for row in await cursor.fetchall()]
    cursor = await conn.execute(QUERIES["forget_rejections"], {
        "needles": _json([f'"{key}"' for key in keys] + emails)})
    rejections = cursor.rowcount
    await conn.execute(QUERIES["forget_empty_lines_of"], {"keys": keys_json})
    await conn.execute(QUERIES["mark_claimed_jobs"], {"keys": keys_json})
    await _add_to_counts(conn, {"dead": -states.count("dead"), "rejected": -rejections})
    return Forgotten(keys, len(emails), len(states), rejections)


@dataclass
class _Finish:
    """One `PostgresStore.finish` waiting for its group's commit."""

    job_id: int
    worker: str
    row: dict[str, Any]
    done: asyncio.Future[None]


async def _finish_group(conn: Conn, group: Sequence[_Finish]) -> dict[int, JobNotClaimed]:
    """Finish a group of jobs (distinct ids) in one transaction, sent in one round trip:
    the jobs, their lines, the next jobs in those lines, the counters, and the
    deletion of any that delivered the forgetting of a person (`PostgresStore.forget`).
    Returns the refusals of jobs their worker did not hold (the others are finished)."""
    async with conn.pipeline(), conn.transaction():
        cursor = await conn.execute(QUERIES["finish_jobs"], {
            "jobs": _json([request.row for request in sorted(group, key=lambda r: r.job_id)])})
        await conn.execute(QUERIES["unblock_next"], {"shard": _shard()})
        await conn.execute(QUERIES["forget_marked_jobs"])
    workers = {request.job_id: request.worker for request in group}
    return {job_id: JobNotClaimed(job_id, workers[job_id], state, owner)
            for job_id, finished, state, owner in await cursor.fetchall() if not finished}


async def _replay(conn: Conn, job_ids: Sequence[int] | None, reason_contains: str | None,
                  now: float) -> int:
    """Dead jobs back to the back of their lines, as new arrivals would be."""
    rows = await _dead_chosen(conn, job_ids, reason_contains)
    if not rows:
        return 0
    keys = sorted({key for _id, job_keys in rows for key in job_keys})
    await _lock_lines(conn, keys)
    busy = await _busy_lines(conn, keys)
    positions = await _next_ids(conn, len(rows))
    requeued: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for (job_id, job_keys), pos in zip(rows, positions, strict=True):
        unique = list(dict.fromkeys(job_keys))
        requeued.append({"id": job_id, "pos": pos,
                         "blockers": sum(key in busy for key in unique)})
        for key in unique:
            lines.append({"key": key, "pos": pos, "job_id": job_id})
            busy.add(key)
    await conn.execute(QUERIES["requeue_jobs"], {"jobs": _json(requeued), "now": now})
    await conn.execute(QUERIES["join_lines"], {"lines": _json(lines)})
    await _add_to_counts(conn, {"dead": -len(rows), "pending": len(rows)})
    return len(rows)


async def _dead_chosen(conn: Conn, job_ids: Sequence[int] | None,
                       reason_contains: str | None) -> list[Row]:
    """``(id, ordering keys)`` of the dead jobs chosen by ids and/or reason, by id,
    locked until the transaction ends."""
    if job_ids is None:
        cursor = await conn.execute(QUERIES["dead_by_reason"], {"reason": reason_contains})
    else:
        cursor = await conn.execute(QUERIES["dead_by_ids"], {
            "ids": _json(list(job_ids)), "reason": reason_contains})
    return await cursor.fetchall()


async def _lock_lines(conn: Conn, keys: list[str]) -> None:
    """Lock the lines of ``keys`` (sorted, distinct) until the transaction ends."""
    if keys:
        await conn.execute(QUERIES["lock_lines"], {"keys": _json(keys)})


async def _busy_lines(conn: Conn, keys: list[str]) -> set[str]:
    """Which of ``keys`` already have an unfinished job (their lines must be locked)."""
    if not keys:
        return set()
    cursor = await conn.execute(QUERIES["busy_lines"], {"keys": _json(keys)})
    return {row[0] for row in await cursor.fetchall()}


async def _next_ids(conn: Conn, n: int) -> list[int]:
    cursor = await conn.execute(QUERIES["next_ids"], {"n": n})
    return sorted(row[0] for row in await cursor.fetchall())


async def _add_to_counts(conn: Conn, deltas: Mapping[str, int]) -> None:
    """Counter changes; the last statement of a transaction (see the lock order)."""
    changes = {name: delta for name, delta in deltas.items() if delta}
    if changes:
        await conn.execute(QUERIES["add_to_counts"],
                           {"deltas": _json(changes), "shard": _shard()})


async def _not_claimed(conn: Conn, job_id: int, worker: str) -> JobNotClaimed:
    cursor = await conn.execute(QUERIES["job_owner"], {"id": job_id})
    row = await cursor.fetchone()
    if row is None:
        return JobNotClaimed(job_id, worker, None, None)
    return JobNotClaimed(job_id, worker, row[0], row[1])


def _json(value: Any) -> str:
    """A batch parameter: one JSON document, taken apart by the query."""
    return _encode(value).decode()


def _shard() -> int:
    return random.randrange(COUNTER_SHARDS)


def _job(row: Row, history: str | None = None) -> Job:
    (job_id, write_key, message_id, event, event_type, user_key, keys, state, attempts,
     received_at, first_attempt_at, available_at, reason) = row[:13]
    return Job(
        id=job_id, write_key=write_key, message_id=message_id,
        event=msgspec.json.decode(event), event_type=event_type, user_key=user_key,
        ordering_keys=tuple(keys), state=JobState(state), attempts=attempts,
        received_at=received_at, first_attempt_at=first_attempt_at,
        available_at=available_at, reason=reason,
        history=_history_decoder.decode(history) if history else [])
