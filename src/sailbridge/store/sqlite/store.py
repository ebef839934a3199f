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

That bookkeeping costs tens of microseconds an event (random pages in the dedupe and
line indexes), so ingest does not wait for it: `accept` appends each request's events
as ONE row of an append-only ``inbox`` table (sequential key, a few pages a commit)
and returns once that is committed. The writer then *sorts* the inbox into the queue
— dedupe, lines, blockers, counters: what `enqueue` does — in arrival order, a few
milliseconds' worth of events per transaction (a big row is sorted in pieces, see
``inbox_head``), deleting each row in the transaction that sorts its last event, so
a crash loses nothing and the rows it left are sorted when the store opens again.

When it sorts: whenever no request waits, at full speed — unless ingest is busy and
competes with sorting for the CPU (a burst), then for at most `SORT_SHARE_UNDER_LOAD`
of the time (sorting would otherwise take the CPU that acknowledges the burst; the
inbox holds it and sorting catches up after); one step before each claim, so
workers always find work; and completely before an `enqueue` or `replay`, so those
keep arrival order. `counts` shows unsorted events
as pending, and `counts`/`list_jobs` first sort what this store accepted when that
is a short wait (`READ_SORTS_UP_TO`), so an acknowledged event is visible as a job.
``bench/ingest.py`` measures the accept rate and the sort rate.

Durability: see `sailbridge.store.sqlite_db` — WAL with ``synchronous=NORMAL``
survives the process being killed; pass ``synchronous="FULL"`` to also survive an
OS crash or power loss, at one fsync per group commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import os
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
from typing import Any, Generic, NamedTuple, Self, TypeVar

import msgspec

from sailbridge.clock import Clock
from sailbridge.mapping.plan import ForgetUser, Item, MemoryUpdate
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
    ListState,
    MinuteCount,
    NewJob,
    Page,
    Rejection,
    SentJob,
    StatusCounts,
    plan_send,
)
from sailbridge.store.errors import JobNotClaimed, StoreClosed, StoreUnwritable
from sailbridge.store.memory import (
    forget_finished_job,
    forget_user,
    read_cart,
    read_email,
    read_merged,
    truncate_wal,
    write_updates,
)
from sailbridge.store.sqlite_db import QUERIES, Synchronous, connect, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
PRUNE_EVERY = 60.0
"""Seconds between sweeps of message ids that fell out of the dedupe window."""
CHECKPOINT_EVERY = 0.25
"""Seconds between background WAL checkpoints while writes are happening."""
BACKSTOP_CHECKPOINT_PAGES = 10_000
SORT_STEP_SECONDS = 0.005
"""Target length of one sort transaction. Accepts arriving meanwhile wait for it, so
it bounds what sorting adds to ingest's latency; the events per step follow from the
measured sort rate."""
SORT_STEP_EVENTS = (20, 2_000)
"""Bounds on the events one sort step takes, whatever the measured rate says."""
SORT_SHARE_UNDER_LOAD = 0.25
"""While ingest competes with sorting for the CPU, the share of the writer's time that
background sorting may take (claims still sort what they need). Sorting costs several
times what accepting does, so on a small machine it would otherwise take the CPU that
acknowledges a burst; the inbox holds the burst and sorting catches up after it."""
INGEST_BUSY_WINDOW = 0.2
"""Seconds after the last accept during which ingest counts as busy."""
CONTENDED_BELOW = 0.7
"""Sorting counts as competing with ingest when ingest is busy and a sort step got less
than this share of its wall time as CPU (the rest it waited: for a core, or for the
GIL the event loop holds). Below a burst, sorting keeps up at full speed."""
READ_SORTS_UP_TO = 2_000
"""`counts` and `list_jobs` first sort this store's accepted events if no more than
this many wait (a short wait: what a client was just told is stored shows as a job);
beyond that, a burst's backlog, they answer at once (`counts` includes the inbox)."""
RECHECK_INBOX_EVERY = 1.0
"""Seconds after which a claim looks at the inbox even if this store accepted nothing
(another process may have left rows there)."""
SORT_FAILURE_PAUSE = 1.0
"""Seconds the writer leaves the inbox alone after a sort failed (logged), before retrying."""

_encode = msgspec.json.encode
_attempt_decoder = msgspec.json.Decoder(Attempt)
_keys_decoder = msgspec.json.Decoder(list[str])


class _InboxJob(msgspec.Struct, array_like=True):
    """A `NewJob` as the inbox stores it, read back with the event's bytes as they are."""

    write_key: str
    message_id: str | None
    event: msgspec.Raw
    event_type: str
    user_key: str
    ordering_keys: list[str]
    received_at: float


_inbox_decoder = msgspec.json.Decoder(list[_InboxJob])


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
        self._progress = _SortProgress()
        self._writer = _Writer(writer_db, max_batch, on_commit=self._checkpointer.poke,
                               sort=self._sort, progress=self._progress)
        self._readers = _Readers(self._path, readers)
        # touched by the writer thread only:
        self._prune_at = float("-inf")
        self._decoded_row: tuple[int, list[_InboxJob]] = (0, [])

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def migrate(self) -> int:
        return await self._writer.call(lambda tx: migrate(tx.db), own_transaction=True)

    async def close(self) -> None:
        """Stop after the requests already made; inbox rows not sorted yet stay on disk
        and are sorted when the file is opened again."""
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
            lambda tx: self._enqueue(tx, jobs, rejections, dedupe_window, now),
            kind=_Kind.ORDERED)

    async def accept(self, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                     dedupe_window: float, now: float) -> int:
        """Append the jobs to the inbox as one row (rejections go straight to their
        table); ``dedupe_window <= 0`` turns dedupe off when the row is sorted."""
        if not jobs and not rejections:
            return 0
        payload = _encode(jobs) if jobs else b""
        received_at = min(job.received_at for job in jobs) if jobs else now
        params = {"events": len(jobs), "jobs": payload, "dedupe_window": dedupe_window,
                  "now": now, "received_at": received_at}
        return await self._writer.call(lambda tx: _accept(tx, params, rejections),
                                       kind=_Kind.ACCEPT)

    async def enqueue_sent(self, jobs: Sequence[NewJob], now: float, *,
                           force: bool = False) -> list[SentJob]:
        if not jobs:
            return []
        return await self._writer.call(lambda tx: self._enqueue_sent(tx, jobs, now, force),
                                       kind=_Kind.ORDERED)

    async def forget(self, user_key: str) -> Forgotten:
        forgotten = await self._writer.call(lambda tx: forget_user(tx.db, user_key))
        await self._writer.call(lambda tx: truncate_wal(tx.db), own_transaction=True)
        return forgotten

    async def claim(self, worker: str, limit: int, lease: float, now: float) -> list[Job]:
        if limit <= 0:
            return []
        return await self._writer.call(lambda tx: _claim(tx, worker, limit, lease, now),
                                       kind=_Kind.CLAIM)

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
        return await self._writer.call(lambda tx: _replay(tx, job_ids, reason_contains, now),
                                       kind=_Kind.ORDERED)

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        params = {"before": older_than, "limit": limit}

        def purge(tx: _Tx) -> int:
            tx.run("purge_finished_attempts", params)
            deleted: int = tx.run("purge_finished_jobs", params).rowcount
            return deleted

        return await self._writer.call(purge)

    async def purge_dead_jobs(self, job_ids: Sequence[int] | None,
                              reason_contains: str | None) -> int:
        return await self._writer.call(lambda tx: _purge_chosen(tx, job_ids, reason_contains))

    async def purge_dead(self, older_than: float) -> int:
        """Delete dead jobs and rejections from before ``older_than``; returns the number
        of dead jobs deleted."""
        return await self._writer.call(lambda tx: _purge(tx, older_than))

    async def set_paused(self, reason: str | None) -> None:
        await self._writer.call(
            lambda tx: tx.run("set_control", {"name": "paused", "value": reason}))

    async def check_writable(self, now: float) -> None:
        """A write through the writer thread (which proves it alive) — and, first, free
        space on the file's disk: in WAL mode a small write can still land in WAL pages
        written before, so a full disk would pass the write alone while every real
        batch fails."""
        free = await asyncio.to_thread(_free_bytes, self._path)
        if free < MIN_FREE_BYTES:
            raise StoreUnwritable(f"the disk holding {self._path} is full ({free} bytes free)")
        try:
            await self._writer.call(
                lambda tx: tx.run("set_control", {"name": "health_probe", "value": repr(now)}))
        except sqlite3.Error as exc:
            raise StoreUnwritable(f"SQLite refused a write to {self._path}: {exc}") from exc

    # ------------------------------------------------------------------ queue reads

    async def get_job(self, job_id: int) -> Job | None:
        return await self._readers.call(_get_job, job_id)

    async def list_jobs(self, state: JobState, limit: int = 100,
                        reason_contains: str | None = None) -> list[Job]:
        if JobState(state) is JobState.PENDING:
            await self._sort_recent_accepts()
        return await self._readers.call(_list_jobs, state, limit, reason_contains)

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        return await self._readers.call(_list_rejections, limit)

    async def find_jobs(self, query: JobQuery) -> Page[Job]:
        if query.state in (None, ListState.PENDING):
            await self._sort_recent_accepts()
        return await self._readers.call(_find_jobs, query)

    async def find_rejections(self, reason: str | None = None, before: int | None = None,
                              limit: int = 50, scan: int = SCAN_WINDOW) -> Page[Rejection]:
        return await self._readers.call(_find_rejections, reason, before, limit, scan)

    async def finished_per_minute(self, since: float, until: float) -> list[MinuteCount]:
        rows = await self._readers.call(
            lambda db: db.execute(QUERIES["finished_per_minute"],
                                  {"since": since // 60 * 60,
                                   "until": until // 60 * 60}).fetchall())
        return [MinuteCount(float(minute), delivered, dead)
                for minute, delivered, dead in rows if delivered or dead]

    async def counts(self) -> StatusCounts:
        await self._sort_recent_accepts()
        return await self._readers.call(_counts)

    async def _sort_recent_accepts(self) -> None:
        """Read-your-writes for a reader after ingest: sort what this store accepted
        first, unless that is a burst's backlog (see `READ_SORTS_UP_TO`)."""
        if self._progress.lagging(READ_SORTS_UP_TO):
            await self._writer.call(lambda tx: None, kind=_Kind.ORDERED)

    async def paused_reason(self) -> str | None:
        return await self._readers.call(_paused_reason)

    # ------------------------------------------------------------------ backfill files

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        return await self._readers.call(_backfill_file, content_hash)

    async def save_backfill_file(self, record: BackfillFile) -> None:
        await self._writer.call(
            lambda tx: tx.run("save_backfill_file", dataclasses.asdict(record)))

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
            if any(isinstance(update, ForgetUser) for update in updates):
                await self._writer.call(lambda tx: truncate_wal(tx.db), own_transaction=True)

    # ------------------------------------------------------------------ writer side

    def _enqueue(self, tx: _Tx, jobs: Sequence[NewJob], rejections: Sequence[Rejection],
                 dedupe_window: float, now: float) -> EnqueueResult:
        """One batch in a handful of statements: the per-row work is executemany."""
        ids, duplicates = self._place(tx, [_Batch(jobs, dedupe_window, now)])
        _insert_rejections(tx, rejections)
        return EnqueueResult(len(ids), duplicates, len(rejections), tuple(ids))

    def _enqueue_sent(self, tx: _Tx, jobs: Sequence[NewJob], now: float,
                      force: bool) -> list[SentJob]:
        known: dict[str, int] = {} if force else {
            message_id: job_id for message_id, job_id in tx.run(
                "sent_jobs", {"ids": _encode([job.message_id for job in jobs])})}
        plan = plan_send(jobs, known)
        ids, _ = self._place(tx, [_Batch(plan.fresh, 0.0, now)]) if plan.fresh else ([], 0)
        return plan.results(ids)

    def _sort(self, tx: _Tx, max_events: int) -> _SortOutcome:
        """Move the oldest ``max_events`` inbox events (fewer if the inbox holds fewer)
        into the queue, as `enqueue` would have at each row's own ``now``. A row is
        deleted with its last event; one left partly sorted is the inbox head."""
        head_row, head_sorted = tx.run("inbox_head", {}).fetchone()
        batches: list[_Batch] = []
        taken = 0
        last_done = 0  # the last row sorted to its end
        partial: tuple[int, int] | None = None  # (row, jobs sorted) of a row left mid-way
        cursor = tx.run("inbox_rows", {})
        try:
            for row_id, events, payload, window, now in cursor:
                skip = head_sorted if row_id == head_row else 0
                jobs = self._inbox_jobs(row_id, payload)
                take = min(events - skip, max_events - taken)
                batches.append(_Batch(jobs[skip:skip + take], window, now))
                taken += take
                if skip + take < events:
                    partial = (row_id, skip + take)
                    break
                last_done = row_id
                if taken >= max_events:
                    break
        finally:
            cursor.close()
        if batches:
            self._place(tx, batches)
            tx.count("inbox", -taken)
            if last_done:
                tx.run("forget_inbox_rows", {"last": last_done})
            if partial is not None or head_row:
                row, sorted_ = partial if partial is not None else (0, 0)
                tx.run("set_inbox_head", {"row": row, "sorted": sorted_})
        first_left = tx.run("inbox_first_id", {}).fetchone()[0]
        if first_left is None:
            through = tx.run("inbox_last_id", {}).fetchone()[0]
        else:
            through = first_left - 1
        return _SortOutcome(through, taken, first_left is not None)

    def _inbox_jobs(self, row_id: int, payload: bytes) -> list[_InboxJob]:
        """The jobs of an inbox row, decoded once even when sorted in several pieces
        (writer thread only)."""
        cached_id, jobs = self._decoded_row
        if cached_id != row_id:
            jobs = _inbox_decoder.decode(payload)
            self._decoded_row = (row_id, jobs)
        return jobs

    def _place(self, tx: _Tx, batches: Sequence[_Batch]) -> tuple[list[int], int]:
        """Put the batches' jobs in the queue, in order: drop duplicates (each batch
        with its own window and ``now``), join the lines, count. Returns the new ids
        and the number of duplicates."""
        ids: list[int] = []
        duplicates = 0
        seen = _seen_messages(tx, batches)
        all_keys = {key for batch in batches for job in batch.jobs for key in job.ordering_keys}
        busy = _busy_lines(tx, all_keys)
        next_id = tx.run("last_job_id", {}).fetchone()[0] + 1
        rows: list[tuple[Any, ...]] = []
        lines: list[tuple[str, int, int]] = []
        messages: list[tuple[str, str, float]] = []
        prune_before: float | None = None
        for batch in batches:
            now = batch.now
            dedupe = batch.dedupe_window > 0
            seen_after = now - batch.dedupe_window
            if dedupe:
                prune_before = seen_after
            for job in batch.jobs:
                if dedupe and job.message_id is not None:
                    message = (job.write_key, job.message_id)
                    last_seen = seen.get(message)
                    if last_seen is not None and last_seen >= seen_after:
                        duplicates += 1
                        continue
                    seen[message] = now
                    messages.append((job.write_key, job.message_id, now))
                keys = job.ordering_keys
                if len(keys) > 1:
                    keys = list(dict.fromkeys(keys))
                ids.append(next_id)
                rows.append((next_id, job.write_key, job.message_id, _encode(job.event),
                             job.event_type, job.user_key, _encode(keys),
                             sum(key in busy for key in keys), job.received_at, now, now))
                for key in keys:
                    lines.append((key, next_id, next_id))
                    busy.add(key)
                next_id += 1
        tx.run_many("remember_message", messages)
        tx.run_many("insert_job", rows)
        tx.run_many("join_line", lines)
        tx.count("pending", len(rows))
        tx.count("deduplicated", duplicates)
        if prune_before is not None and batches[-1].now >= self._prune_at:
            tx.run("forget_messages", {"seen_after": prune_before})
            self._prune_at = batches[-1].now + PRUNE_EVERY
        return ids, duplicates


class _Batch(NamedTuple):
    """Jobs placed with one dedupe window and one ``now`` (an enqueue, an inbox row)."""

    jobs: Sequence[NewJob] | Sequence[_InboxJob]
    dedupe_window: float
    now: float


class _SortOutcome(NamedTuple):
    through: int
    """Every inbox id up to this one is sorted (by this store or another)."""
    events: int
    """Events taken out of the inbox by this step (duplicates included)."""
    more: bool
    """Rows are left in the inbox."""


# ---------------------------------------------------------------------- write requests
# Each runs on the writer thread inside the group transaction and a savepoint.


def _accept(tx: _Tx, inbox_row: dict[str, Any], rejections: Sequence[Rejection]) -> int:
    events: int = inbox_row["events"]
    if events:
        row_id = tx.run("accept_into_inbox", inbox_row).lastrowid
        assert row_id is not None
        tx.accepted(row_id, events)
        tx.count("inbox", events)
    _insert_rejections(tx, rejections)
    return events


def _insert_rejections(tx: _Tx, rejections: Sequence[Rejection]) -> None:
    tx.run_many("insert_rejection", [
        {"write_key": r.write_key, "message_id": r.message_id, "raw": r.raw,
         "reason": r.reason, "received_at": r.received_at} for r in rejections])
    tx.count("rejected", len(rejections))


def _seen_messages(tx: _Tx, batches: Sequence[_Batch]) -> dict[tuple[str, str], float]:
    """When the batches' message ids were last seen, for those seen within the widest
    of their dedupe windows (each job is then judged by its own batch's window)."""
    by_key: dict[str, list[str]] = {}
    seen_after = float("inf")
    for batch in batches:
        if batch.dedupe_window <= 0:
            continue
        seen_after = min(seen_after, batch.now - batch.dedupe_window)
        for job in batch.jobs:
            if job.message_id is not None:
                by_key.setdefault(job.write_key, []).append(job.message_id)
    return {(write_key, message_id): seen_at
            for write_key, message_ids in by_key.items()
            for message_id, seen_at in tx.run("seen_messages", {
                "write_key": write_key, "message_ids": _encode(message_ids),
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
    if forget_finished_job(tx.db, job_id):
        # The deletion of a forgotten person: it goes too, once finished (counted).
        tx.truncate_wal = True


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


def _dead_chosen(tx: _Tx, job_ids: Sequence[int] | None,
                 reason_contains: str | None) -> list[Row]:
    """``(id, ordering keys)`` of the dead jobs chosen by ids and/or reason, by id."""
    if job_ids is not None and not job_ids:
        return []
    if job_ids is None:
        return tx.run("dead_by_reason", {"reason": reason_contains}).fetchall()
    return tx.run("dead_by_ids", {"ids": _encode(list(job_ids)),
                                  "reason": reason_contains}).fetchall()


def _purge_chosen(tx: _Tx, job_ids: Sequence[int] | None, reason_contains: str | None) -> int:
    ids = _encode([row[0] for row in _dead_chosen(tx, job_ids, reason_contains)])
    tx.run("purge_attempts_of", {"ids": ids})
    deleted: int = tx.run("purge_jobs_of", {"ids": ids}).rowcount
    tx.count("dead", -deleted)
    return deleted


def _replay(tx: _Tx, job_ids: Sequence[int] | None, reason_contains: str | None,
            now: float) -> int:
    rows = _dead_chosen(tx, job_ids, reason_contains)
    if not rows:
        return 0
    last = tx.run("reserve_positions", {"n": len(rows)}).fetchall()[0][0]
    for pos, (job_id, keys_json) in enumerate(rows, start=last - len(rows) + 1):
        keys = _keys_decoder.decode(keys_json)
        tx.run("requeue_job", {"id": job_id, "pos": pos,
                               "blockers": len(_busy_lines(tx, keys)), "now": now})
        for key in keys:
            tx.run("join_line", (key, pos, job_id))
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


_DIALECT = listing.Dialect(
    param=lambda name, _type: f":{name}",
    event_name=("(CASE WHEN event_type = 'track' THEN json_extract(CAST(event AS TEXT), '$.event')"
                " ELSE event_type END)"),
    contains=lambda column, value: f"instr({column}, {value}) > 0",
    index_hints=True,
)
_JOB_COLUMNS = ("id, write_key, message_id, event, event_type, user_key, ordering_keys, state, "
                "attempts, received_at, first_attempt_at, available_at, reason")
_REJECTION_COLUMNS = "write_key, message_id, raw, reason, received_at, id"


def _page_rows(db: sqlite3.Connection, plan: listing.Listing, table: str, columns: str,
               before: int | None, limit: int, scan: int
               ) -> tuple[list[Row], tuple[int | None, int] | None]:
    """The rows of one page (up to ``limit + 1``) and, if windowed, its window."""
    params = listing.bounds(plan, before, limit, scan)
    window = None
    if plan.windowed:
        floor, examined = db.execute(listing.window_sql(plan, _DIALECT, table), params).fetchone()
        window = (floor, examined)
        if not examined:
            return [], window
        params["floor"] = floor
    return db.execute(listing.rows_sql(plan, _DIALECT, table, columns), params).fetchall(), window


def _find_jobs(db: sqlite3.Connection, query: JobQuery) -> Page[Job]:
    plan = listing.job_listing(query, _DIALECT)
    with _snapshot(db):
        rows, window = _page_rows(db, plan, "jobs", _JOB_COLUMNS, query.before, query.limit,
                                  query.scan)
        jobs = _with_history(db, rows[:query.limit])
    return listing.page_of([*jobs, *[_job(row) for row in rows[query.limit:]]],
                           lambda job: job.id, query.limit, window, query.scan)


def _find_rejections(db: sqlite3.Connection, reason: str | None, before: int | None,
                     limit: int, scan: int) -> Page[Rejection]:
    plan = listing.rejection_listing(reason, _DIALECT)
    rows, window = _page_rows(db, plan, "rejections", _REJECTION_COLUMNS, before, limit, scan)
    return listing.page_of([Rejection(*row) for row in rows], lambda r: r.id or 0, limit,
                           window, scan)


def _list_rejections(db: sqlite3.Connection, limit: int) -> list[Rejection]:
    rows = db.execute(QUERIES["list_rejections"], {"limit": limit}).fetchall()
    return [Rejection(*row) for row in rows]


def _counts(db: sqlite3.Connection) -> StatusCounts:
    with _snapshot(db):
        counts = dict(db.execute(QUERIES["job_counts"]).fetchall())
        oldest = db.execute(QUERIES["oldest_unfinished"]).fetchall()[0][0]
        inbox_oldest = db.execute(QUERIES["oldest_in_inbox"]).fetchall()
        paused = _paused_reason(db)
    if inbox_oldest and (oldest is None or inbox_oldest[0][0] < oldest):
        oldest = inbox_oldest[0][0]
    return StatusCounts(
        pending=counts["pending"] + counts["inbox"], retrying=counts["retrying"],
        claimed=counts["claimed"], delivered=counts["delivered"], skipped=counts["skipped"],
        rejected=counts["rejected"], dead=counts["dead"], oldest_pending_at=oldest,
        paused_reason=paused, deduplicated=counts["deduplicated"], inbox=counts["inbox"])


def _backfill_file(db: sqlite3.Connection, content_hash: str) -> BackfillFile | None:
    rows = db.execute(QUERIES["backfill_file"], {"content_hash": content_hash}).fetchall()
    return BackfillFile(*rows[0]) if rows else None


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


Params = dict[str, Any] | Sequence[Any]


class _Tx:
    """What a write request sees: the connection, and the counter changes and inbox
    rows it makes (taken into account with the group only if the request succeeds)."""

    __slots__ = ("counts", "db", "inbox_rows", "truncate_wal")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.counts: Counter[str] = Counter()
        self.inbox_rows: list[tuple[int, int]] = []
        self.truncate_wal = False
        """Checkpoint and empty the WAL after the commit (something was forgotten)."""

    def run(self, query: str, params: Params) -> sqlite3.Cursor:
        return self.db.execute(QUERIES[query], params)

    def run_many(self, query: str, params: Sequence[Params]) -> None:
        if params:
            self.db.executemany(QUERIES[query], params)

    def count(self, name: str, delta: int) -> None:
        if delta:
            self.counts[name] += delta

    def accepted(self, row_id: int, events: int) -> None:
        """This request added inbox row ``row_id`` holding ``events`` events."""
        self.inbox_rows.append((row_id, events))


class _Kind(enum.Enum):
    """What a write request needs from the inbox before it runs."""

    PLAIN = "plain"      # nothing (settling jobs, memory, control)
    ACCEPT = "accept"    # nothing, and it is on ingest's ack path: committed first
    CLAIM = "claim"      # a sort step first, so recent accepts become claimable
    ORDERED = "ordered"  # the whole inbox sorted first, so arrival order holds (enqueue,
    # replay; and a read that wants to see what was just accepted)


@dataclass(slots=True)
class _Request(Generic[T]):
    work: Callable[[_Tx], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    own_transaction: bool
    kind: _Kind = _Kind.PLAIN


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


MIN_FREE_BYTES = 1 << 20
"""Below this much free space on its disk the store reports itself unwritable: about
what one group commit of a large batch needs."""


def _free_bytes(path: str) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return stats.f_bavail * stats.f_frsize


class _Writer:
    """The thread that owns the write connection and commits requests in groups.

    Each round takes everything queued (up to ``max_batch``): accepts are committed
    first, in their own transaction, so ingest's acknowledgements wait for no other
    work; then the rest, after whatever sorting of the inbox they need (see `_Kind`).
    Between rounds it sorts the inbox in the background (see `_next`).
    """

    def __init__(self, db: sqlite3.Connection, max_batch: int,
                 on_commit: Callable[[], None] = lambda: None,
                 sort: Callable[[_Tx, int], _SortOutcome] | None = None,
                 progress: _SortProgress | None = None) -> None:
        self._db = db
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._sort = sort
        self._progress = progress if progress is not None else _SortProgress()
        # writer thread only:
        self._sort_wanted = False  # the inbox may hold rows
        self._sort_paused_until = 0.0  # after a failure
        self._next_background_sort = 0.0  # keeps sorting to its share while ingest is busy
        self._last_accept = float("-inf")
        self._sort_rate = 20_000.0  # events/s, a moving average over recent steps
        self._cpu_share = 1.0  # CPU time / wall time of recent background steps
        self._inbox_checked_at = float("-inf")
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sailbridge-sqlite-writer",
                                        daemon=True)
        self._thread.start()

    async def call(self, work: Callable[[_Tx], T], own_transaction: bool = False,
                   kind: _Kind = _Kind.PLAIN) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                raise StoreClosed("the store is closed")
            self._queue.put(_Request(work, future, loop, own_transaction, kind))
        return await future

    async def stop(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        group: list[_Request[Any]] = []
        try:
            while True:
                item = self._next()
                group = []
                while item is not None:
                    group.append(item)
                    if len(group) >= self._max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                self._serve(group)
                if item is None:
                    return
        except BaseException:
            log.exception("the SQLite writer thread failed; the store is closed")
            self._fail_waiting(group)
            raise
        finally:
            self._db.close()

    def _fail_waiting(self, taken: list[_Request[Any]]) -> None:
        """After the thread failed: refuse what it had taken or was queued, rather than
        leave callers waiting (a request answered already keeps its answer)."""
        with self._lock:
            self._closed = True
        waiting = list(taken)
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                waiting.append(request)
        error = StoreClosed("the store's writer failed")
        self._resolve([(request, None, error) for request in waiting])

    def _next(self) -> _Request[Any] | None:
        """The next request; meanwhile, sort the inbox in the background (see `_Kind`
        and `SORT_SHARE_UNDER_LOAD` for when)."""
        while True:
            if self._can_sort():
                now = time.monotonic()
                if now >= self._next_background_sort:
                    cpu = time.thread_time()
                    self._sort_step()
                    finished = time.monotonic()
                    wall = finished - now
                    self._cpu_share = (0.7 * self._cpu_share
                                       + 0.3 * (time.thread_time() - cpu) / max(wall, 1e-6))
                    if (finished - self._last_accept < INGEST_BUSY_WINDOW
                            and self._cpu_share < CONTENDED_BELOW):
                        share = SORT_SHARE_UNDER_LOAD
                        self._next_background_sort = finished + wall * (1 - share) / share
                    try:
                        return self._queue.get_nowait()  # what came meanwhile goes first
                    except queue.Empty:
                        continue
                wait: float | None = self._next_background_sort - now
            elif self._sort_wanted:  # paused after a failure
                wait = self._sort_paused_until - time.monotonic()
            else:
                wait = None
            try:
                return self._queue.get(timeout=max(wait, 0.0) if wait is not None else None)
            except queue.Empty:
                continue

    def _serve(self, group: list[_Request[Any]]) -> None:
        accepts = [request for request in group if request.kind is _Kind.ACCEPT]
        rest = [request for request in group if request.kind is not _Kind.ACCEPT]
        if accepts:
            self._commit(accepts)
            self._last_accept = time.monotonic()
        kinds = {request.kind for request in rest}
        if kinds & {_Kind.ORDERED, _Kind.CLAIM}:
            if time.monotonic() - self._inbox_checked_at > RECHECK_INBOX_EVERY:
                self._sort_wanted = True  # another process may have left rows
            if _Kind.ORDERED in kinds:
                self._sort_all()
            elif self._can_sort():
                self._sort_step()
        batch: list[_Request[Any]] = []
        for request in rest:
            if request.own_transaction:
                self._commit(batch)
                batch = []
                self._alone(request)
            else:
                batch.append(request)
        self._commit(batch)

    def _alone(self, request: _Request[Any]) -> None:
        """A request that manages its own transactions (migrations)."""
        try:
            result, error = request.work(_Tx(self._db)), None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result, error = None, exc
        if error is None and self._sort is not None:
            self._sort_wanted = True  # the schema is there now: rows a crash left?
        self._resolve([(request, result, error)])

    def _commit(self, group: list[_Request[Any]]) -> None:
        group = [request for request in group if not request.future.cancelled()]
        if not group:
            return
        db = self._db
        outcomes: list[tuple[_Request[Any], Any, BaseException | None]] = []
        totals: Counter[str] = Counter()
        inbox_rows: list[tuple[int, int]] = []
        truncate = False
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
                    inbox_rows += tx.inbox_rows
                    truncate = truncate or tx.truncate_wal
                    outcomes.append((request, result, None))
            _add_counts(db, totals)
            db.execute("COMMIT")
            self._on_commit()
        except BaseException as exc:  # noqa: BLE001 - the whole group failed
            _rollback(db)
            outcomes = [(request, None, exc) for request in group]
            inbox_rows = []
            truncate = False
        if truncate:
            try:
                truncate_wal(db)
            except sqlite3.Error:  # committed either way; the checkpointer copies it later
                log.exception("emptying the WAL after forgetting a person failed")
        if inbox_rows:
            self._progress.accepted(inbox_rows)
            self._sort_wanted = self._sort is not None
        self._resolve(outcomes)

    # -- sorting the inbox -------------------------------------------------------------

    def _can_sort(self) -> bool:
        return (self._sort is not None and self._sort_wanted
                and time.monotonic() >= self._sort_paused_until)

    def _sort_step(self) -> _SortOutcome | None:
        """Sort one chunk of the inbox in its own transaction; ``None`` if that failed
        (logged; sorting pauses a moment, the rows stay for the next try)."""
        assert self._sort is not None
        db = self._db
        tx = _Tx(db)
        low, high = SORT_STEP_EVENTS
        budget = min(max(int(self._sort_rate * SORT_STEP_SECONDS), low), high)
        started = time.perf_counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            outcome = self._sort(tx, budget)
            _add_counts(db, tx.counts)
            db.execute("COMMIT")
        except Exception:  # the rows stay in the inbox; retried later
            _rollback(db)
            log.exception("sorting the inbox failed; retrying in %.0f s", SORT_FAILURE_PAUSE)
            self._sort_paused_until = time.monotonic() + SORT_FAILURE_PAUSE
            return None
        if outcome.events:
            self._on_commit()
            if outcome.events >= low:
                rate = outcome.events / max(time.perf_counter() - started, 1e-6)
                self._sort_rate = 0.7 * self._sort_rate + 0.3 * rate
        self._inbox_checked_at = time.monotonic()
        self._sort_wanted = outcome.more
        self._progress.sorted(outcome.through, outcome.events)
        return outcome

    def _sort_all(self) -> None:
        """Sort every row in the inbox now (before an enqueue or replay)."""
        while self._can_sort():
            if self._sort_step() is None:
                return

    @staticmethod
    def _resolve(outcomes: list[tuple[_Request[Any], Any, BaseException | None]]) -> None:
        for request, result, error in outcomes:
            try:
                request.loop.call_soon_threadsafe(_settle, request.future, result, error)
            except RuntimeError:  # the caller's loop is closed; nobody is waiting
                pass


def _add_counts(db: sqlite3.Connection, totals: Counter[str]) -> None:
    for name, delta in totals.items():
        if delta:
            db.execute(QUERIES["add_to_count"], {"name": name, "delta": delta})


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class _SortProgress:
    """How far the inbox is sorted compared with what this store accepted.

    Written by the writer thread, read by event loops (hence the lock). Inbox ids only
    grow (AUTOINCREMENT) and rows are sorted as a prefix, so "sorted through id N"
    says everything about them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted_through = 0
        self._sorted_through = 0
        self._unsorted_events = 0

    def accepted(self, rows: Sequence[tuple[int, int]]) -> None:
        """Inbox rows ``(id, events)`` this store committed."""
        with self._lock:
            self._accepted_through = max(self._accepted_through, max(row for row, _ in rows))
            self._unsorted_events += sum(events for _, events in rows)

    def sorted(self, through: int, events: int) -> None:
        """Every inbox id up to ``through`` is sorted; ``events`` were just sorted."""
        with self._lock:
            self._sorted_through = max(self._sorted_through, through)
            if self._sorted_through >= self._accepted_through:
                self._unsorted_events = 0
            else:
                self._unsorted_events = max(0, self._unsorted_events - events)

    def lagging(self, max_events: int) -> bool:
        """Whether some of this store's accepts are not sorted yet, but no more than
        ``max_events`` events of them (a short wait, not a burst's backlog)."""
        with self._lock:
            return (self._sorted_through < self._accepted_through
                    and self._unsorted_events <= max_events)


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
