"""Reads of the PostgreSQL queue: jobs, listings, rejections, counts, control, backfill files.

Each is one statement, or (a windowed listing) two in one read-only snapshot, so a
read sees one committed state. Jobs come with their history (an aggregated column),
except from a claim.
"""

from __future__ import annotations

import msgspec

from sailbridge.store import listing
from sailbridge.store.accounts import pause_name
from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.base import (
    Job,
    JobQuery,
    MinuteCount,
    Page,
    QueuedKinds,
    Rejection,
    StatusCounts,
    queued_kinds_from,
    status_counts_from,
)
from sailbridge.store.postgres.database import Database, Row
from sailbridge.store.postgres.rows import job_from_row

_DIALECT = listing.Dialect(
    param=lambda name, type_: f"%({name})s::{type_}",
    event_name="(CASE WHEN event_type = 'track' THEN event->>'event' ELSE event_type END)",
    contains=lambda column, value: f"strpos({column}, {value}) > 0",
    index_hints=False,
)
_JOB_COLUMNS = (
    "id, write_key, message_id, event::text, event_type, user_key, ordering_keys, "
    "state, attempts, received_at, first_attempt_at, available_at, reason, "
    "(SELECT json_agg(attempt ORDER BY seq) FROM job_attempts a "
    "WHERE a.job_id = j.id)::text, account"
)
_REJECTION_COLUMNS = "write_key, message_id, raw, reason, received_at, id"


async def get_job(db: Database, job_id: int) -> Job | None:
    rows = await db.rows("get_job", {"id": job_id})
    return job_from_row(rows[0], rows[0][13]) if rows else None


async def list_rejections(db: Database, limit: int) -> list[Rejection]:
    rows = await db.rows("list_rejections", {"limit": limit})
    return [Rejection(*row) for row in rows]


async def find_jobs(db: Database, query: JobQuery) -> Page[Job]:
    plan = listing.job_listing(query, _DIALECT)
    rows, window = await _page_rows(
        db, plan, "jobs", _JOB_COLUMNS, query.cursor, query.limit, query.scan
    )
    return listing.page_of(
        [job_from_row(row, row[13]) for row in rows],
        lambda job: job.id,
        query.limit,
        window,
        query.scan,
        oldest_first=query.oldest_first,
    )


async def find_rejections(
    db: Database, reason: str | None, before: int | None, limit: int, scan: int
) -> Page[Rejection]:
    plan = listing.rejection_listing(reason, _DIALECT)
    rows, window = await _page_rows(db, plan, "rejections", _REJECTION_COLUMNS, before, limit, scan)
    return listing.page_of(
        [Rejection(*row) for row in rows], lambda r: r.id or 0, limit, window, scan
    )


async def _page_rows(
    db: Database,
    plan: listing.Listing,
    table: str,
    columns: str,
    start: int | None,
    limit: int,
    scan: int | None,
) -> tuple[list[Row], tuple[int | None, int] | None]:
    """One page's rows (up to ``limit + 1``) and its window, in one snapshot."""
    params = listing.bounds(plan, start, limit, scan)
    window = None
    async with db.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if plan.windowed:
            cursor = await conn.execute(listing.window_sql(plan, _DIALECT, table), params)
            row = await cursor.fetchone()
            assert row is not None
            window = (row[0], int(row[1]))
            if not window[1]:
                return [], window
            params["edge"] = window[0]
        cursor = await conn.execute(listing.rows_sql(plan, _DIALECT, table, columns), params)
        return await cursor.fetchall(), window


async def finished_per_minute(db: Database, since: float, until: float) -> list[MinuteCount]:
    rows = await db.rows(
        "finished_per_minute", {"since": int(since // 60 * 60), "until": int(until // 60 * 60)}
    )
    return [
        MinuteCount(float(minute), int(delivered), int(dead))
        for minute, delivered, dead in rows
        if delivered or dead
    ]


async def counts(db: Database, account: str | None) -> StatusCounts:
    [(totals, oldest, paused)] = await db.rows("status", {"account": account})
    counters: dict[str, int] = {name: int(n) for name, n in msgspec.json.decode(totals).items()}
    return status_counts_from(counters, oldest, msgspec.json.decode(paused), account)


async def queued_kinds(db: Database, limit: int, account: str | None) -> QueuedKinds:
    if account is None:
        return queued_kinds_from(await db.rows("queued_kinds", {"limit": limit}))
    return queued_kinds_from(await db.rows("queued_kinds_in", {"limit": limit, "account": account}))


async def paused_reason(db: Database, account: str) -> str | None:
    rows = await db.rows("get_control", {"name": pause_name(account)})
    return rows[0][0] if rows else None


async def paused_accounts(db: Database) -> dict[str, str]:
    return {account: reason for account, reason in await db.rows("paused_accounts")}


async def backfill_file(db: Database, content_hash: str) -> BackfillFile | None:
    rows = await db.rows("backfill_file", {"content_hash": content_hash})
    return BackfillFile.from_row(rows[0]) if rows else None
