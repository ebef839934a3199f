"""The embedded queue: one SQLite file, one writer thread, group commit.

Writes (enqueue, claim, settle, replay, purge, memory, pause) are queued to a single
writer thread that owns the write connection. It takes everything queued, runs it in
ONE transaction (each request inside its own savepoint, so one failing request does
not fail its neighbours), commits, and only then resolves the callers' futures: an
``await store.enqueue(...)`` that returned is on disk. One COMMIT per busy moment
rather than per request amortises the commit, and a single writer means SQLite never
returns "database is locked" to ourselves. A batch is a handful of statements
(executemany; ids are handed out by the writer), so what an event costs is mostly the
pages it dirties: its row, plus one page each in two randomly keyed indexes (its
user's line and, with dedupe on, its message id). ``bench/store_claim.py`` measures it.

Reads run on a small thread pool, each thread with its own connection; in WAL mode
they never wait for the writer and see everything committed before they start.

Claiming stays flat with millions of queued jobs because the ready indexes contain
only *line heads* (see ``migrations/sqlite/0001_initial.sql``): each job keeps a count
of the earlier unfinished jobs sharing its ordering keys (``blockers``), maintained
by the writer on enqueue, finish and replay, and only jobs at zero are indexed as
ready. A claim therefore reads about ``limit`` index entries plus one row each, no
matter how many jobs wait behind busy users.

Durability: see `sailbridge.store.sqlite_db` — WAL with ``synchronous=NORMAL``
survives the process being killed; pass ``synchronous="FULL"`` to also survive an
OS crash or power loss, at one fsync per group commit.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import msgspec

from sailbridge.mapping.plan import Item, MemoryUpdate
from sailbridge.store.base import (
    Attempt,
    EnqueueResult,
    Job,
    JobState,
    NewJob,
    Rejection,
    StatusCounts,
)
from sailbridge.store.errors import JobNotClaimed, StoreClosed
from sailbridge.store.memory import read_cart, read_email, read_merged, write_updates
from sailbridge.store.sqlite_db import QUERIES, Synchronous, connect, migrate

T = TypeVar("T")
Clock = Callable[[], float]

FINAL_STATES = frozenset({JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD})
PRUNE_EVERY = 60.0
"""Seconds between sweeps of message ids that fell out of the dedupe window."""
CHECKPOINT_EVERY = 0.25
"""Seconds between background WAL checkpoints while writes are happening."""
BACKSTOP_CHECKPOINT_PAGES = 10_000

_encode = msgspec.json.encode
_attempt_decoder = msgspec.json.Decoder(Attempt)
_keys_decoder = msgspec.json.Decoder(list[str])


class SqliteStore:
    """`sailbridge.store.base.Store` in one local SQLite file.

    Use `SqliteStore.open` (or call `migrate` yourself) before anything else, and
    `close` when done. Lists are in arrival (id) order. `claim` returns jobs without
    their history (`get_job` has it); a job keeps its id when replayed but joins the
    back of its users' lines.
    """

    def __init__(self, path: str | Path, clock: Clock = time.time, *,
                 synchronous: Synchronous = "NORMAL", readers: int = 2,
                 max_batch: int = 1000) -> None:
        self._path = str(path)
        self._clock = clock
        writer_db = connect(self._path, synchronous, cache_mib=64)
        # The checkpointer copies the WAL back into the file off the write path; the
        # writer only checkpoints itself if the WAL grows past ~40 MB regardless.
        writer_db.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
        self._checkpointer = _Checkpointer(connect(self._path, synchronous, cache_mib=2))
        self._writer = _Writer(writer_db, max_batch, on_commit=self._checkpointer.poke)
        self._readers = _Readers(self._path, readers)
        self._prune_at = float("-inf")  # touched by the writer thread only

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = time.time, *,
                   synchronous: Synchronous = "NORMAL") -> SqliteStore:
        """Open the file, creating or upgrading its schema."""
        store = cls(path, clock, synchronous=synchronous)
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def migrate(self) -> int:
        return await self._writer.call(lambda tx: migrate(tx.db), own_transaction=True)

    async def close(self) -> None:
        await self._writer.stop()
        await asyncio.to_thread(self._readers.close)
        await asyncio.to_thread(self._checkpointer.stop)

    # ------------------------------------------------------------------ queue writes

    async def enqueue(self, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                      dedupe_window: float, now: float) -> EnqueueResult:
        """Store jobs and rejections; ``dedupe_window <= 0`` turns dedupe off."""
        if not jobs and not rejections:
            return EnqueueResult(0, 0, 0)
        return await self._writer.call(
            lambda tx: self._enqueue(tx, jobs, rejections, dedupe_window, now))

    async def claim(self, worker: str, limit: int, lease: float, now: float) -> list[Job]:
        if limit <= 0:
            return []
        return await self._writer.call(lambda tx: _claim(tx, worker, limit, lease, now))

    async def heartbeat(self, worker: str, job_ids: Sequence[int], lease: float,
                        now: float) -> None:
        if job_ids:
            await self._writer.call(lambda tx: tx.run(
                "extend_leases",
                {"ids": _encode(list(job_ids)), "worker": worker, "lease_until": now + lease}))

    async def finish(self, job_id: int, state: JobState, attempt: Attempt,
                     reason: str | None = None, *, worker: str) -> None:
        final = JobState(state)
        if final not in FINAL_STATES:
            raise ValueError(f"finish needs delivered, skipped or dead, not {final.value!r}")
        await self._writer.call(lambda tx: _finish(tx, job_id, final, attempt, reason, worker))

    async def retry_at(self, job_id: int, at: float, attempt: Attempt, *, worker: str) -> None:
        await self._writer.call(lambda tx: _retry_at(tx, job_id, at, attempt, worker))

    async def release(self, job_id: int, at: float, *, worker: str) -> None:
        await self._writer.call(lambda tx: _release(tx, job_id, at, worker, self._clock()))

    async def replay(self, job_ids: Sequence[int] | None, reason_contains: str | None,
                     now: float) -> int:
        return await self._writer.call(lambda tx: _replay(tx, job_ids, reason_contains, now))

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        params = {"before": older_than, "limit": limit}

        def purge(tx: _Tx) -> int:
            tx.run("purge_finished_attempts", params)
            deleted: int = tx.run("purge_finished_jobs", params).rowcount
            return deleted

        return await self._writer.call(purge)

    async def purge_dead(self, older_than: float) -> int:
        """Delete dead jobs and rejections from before ``older_than``; returns the number
        of dead jobs deleted."""
        return await self._writer.call(lambda tx: _purge(tx, older_than))

    async def set_paused(self, reason: str | None) -> None:
        await self._writer.call(
            lambda tx: tx.run("set_control", {"name": "paused", "value": reason}))

    # ------------------------------------------------------------------ queue reads

    async def get_job(self, job_id: int) -> Job | None:
        return await self._readers.call(_get_job, job_id)

    async def list_jobs(self, state: JobState, limit: int = 100,
                        reason_contains: str | None = None) -> list[Job]:
        return await self._readers.call(_list_jobs, state, limit, reason_contains)

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        return await self._readers.call(_list_rejections, limit)

    async def counts(self) -> StatusCounts:
        return await self._readers.call(_counts)

    async def paused_reason(self) -> str | None:
        return await self._readers.call(_paused_reason)

    # ------------------------------------------------------------------ memory

    async def email(self, user_key: str) -> str | None:
        return await self._readers.call(read_email, user_key)

    async def cart(self, user_id: str, max_age: float) -> tuple[Item, ...] | None:
        return await self._readers.call(read_cart, user_id, self._clock() - max_age)

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        return await self._readers.call(read_merged, anonymous_id, user_id)

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        if updates:
            now = self._clock()
            await self._writer.call(lambda tx: write_updates(tx.db, updates, now))

    # ------------------------------------------------------------------ writer side

    def _enqueue(self, tx: _Tx, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                 dedupe_window: float, now: float) -> EnqueueResult:
        """One batch in a handful of statements: the per-row work is executemany."""
        dedupe = dedupe_window > 0
        seen_after = now - dedupe_window
        seen = _seen_messages(tx, jobs, seen_after) if dedupe else set()
        busy = _busy_lines(tx, {key for job in jobs for key in job.ordering_keys})
        next_id = tx.run("last_job_id", {}).fetchone()[0] + 1
        rows: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        ids: list[int] = []
        messages: list[dict[str, Any]] = []
        for job in jobs:
            if dedupe and job.message_id is not None:
                message = (job.write_key, job.message_id)
                if message in seen:
                    continue
                seen.add(message)
                messages.append({"write_key": job.write_key, "message_id": job.message_id,
                                 "now": now})
            keys = list(dict.fromkeys(job.ordering_keys))
            ids.append(next_id)
            rows.append({
                "id": next_id, "write_key": job.write_key, "message_id": job.message_id,
                "event": _encode(job.event), "event_type": job.event_type,
                "user_key": job.user_key, "ordering_keys": _encode(keys),
                "blockers": sum(key in busy for key in keys),
                "received_at": job.received_at, "now": now})
            for key in keys:
                lines.append({"key": key, "pos": next_id, "job_id": next_id})
                busy.add(key)
            next_id += 1
        tx.run_many("remember_message", messages)
        tx.run_many("insert_job", rows)
        tx.run_many("join_line", lines)
        tx.run_many("insert_rejection", [
            {"write_key": r.write_key, "message_id": r.message_id, "raw": r.raw,
             "reason": r.reason, "received_at": r.received_at} for r in rejections])
        tx.count("pending", len(rows))
        tx.count("rejected", len(rejections))
        if dedupe and now >= self._prune_at:
            tx.run("forget_messages", {"seen_after": seen_after})
            self._prune_at = now + PRUNE_EVERY
        return EnqueueResult(len(rows), len(jobs) - len(rows), len(rejections), tuple(ids))


# ---------------------------------------------------------------------- write requests
# Each runs on the writer thread inside the group transaction and a savepoint.


def _seen_messages(tx: _Tx, jobs: Sequence[NewJob], seen_after: float) -> set[tuple[str, str]]:
    """``(write_key, message_id)`` of ``jobs`` already seen within the dedupe window."""
    by_key: dict[str, list[str]] = {}
    for job in jobs:
        if job.message_id is not None:
            by_key.setdefault(job.write_key, []).append(job.message_id)
    return {(write_key, row[0])
            for write_key, message_ids in by_key.items()
            for row in tx.run("seen_messages", {"write_key": write_key,
                                                "message_ids": _encode(message_ids),
                                                "seen_after": seen_after})}


def _busy_lines(tx: _Tx, keys: set[str] | list[str]) -> set[str]:
    """Which of ``keys`` already have an unfinished job."""
    if not keys:
        return set()
    return {row[0] for row in tx.run("busy_lines", {"keys": _encode(list(keys))})}


def _claim(tx: _Tx, worker: str, limit: int, lease: float, now: float) -> list[Job]:
    window = {"now": now, "limit": limit}
    expired = {row[0] for row in tx.run("claimable_expired", window)}
    ready = [row[0] for row in tx.run("claimable_new", window)]
    ready += [row[0] for row in tx.run("claimable_retry", window)]
    chosen = sorted(expired.union(ready))[:limit]
    if not chosen:
        return []
    rows = tx.run("lease_jobs", {"ids": _encode(chosen), "worker": worker,
                                 "lease_until": now + lease, "now": now}).fetchall()
    jobs = sorted((_job(row) for row in rows), key=lambda job: job.id)
    for job in jobs:
        if job.id not in expired:
            tx.count("retrying" if job.attempts else "pending", -1)
            tx.count("claimed", 1)
    return jobs


def _lease_of(tx: _Tx, job_id: int, worker: str) -> tuple[int, list[str], int]:
    """``(attempts, ordering keys, line position)`` of a job ``worker`` holds."""
    rows = tx.run("job_lease", {"id": job_id}).fetchall()
    if not rows:
        raise JobNotClaimed(job_id, worker, None, None)
    state, owner, attempts, keys, pos = rows[0]
    if state != JobState.CLAIMED or owner != worker:
        raise JobNotClaimed(job_id, worker, state, owner)
    return attempts, _keys_decoder.decode(keys), pos


def _append_attempt(tx: _Tx, job_id: int, attempt: Attempt) -> None:
    tx.run("append_attempt", {"job_id": job_id, "attempt": _encode(attempt)})


def _finish(tx: _Tx, job_id: int, state: JobState, attempt: Attempt, reason: str | None,
            worker: str) -> None:
    _attempts, keys, pos = _lease_of(tx, job_id, worker)
    _append_attempt(tx, job_id, attempt)
    tx.run("finish_job", {"id": job_id, "state": state.value, "reason": reason,
                          "attempt_at": attempt.at})
    for key in keys:
        tx.run("leave_line", {"key": key, "pos": pos})
        tx.run("unblock_next", {"key": key})
    tx.count("claimed", -1)
    tx.count(state.value, 1)


def _retry_at(tx: _Tx, job_id: int, at: float, attempt: Attempt, worker: str) -> None:
    _lease_of(tx, job_id, worker)
    _append_attempt(tx, job_id, attempt)
    tx.run("schedule_retry", {"id": job_id, "at": at, "attempt_at": attempt.at})
    tx.count("claimed", -1)
    tx.count("retrying", 1)


def _release(tx: _Tx, job_id: int, at: float, worker: str, now: float) -> None:
    attempts, _keys, _pos = _lease_of(tx, job_id, worker)
    tx.run("release_job", {"id": job_id, "at": at, "now": now})
    tx.count("claimed", -1)
    tx.count("retrying" if attempts else "pending", 1)


def _replay(tx: _Tx, job_ids: Sequence[int] | None, reason_contains: str | None,
            now: float) -> int:
    if job_ids is not None and not job_ids:
        return 0
    if job_ids is None:
        rows = tx.run("dead_by_reason", {"reason": reason_contains}).fetchall()
    else:
        rows = tx.run("dead_by_ids", {"ids": _encode(list(job_ids)),
                                      "reason": reason_contains}).fetchall()
    if not rows:
        return 0
    last = tx.run("reserve_positions", {"n": len(rows)}).fetchall()[0][0]
    for pos, (job_id, keys_json) in enumerate(rows, start=last - len(rows) + 1):
        keys = _keys_decoder.decode(keys_json)
        tx.run("requeue_job", {"id": job_id, "pos": pos,
                               "blockers": len(_busy_lines(tx, keys)), "now": now})
        for key in keys:
            tx.run("join_line", {"key": key, "pos": pos, "job_id": job_id})
    tx.count("dead", -len(rows))
    tx.count("pending", len(rows))
    return len(rows)


def _purge(tx: _Tx, older_than: float) -> int:
    before = {"before": older_than}
    tx.run("purge_dead_attempts", before)
    jobs: int = tx.run("purge_dead_jobs", before).rowcount
    rejections: int = tx.run("purge_rejections", before).rowcount
    tx.count("dead", -jobs)
    tx.count("rejected", -rejections)
    return jobs


# ---------------------------------------------------------------------- read requests
# Each runs on a reader thread with that thread's connection.

Row = tuple[Any, ...]


def _job(row: Row, history: Sequence[Attempt] = ()) -> Job:
    (job_id, write_key, message_id, event, event_type, user_key, keys, state, attempts,
     received_at, first_attempt_at, available_at, reason) = row
    return Job(
        id=job_id, write_key=write_key, message_id=message_id,
        event=msgspec.json.decode(event), event_type=event_type, user_key=user_key,
        ordering_keys=tuple(_keys_decoder.decode(keys)), state=JobState(state),
        attempts=attempts, received_at=received_at, first_attempt_at=first_attempt_at,
        available_at=available_at, reason=reason, history=list(history))


def _with_history(db: sqlite3.Connection, rows: list[Row]) -> list[Job]:
    history: dict[int, list[Attempt]] = {row[0]: [] for row in rows}
    if rows:
        ids = _encode(list(history))
        for job_id, attempt in db.execute(QUERIES["job_history"], {"ids": ids}).fetchall():
            history[job_id].append(_attempt_decoder.decode(attempt))
    return [_job(row, history[row[0]]) for row in rows]


def _get_job(db: sqlite3.Connection, job_id: int) -> Job | None:
    with _snapshot(db):
        rows = db.execute(QUERIES["get_job"], {"id": job_id}).fetchall()
        jobs = _with_history(db, rows)
    return jobs[0] if jobs else None


def _list_jobs(db: sqlite3.Connection, state: JobState, limit: int,
               reason_contains: str | None) -> list[Job]:
    with _snapshot(db):
        rows = db.execute(QUERIES["list_jobs"], {
            "state": JobState(state).value, "reason": reason_contains, "limit": limit,
        }).fetchall()
        return _with_history(db, rows)


def _list_rejections(db: sqlite3.Connection, limit: int) -> list[Rejection]:
    rows = db.execute(QUERIES["list_rejections"], {"limit": limit}).fetchall()
    return [Rejection(*row) for row in rows]


def _counts(db: sqlite3.Connection) -> StatusCounts:
    with _snapshot(db):
        counts = dict(db.execute(QUERIES["job_counts"]).fetchall())
        oldest = db.execute(QUERIES["oldest_unfinished"]).fetchall()[0][0]
        paused = _paused_reason(db)
    return StatusCounts(
        pending=counts["pending"], retrying=counts["retrying"], claimed=counts["claimed"],
        delivered=counts["delivered"], skipped=counts["skipped"],
        rejected=counts["rejected"], dead=counts["dead"], oldest_pending_at=oldest,
        paused_reason=paused)


def _paused_reason(db: sqlite3.Connection) -> str | None:
    rows = db.execute(QUERIES["get_control"], {"name": "paused"}).fetchall()
    return rows[0][0] if rows else None


class _snapshot:
    """One read transaction, so several SELECTs see the same committed state."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self._db.execute("COMMIT")


# ---------------------------------------------------------------------- machinery


class _Tx:
    """What a write request sees: the connection, and the counter changes it makes
    (committed with the group only if the request succeeds)."""

    __slots__ = ("db", "counts")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.counts: Counter[str] = Counter()

    def run(self, query: str, params: dict[str, Any]) -> sqlite3.Cursor:
        return self.db.execute(QUERIES[query], params)

    def run_many(self, query: str, params: Sequence[dict[str, Any]]) -> None:
        if params:
            self.db.executemany(QUERIES[query], params)

    def count(self, name: str, delta: int) -> None:
        self.counts[name] += delta


@dataclass(slots=True)
class _Request(Generic[T]):
    work: Callable[[_Tx], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    own_transaction: bool


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Writer:
    """The thread that owns the write connection and commits requests in groups."""

    def __init__(self, db: sqlite3.Connection, max_batch: int,
                 on_commit: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sailbridge-sqlite-writer",
                                        daemon=True)
        self._thread.start()

    async def call(self, work: Callable[[_Tx], T], own_transaction: bool = False) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                raise StoreClosed("the store is closed")
            self._queue.put(_Request(work, future, loop, own_transaction))
        return await future

    async def stop(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                group: list[_Request[Any]] = []
                while item is not None:
                    if item.own_transaction:
                        self._commit(group)
                        group = []
                        self._alone(item)
                    else:
                        group.append(item)
                        if len(group) >= self._max_batch:
                            break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                self._commit(group)
                if item is None:
                    return
        finally:
            self._db.close()

    def _alone(self, request: _Request[Any]) -> None:
        """A request that manages its own transactions (migrations)."""
        try:
            result, error = request.work(_Tx(self._db)), None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result, error = None, exc
        self._resolve([(request, result, error)])

    def _commit(self, group: list[_Request[Any]]) -> None:
        group = [request for request in group if not request.future.cancelled()]
        if not group:
            return
        db = self._db
        outcomes: list[tuple[_Request[Any], Any, BaseException | None]] = []
        totals: Counter[str] = Counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            for request in group:
                tx = _Tx(db)
                db.execute("SAVEPOINT request")
                try:
                    result = request.work(tx)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    db.execute("ROLLBACK TO request")
                    db.execute("RELEASE request")
                    outcomes.append((request, None, exc))
                else:
                    db.execute("RELEASE request")
                    totals.update(tx.counts)
                    outcomes.append((request, result, None))
            for name, delta in totals.items():
                if delta:
                    db.execute(QUERIES["add_to_count"], {"name": name, "delta": delta})
            db.execute("COMMIT")
            self._on_commit()
        except BaseException as exc:  # noqa: BLE001 - the whole group failed
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            outcomes = [(request, None, exc) for request in group]
        self._resolve(outcomes)

    @staticmethod
    def _resolve(outcomes: list[tuple[_Request[Any], Any, BaseException | None]]) -> None:
        for request, result, error in outcomes:
            try:
                request.loop.call_soon_threadsafe(_settle, request.future, result, error)
            except RuntimeError:  # the caller's loop is closed; nobody is waiting
                pass


class _Readers:
    """A few threads, each with its own read-only connection."""

    def __init__(self, path: str, threads: int) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="sailbridge-sqlite-read")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self._path, cache_mib=8)
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    async def call(self, read: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: read(self._db(), *args))

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


class _Checkpointer:
    """Copies the WAL back into the database file on its own thread and connection.

    SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold,
    so every thousandth group commit would pay for copying pages and an fsync. Here a
    PASSIVE checkpoint runs at most every `CHECKPOINT_EVERY` seconds while there are
    writes, never blocking the writer or the readers.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sailbridge-sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # busy or locked: the next round will do it
                    pass
                if self._stopping.wait(CHECKPOINT_EVERY):
                    return
        finally:
            self._db.close()
