"""`SqliteStore`: the asyncio face of the embedded queue (see `sailbridge.store.sqlite`).

Every write is handed to the writer thread (`sailbridge.store.sqlite.writer`) as a
request run in its group transaction (`sailbridge.store.sqlite.intake`,
`sailbridge.store.sqlite.lifecycle`, `sailbridge.store.sqlite.memory`); every read to
a reader thread (`sailbridge.store.sqlite.reads`). Durability: see
`sailbridge.store.sqlite.connection` — WAL with ``synchronous=NORMAL`` survives the
process being killed; pass ``synchronous="FULL"`` to also survive an OS crash or power
loss, at one fsync per group commit.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from sailbridge.clock import Clock
from sailbridge.mapping.plan import MemoryUpdate
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import pause_name
from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.base import (
    QUEUE_SAMPLE,
    SCAN_WINDOW,
    Attempt,
    EnqueueResult,
    Job,
    JobQuery,
    JobState,
    ListState,
    MinuteCount,
    NewJob,
    Page,
    QueuedKinds,
    Rejection,
    StatusCounts,
)
from sailbridge.store.errors import StoreUnwritable
from sailbridge.store.guards import StoreGuards
from sailbridge.store.memory import Forgotten, RememberedCart, merge_forgotten
from sailbridge.store.send_plan import SentJob
from sailbridge.store.sqlite import lifecycle, reads
from sailbridge.store.sqlite.checkpointer import BACKSTOP_CHECKPOINT_PAGES, Checkpointer
from sailbridge.store.sqlite.connection import Synchronous, connect, migrate
from sailbridge.store.sqlite.intake import Intake, accept
from sailbridge.store.sqlite.memory import (
    Person,
    Traces,
    delete_traces,
    find_traces,
    forget_memory,
    forgotten,
    known_accounts,
    read_cart,
    read_email,
    read_merged,
    truncate_wal,
    wipe,
    write_updates,
)
from sailbridge.store.sqlite.readers import Readers
from sailbridge.store.sqlite.rows import encode
from sailbridge.store.sqlite.sort_progress import SortProgress
from sailbridge.store.sqlite.transaction import Tx
from sailbridge.store.sqlite.writer import Kind, Writer

FORGET_CHUNK = 20_000
"""Ids (of jobs, of rejections) one step of a forget's search covers: ~50 ms of a
reader's time per step, and a writer step only for what it found."""
FORGET_SEARCH_SHARE = 0.5
"""The share of its wall time a forget's search spends searching (it rests between
chunks), so ingest keeps the CPU it needs on a small machine."""
READ_SORTS_UP_TO = 2_000
"""`counts` and `find_jobs` (of pending jobs) first sort this store's accepted events if
no more than this many wait (a short wait: what a client was just told is stored shows as a job);
beyond that, a burst's backlog, they answer at once (`counts` includes the inbox)."""

MIN_FREE_BYTES = 1 << 20
"""Below this much free space on its disk the store reports itself unwritable: about
what one group commit of a large batch needs."""


def _free_bytes(path: str) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return stats.f_bavail * stats.f_frsize


class SqliteStore(StoreGuards):
    """`sailbridge.store.base.Store` in one local SQLite file.

    Use `SqliteStore.open` (or call `migrate` yourself) before anything else, and
    `close` when done. Lists are in arrival (id) order. `claim` returns jobs without
    their history (`get_job` has it); a job keeps its id when replayed but joins the
    back of its users' lines.
    """

    def __init__(
        self,
        path: str | Path,
        clock: Clock = time.time,
        *,
        synchronous: Synchronous = "NORMAL",
        readers: int = 2,
        max_batch: int = 1000,
    ) -> None:
        self._path = str(path)
        self._clock = clock
        writer_db = connect(self._path, synchronous, cache_mib=64)
        # The checkpointer copies the WAL back into the file off the write path; the
        # writer only checkpoints itself if the WAL grows past ~40 MB regardless.
        writer_db.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
        self._checkpointer = Checkpointer(connect(self._path, synchronous, cache_mib=2))
        self._progress = SortProgress()
        self._intake = Intake()  # touched by the writer thread only
        self._writer = Writer(
            writer_db,
            max_batch,
            on_commit=self._checkpointer.poke,
            sort=self._intake.sort,
            progress=self._progress,
        )
        self._readers = Readers(self._path, readers)

    @classmethod
    async def open(
        cls, path: str | Path, clock: Clock = time.time, *, synchronous: Synchronous = "NORMAL"
    ) -> SqliteStore:
        """Open the file, creating or upgrading its schema."""
        store = cls(path, clock, synchronous=synchronous)
        return await store.ready(store.migrate)

    async def migrate(self) -> int:
        return await self._writer.call(lambda tx: migrate(tx.db), own_transaction=True)

    async def close(self) -> None:
        """Stop after the requests already made; inbox rows not sorted yet stay on disk
        and are sorted when the file is opened again."""
        await self._writer.stop()
        await asyncio.to_thread(self._readers.close)
        await asyncio.to_thread(self._checkpointer.stop)

    # ------------------------------------------------------------------ queue writes

    async def _enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        return await self._writer.call(
            lambda tx: self._intake.enqueue(tx, jobs, rejections, dedupe_window, now),
            kind=Kind.ORDERED,
        )

    async def _accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int:
        """Append the jobs to the inbox as one row (rejections go straight to their
        table); ``dedupe_window <= 0`` turns dedupe off when the row is sorted."""
        payload = encode(jobs) if jobs else b""
        received_at = min(job.received_at for job in jobs) if jobs else now
        params = {
            "events": len(jobs),
            "jobs": payload,
            "dedupe_window": dedupe_window,
            "now": now,
            "received_at": received_at,
        }
        return await self._writer.call(lambda tx: accept(tx, params, rejections), kind=Kind.ACCEPT)

    async def _enqueue_sent(self, jobs: Sequence[NewJob], now: float, force: bool) -> list[SentJob]:
        return await self._writer.call(
            lambda tx: self._intake.enqueue_sent(tx, jobs, now, force), kind=Kind.ORDERED
        )

    async def forget(self, user_key: str, account: str | None = None) -> Forgotten:
        accounts = await self._readers.call(known_accounts) if account is None else [account]
        parts = [
            await self._forget_traces(
                await self._writer.call(functools.partial(_forget_memory, user_key, name))
            )
            for name in accounts
        ]
        return merge_forgotten(user_key, parts)

    async def _forget_traces(self, person: Person) -> Forgotten:
        """Search the person's finished jobs and rejections a chunk at a time on a
        reader, delete each chunk's finds in a short writer step, then wipe the free
        pages and empty the WAL. The search takes at most `FORGET_SEARCH_SHARE` of
        the time (it rests as long as its chunks take between them), so a machine
        ingesting meanwhile keeps most of its CPU for that."""
        counts: list[tuple[int, int]] = []
        after_job = after_rejection = 0
        while after_job < person.through_job or after_rejection < person.through_rejection:
            started = time.monotonic()
            traces = await self._readers.call(
                find_traces, person, after_job, after_rejection, FORGET_CHUNK
            )
            after_job += FORGET_CHUNK
            after_rejection += FORGET_CHUNK
            if traces.jobs or traces.rejections:
                counts.append(await self._writer.call(functools.partial(_delete, traces)))
            took = time.monotonic() - started
            await asyncio.sleep(took * (1 - FORGET_SEARCH_SHARE) / FORGET_SEARCH_SHARE)
        await self._writer.call(lambda tx: wipe(tx.db))
        await self._writer.call(lambda tx: truncate_wal(tx.db), own_transaction=True)
        return forgotten(person, counts)

    async def _claim(
        self, worker: str, limit: int, lease: float, now: float, account: str | None
    ) -> list[Job]:
        return await self._writer.call(
            lambda tx: lifecycle.claim(tx, worker, limit, lease, now, account), kind=Kind.CLAIM
        )

    async def _claim_groups(
        self, worker: str, limit: int, lease: float, now: float, size: int, account: str | None
    ) -> list[list[Job]]:
        return await self._writer.call(
            lambda tx: lifecycle.claim_groups(tx, worker, limit, lease, now, size, account),
            kind=Kind.CLAIM,
        )

    async def _heartbeat(
        self, worker: str, job_ids: Sequence[int], lease: float, now: float
    ) -> None:
        await self._writer.call(
            lambda tx: tx.run(
                "extend_leases",
                {"ids": encode(list(job_ids)), "worker": worker, "lease_until": now + lease},
            )
        )

    async def _finish(
        self, job_id: int, state: JobState, attempt: Attempt, reason: str | None, worker: str
    ) -> None:
        await self._writer.call(
            lambda tx: lifecycle.finish(tx, job_id, state, attempt, reason, worker)
        )

    async def retry_at(self, job_id: int, at: float, attempt: Attempt, *, worker: str) -> None:
        await self._writer.call(lambda tx: lifecycle.retry_at(tx, job_id, at, attempt, worker))

    async def release(self, job_id: int, at: float, *, worker: str) -> None:
        await self._writer.call(lambda tx: lifecycle.release(tx, job_id, at, worker, self._clock()))

    async def _replay(
        self, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
    ) -> int:
        return await self._writer.call(
            lambda tx: lifecycle.replay(tx, job_ids, reason_contains, now), kind=Kind.ORDERED
        )

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        return await self._writer.call(lambda tx: lifecycle.purge_finished(tx, older_than, limit))

    async def _purge_dead_chosen(
        self, job_ids: Sequence[int] | None, reason_contains: str | None
    ) -> int:
        return await self._writer.call(
            lambda tx: lifecycle.purge_chosen(tx, job_ids, reason_contains)
        )

    async def _purge_dead_before(self, older_than: float) -> int:
        return await self._writer.call(lambda tx: lifecycle.purge_dead(tx, older_than))

    async def set_paused(self, reason: str | None, account: str = DEFAULT_ACCOUNT) -> None:
        await self._writer.call(
            lambda tx: tx.run("set_control", {"name": pause_name(account), "value": reason})
        )

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
                lambda tx: tx.run("set_control", {"name": "health_probe", "value": repr(now)})
            )
        except sqlite3.Error as exc:
            raise StoreUnwritable(f"SQLite refused a write to {self._path}: {exc}") from exc

    # ------------------------------------------------------------------ queue reads

    async def get_job(self, job_id: int) -> Job | None:
        return await self._readers.call(reads.get_job, job_id)

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        return await self._readers.call(reads.list_rejections, limit)

    async def find_jobs(self, query: JobQuery) -> Page[Job]:
        if query.state in (None, ListState.PENDING):
            await self._sort_recent_accepts()
        return await self._readers.call(reads.find_jobs, query)

    async def find_rejections(
        self,
        reason: str | None = None,
        before: int | None = None,
        limit: int = 50,
        scan: int = SCAN_WINDOW,
    ) -> Page[Rejection]:
        return await self._readers.call(reads.find_rejections, reason, before, limit, scan)

    async def finished_per_minute(self, since: float, until: float) -> list[MinuteCount]:
        return await self._readers.call(reads.finished_per_minute, since, until)

    async def queued_kinds(
        self, limit: int = QUEUE_SAMPLE, account: str | None = None
    ) -> QueuedKinds:
        return await self._readers.call(reads.queued_kinds, limit, account)

    async def counts(self, account: str | None = None) -> StatusCounts:
        await self._sort_recent_accepts()
        return await self._readers.call(reads.counts, account)

    async def _sort_recent_accepts(self) -> None:
        """Read-your-writes for a reader after ingest: sort what this store accepted
        first, unless that is a burst's backlog (see `READ_SORTS_UP_TO`)."""
        if self._progress.lagging(READ_SORTS_UP_TO):
            await self._writer.call(lambda tx: None, kind=Kind.ORDERED)

    async def paused_reason(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        return await self._readers.call(reads.paused_reason, account)

    async def paused_accounts(self) -> dict[str, str]:
        return await self._readers.call(reads.paused_accounts)

    # ------------------------------------------------------------------ backfill files

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        return await self._readers.call(reads.backfill_file, content_hash)

    async def save_backfill_file(self, record: BackfillFile) -> None:
        await self._writer.call(lambda tx: tx.run("save_backfill_file", record.row()))

    # ------------------------------------------------------------------ memory

    async def email(self, user_key: str, *, account: str = DEFAULT_ACCOUNT) -> str | None:
        return await self._readers.call(read_email, account, user_key)

    async def cart(
        self, user_id: str, max_age: float, *, account: str = DEFAULT_ACCOUNT
    ) -> RememberedCart | None:
        return await self._readers.call(read_cart, account, user_id, self._clock() - max_age)

    async def merged(
        self, anonymous_id: str, user_id: str, *, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        return await self._readers.call(read_merged, account, anonymous_id, user_id)

    async def apply(
        self, updates: Sequence[MemoryUpdate], *, account: str = DEFAULT_ACCOUNT
    ) -> None:
        if updates:
            now = self._clock()
            people = await self._writer.call(lambda tx: write_updates(tx.db, account, updates, now))
            for person in people:
                await self._forget_traces(person)


def _delete(traces: Traces, tx: Tx) -> tuple[int, int]:
    return delete_traces(tx.db, traces)


def _forget_memory(user_key: str, account: str, tx: Tx) -> Person:
    return forget_memory(tx.db, user_key, account)
