"""`PostgresStore`: the asyncio face of the shared queue (see `sailbridge.store.postgres`).

Writes run as transactions (`sailbridge.store.postgres.transactions`) through the
store's `Database`, finishes in groups (`sailbridge.store.postgres.finishes`), reads
as single snapshots (`sailbridge.store.postgres.reads`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from sailbridge.clock import Clock
from sailbridge.logs import first_line
from sailbridge.mapping.plan import MemoryUpdate
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import count_name, line_key, pause_name
from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.base import (
    PRUNE_EVERY,
    QUEUE_SAMPLE,
    SCAN_WINDOW,
    Attempt,
    EnqueueResult,
    Job,
    JobQuery,
    JobState,
    MinuteCount,
    NewJob,
    Page,
    QueuedKinds,
    Rejection,
    StatusCounts,
)
from sailbridge.store.errors import StoreClosed, StoreMissing, StoreUnwritable
from sailbridge.store.guards import StoreGuards
from sailbridge.store.memory import Forgotten, RememberedCart
from sailbridge.store.postgres import reads, transactions
from sailbridge.store.postgres.connection import QUERIES, has_schema, migrate, open_pool
from sailbridge.store.postgres.database import Database
from sailbridge.store.postgres.finishes import Finishes
from sailbridge.store.postgres.rows import cart_decoder, encode, job_from_row, json_param
from sailbridge.store.postgres.transactions import (
    add_to_counts,
    not_claimed,
    ready_behind,
    shard,
)
from sailbridge.store.send_plan import SentJob

PRUNE_CHUNK = 50_000


class PostgresStore(StoreGuards):
    """`sailbridge.store.base.Store` in a PostgreSQL database shared by every node.

    Use `PostgresStore.open` (it migrates), and `close` when done. Lists are in
    arrival (id) order. `claim` returns jobs without their history (`get_job` has it);
    a job keeps its id when replayed but joins the back of its users' lines. The
    store's ``clock`` stamps memory and releases, as in the SQLite store; every other
    time is the one the caller passes.
    """

    def __init__(self, pool: AsyncConnectionPool, clock: Clock = time.time) -> None:
        self._db = Database(pool)
        self._clock = clock
        self._prune_at = float("-inf")
        self._finishes = Finishes(self._db)

    @classmethod
    async def open(
        cls,
        url: str,
        clock: Clock = time.time,
        *,
        min_size: int = 1,
        max_size: int = 10,
        create: bool = True,
    ) -> PostgresStore:
        """Connect a pool to ``url`` (``postgresql://…``) and bring the schema up to date;
        with ``create`` false, a database without sailbridge's schema raises
        `StoreMissing` instead of getting one."""
        pool = await open_pool(url, min_size=min_size, max_size=max_size)
        store = cls(pool, clock)

        async def check_schema() -> None:
            async with store._db.connection() as conn:
                if not await has_schema(conn):
                    raise StoreMissing("the database has no sailbridge schema yet")

        return await store.ready(*([] if create else [check_schema]), store.migrate)

    async def migrate(self) -> int:
        async with self._db.connection() as conn:
            return await migrate(conn)

    async def close(self) -> None:
        if not self._db.closed:
            self._db.closed = True
            await self._finishes.drain()
            await self._db.pool.close()

    # ------------------------------------------------------------------ queue writes

    async def _enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        dedupe = dedupe_window > 0
        result = await self._db.in_transaction(
            lambda conn: transactions.enqueue(conn, jobs, rejections, dedupe_window, now)
        )
        if dedupe and now >= self._prune_at:
            self._prune_at = now + PRUNE_EVERY
            await self._db.execute(
                "forget_messages", {"seen_after": now - dedupe_window, "limit": PRUNE_CHUNK}
            )
        return result

    async def _accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int:
        """Ingest's call. PostgreSQL takes concurrent writers without a single writer
        thread to protect, so accepting is simply enqueueing (sorted at once)."""
        await self._enqueue(jobs, rejections, dedupe_window, now)
        return len(jobs)

    async def _enqueue_sent(self, jobs: Sequence[NewJob], now: float, force: bool) -> list[SentJob]:
        return await self._db.in_transaction(
            lambda conn: transactions.enqueue_sent(conn, jobs, now, force)
        )

    async def forget(self, user_key: str, account: str | None = None) -> Forgotten:
        return await self._db.in_transaction(
            lambda conn: transactions.forget(conn, user_key, account)
        )

    async def _claim(
        self, worker: str, limit: int, lease: float, now: float, account: str | None
    ) -> list[Job]:
        rows = await self._db.rows(
            "claim" if account is None else "claim_in_account",
            {
                "worker": worker,
                "limit": limit,
                "now": now,
                "lease_until": now + lease,
                "shard": shard(),
                "account": account,
            },
        )
        return [job_from_row(row) for row in rows]

    async def _claim_groups(
        self, worker: str, limit: int, lease: float, now: float, size: int, account: str | None
    ) -> list[list[Job]]:
        heads = await self._claim(worker, limit, lease, now, account)
        if not heads or size <= 1:
            return [[head] for head in heads]
        rows = await self._db.rows(
            "line_behind",
            {
                "heads": json_param(
                    [
                        {"id": head.id, "user_key": line_key(head.account, head.user_key)}
                        for head in heads
                    ]
                ),
                "size": size,
            },
        )
        behind = ready_behind(heads, rows, now)
        chosen = [job_id for ids in behind.values() for job_id in ids]
        if not chosen:
            return [[head] for head in heads]
        leased = {
            job.id: job
            for job in map(
                job_from_row,
                await self._db.rows(
                    "lease_followers",
                    {
                        "ids": json_param(chosen),
                        "worker": worker,
                        "lease_until": now + lease,
                        "now": now,
                        "shard": shard(),
                    },
                ),
            )
        }
        lines = []
        for head in heads:
            followers = []
            for job_id in behind.get(head.id, []):
                if job_id not in leased:
                    break  # taken meanwhile (cannot happen while we hold the head)
                followers.append(leased.pop(job_id))
            lines.append([head, *followers])
        for job in leased.values():  # behind a follower that was not leased: give back
            await self.release(job.id, now, worker=worker)
        return lines

    async def _heartbeat(
        self, worker: str, job_ids: Sequence[int], lease: float, now: float
    ) -> None:
        await self._db.execute(
            "extend_leases",
            {"ids": json_param(list(job_ids)), "worker": worker, "lease_until": now + lease},
        )

    async def _finish(
        self, job_id: int, state: JobState, attempt: Attempt, reason: str | None, worker: str
    ) -> None:
        """Settle a claimed job; returns once committed. Finishes that arrive while one
        group is being committed are committed together as the next group (one
        transaction, a few statements, whatever their number), so the cost of a
        durable commit is shared by every job settled in the same moment."""
        if self._db.closed:
            raise StoreClosed("the store is closed")
        await self._finishes.finish(
            job_id,
            worker,
            {
                "id": job_id,
                "worker": worker,
                "state": state.value,
                "reason": reason,
                "attempt_at": attempt.at,
                "attempt": msgspec.Raw(encode(attempt)),
            },
        )

    async def retry_at(self, job_id: int, at: float, attempt: Attempt, *, worker: str) -> None:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                QUERIES["retry_job"],
                {
                    "id": job_id,
                    "at": at,
                    "worker": worker,
                    "attempt_at": attempt.at,
                    "attempt": json_param(attempt),
                    "shard": shard(),
                },
            )
            if not await cursor.fetchall():
                raise await not_claimed(conn, job_id, worker)

    async def release(self, job_id: int, at: float, *, worker: str) -> None:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                QUERIES["release_job"],
                {"id": job_id, "at": at, "worker": worker, "now": self._clock(), "shard": shard()},
            )
            if not await cursor.fetchall():
                raise await not_claimed(conn, job_id, worker)

    async def _replay(
        self, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
    ) -> int:
        return await self._db.in_transaction(
            lambda conn: transactions.replay(conn, job_ids, reason_contains, now)
        )

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                QUERIES["purge_finished_jobs"], {"before": older_than, "limit": limit}
            )
            deleted = cursor.rowcount
        if deleted < limit:
            # The last chunk of a housekeeping round: also drop the lock rows of lines
            # that are empty now (scanning them once per round, not once per chunk).
            await self._db.execute("forget_empty_lines", {"limit": 100_000})
        return deleted

    async def _purge_dead_chosen(
        self, job_ids: Sequence[int] | None, reason_contains: str | None
    ) -> int:
        return await self._db.in_transaction(
            lambda conn: transactions.purge_chosen(conn, job_ids, reason_contains)
        )

    async def _purge_dead_before(self, older_than: float) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(QUERIES["purge_dead_jobs"], {"before": older_than})
            deleted = Counter(count_name(row[0], "dead") for row in await cursor.fetchall())
            rejections = (
                await conn.execute(QUERIES["purge_rejections"], {"before": older_than})
            ).rowcount
            await add_to_counts(
                conn, {**{name: -n for name, n in deleted.items()}, "rejected": -rejections}
            )
        return deleted.total()

    async def set_paused(self, reason: str | None, account: str = DEFAULT_ACCOUNT) -> None:
        await self._db.execute("set_control", {"name": pause_name(account), "value": reason})

    async def check_writable(self, now: float) -> None:
        try:
            await self._db.execute("set_control", {"name": "health_probe", "value": repr(now)})
        except psycopg.Error as exc:
            raise StoreUnwritable(f"PostgreSQL refused a write: {first_line(exc)}") from exc

    # ------------------------------------------------------------------ queue reads

    async def get_job(self, job_id: int) -> Job | None:
        return await reads.get_job(self._db, job_id)

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        return await reads.list_rejections(self._db, limit)

    async def find_jobs(self, query: JobQuery) -> Page[Job]:
        return await reads.find_jobs(self._db, query)

    async def find_rejections(
        self,
        reason: str | None = None,
        before: int | None = None,
        limit: int = 50,
        scan: int = SCAN_WINDOW,
    ) -> Page[Rejection]:
        return await reads.find_rejections(self._db, reason, before, limit, scan)

    async def finished_per_minute(self, since: float, until: float) -> list[MinuteCount]:
        return await reads.finished_per_minute(self._db, since, until)

    async def queued_kinds(
        self, limit: int = QUEUE_SAMPLE, account: str | None = None
    ) -> QueuedKinds:
        return await reads.queued_kinds(self._db, limit, account)

    async def counts(self, account: str | None = None) -> StatusCounts:
        return await reads.counts(self._db, account)

    async def paused_reason(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        return await reads.paused_reason(self._db, account)

    async def paused_accounts(self) -> dict[str, str]:
        return await reads.paused_accounts(self._db)

    # ------------------------------------------------------------------ backfill files

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        return await reads.backfill_file(self._db, content_hash)

    async def save_backfill_file(self, record: BackfillFile) -> None:
        await self._db.execute("save_backfill_file", record.row())

    # ------------------------------------------------------------------ memory

    async def email(self, user_key: str, *, account: str = DEFAULT_ACCOUNT) -> str | None:
        rows = await self._db.rows("memory_email", {"account": account, "user_key": user_key})
        return rows[0][0] if rows else None

    async def cart(
        self, user_id: str, max_age: float, *, account: str = DEFAULT_ACCOUNT
    ) -> RememberedCart | None:
        rows = await self._db.rows(
            "memory_cart",
            {"account": account, "user_id": user_id, "since": self._clock() - max_age},
        )
        return RememberedCart(tuple(cart_decoder.decode(rows[0][0])), rows[0][1]) if rows else None

    async def merged(
        self, anonymous_id: str, user_id: str, *, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        rows = await self._db.rows(
            "memory_merged", {"account": account, "anonymous_id": anonymous_id, "user_id": user_id}
        )
        return bool(rows)

    async def apply(
        self, updates: Sequence[MemoryUpdate], *, account: str = DEFAULT_ACCOUNT
    ) -> None:
        if not updates:
            return
        now = self._clock()
        await self._db.in_transaction(
            lambda conn: transactions.apply_updates(conn, account, updates, now)
        )
