"""Reads of the SQLite queue: jobs, listings, rejections, counts, control, backfill files.

Each runs on a reader thread (`sailbridge.store.sqlite.readers`) with that thread's
connection; in WAL mode it never waits for the writer and sees everything committed
before it started. A read of several statements runs in one `_snapshot`.
"""

from __future__ import annotations

import sqlite3

from sailbridge.store import listing
from sailbridge.store.accounts import pause_name
from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.base import (
    Attempt,
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
from sailbridge.store.sqlite.connection import QUERIES
from sailbridge.store.sqlite.rows import Row, attempt_decoder, encode, job_from_row


def _with_history(db: sqlite3.Connection, rows: list[Row]) -> list[Job]:
    history: dict[int, list[Attempt]] = {row[0]: [] for row in rows}
    if rows:
        ids = encode(list(history))
        for job_id, attempt in db.execute(QUERIES["job_history"], {"ids": ids}).fetchall():
            history[job_id].append(attempt_decoder.decode(attempt))
    return [job_from_row(row, history[row[0]]) for row in rows]


def get_job(db: sqlite3.Connection, job_id: int) -> Job | None:
    with _snapshot(db):
        rows = db.execute(QUERIES["get_job"], {"id": job_id}).fetchall()
        jobs = _with_history(db, rows)
    return jobs[0] if jobs else None


_DIALECT = listing.Dialect(
    param=lambda name, _type: f":{name}",
    event_name=(
        "(CASE WHEN event_type = 'track' THEN json_extract(CAST(event AS TEXT), '$.event')"
        " ELSE event_type END)"
    ),
    contains=lambda column, value: f"instr({column}, {value}) > 0",
    index_hints=True,
)
_JOB_COLUMNS = (
    "id, write_key, message_id, event, event_type, user_key, ordering_keys, state, "
    "attempts, received_at, first_attempt_at, available_at, reason, account"
)
_REJECTION_COLUMNS = "write_key, message_id, raw, reason, received_at, id"


def _page_rows(
    db: sqlite3.Connection,
    plan: listing.Listing,
    table: str,
    columns: str,
    cursor: int | None,
    limit: int,
    scan: int | None,
) -> tuple[list[Row], tuple[int | None, int] | None]:
    """The rows of one page (up to ``limit + 1``) and, if windowed, its window."""
    params = listing.bounds(plan, cursor, limit, scan)
    window = None
    if plan.windowed:
        edge, examined = db.execute(listing.window_sql(plan, _DIALECT, table), params).fetchone()
        window = (edge, examined)
        if not examined:
            return [], window
        params["edge"] = edge
    return db.execute(listing.rows_sql(plan, _DIALECT, table, columns), params).fetchall(), window


def find_jobs(db: sqlite3.Connection, query: JobQuery) -> Page[Job]:
    plan = listing.job_listing(query, _DIALECT)
    with _snapshot(db):
        rows, window = _page_rows(
            db, plan, "jobs", _JOB_COLUMNS, query.cursor, query.limit, query.scan
        )
        jobs = _with_history(db, rows[: query.limit])
    return listing.page_of(
        [*jobs, *[job_from_row(row) for row in rows[query.limit :]]],
        lambda job: job.id,
        query.limit,
        window,
        query.scan,
        oldest_first=query.oldest_first,
    )


def find_rejections(
    db: sqlite3.Connection, reason: str | None, before: int | None, limit: int, scan: int
) -> Page[Rejection]:
    plan = listing.rejection_listing(reason, _DIALECT)
    rows, window = _page_rows(db, plan, "rejections", _REJECTION_COLUMNS, before, limit, scan)
    return listing.page_of(
        [Rejection(*row) for row in rows], lambda r: r.id or 0, limit, window, scan
    )


def list_rejections(db: sqlite3.Connection, limit: int) -> list[Rejection]:
    rows = db.execute(QUERIES["list_rejections"], {"limit": limit}).fetchall()
    return [Rejection(*row) for row in rows]


def counts(db: sqlite3.Connection, account: str | None) -> StatusCounts:
    with _snapshot(db):
        counters = dict(db.execute(QUERIES["job_counts"]).fetchall())
        if account is None:
            oldest = db.execute(QUERIES["oldest_unfinished"]).fetchall()[0][0]
            inbox_oldest = db.execute(QUERIES["oldest_in_inbox"]).fetchall()
            if inbox_oldest and (oldest is None or inbox_oldest[0][0] < oldest):
                oldest = inbox_oldest[0][0]
        else:
            oldest = db.execute(QUERIES["oldest_unfinished_in"], {"account": account}).fetchall()
            oldest = oldest[0][0]
        paused = paused_accounts(db)
    return status_counts_from(counters, oldest, paused, account)


def queued_kinds(db: sqlite3.Connection, limit: int, account: str | None) -> QueuedKinds:
    if account is None:
        rows = db.execute(QUERIES["queued_kinds"], {"limit": limit}).fetchall()
    else:
        params = {"limit": limit, "account": account}
        rows = db.execute(QUERIES["queued_kinds_in"], params).fetchall()
    return queued_kinds_from(rows)


def backfill_file(db: sqlite3.Connection, content_hash: str) -> BackfillFile | None:
    rows = db.execute(QUERIES["backfill_file"], {"content_hash": content_hash}).fetchall()
    return BackfillFile.from_row(rows[0]) if rows else None


def paused_reason(db: sqlite3.Connection, account: str) -> str | None:
    rows = db.execute(QUERIES["get_control"], {"name": pause_name(account)}).fetchall()
    return rows[0][0] if rows else None


def paused_accounts(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute(QUERIES["paused_accounts"]).fetchall())


class _snapshot:
    """One read transaction, so several SELECTs see the same committed state."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self._db.execute("COMMIT")


def finished_per_minute(db: sqlite3.Connection, since: float, until: float) -> list[MinuteCount]:
    rows = db.execute(
        QUERIES["finished_per_minute"], {"since": since // 60 * 60, "until": until // 60 * 60}
    ).fetchall()
    return [
        MinuteCount(float(minute), delivered, dead)
        for minute, delivered, dead in rows
        if delivered or dead
    ]
