"""sailbridge's memory in the SQLite file: the SQL behind `sailbridge.store.memory.Memory`.

The queue (`sailbridge.store.sqlite`) keeps memory in the same file and runs these
inside its writer's transactions; the ``read_*`` helpers are shared with the read-only
view ``explain`` opens (`sailbridge.store.readonly`). Forgetting a person overwrites
what it deletes (`overwriting`, `wipe_free_pages`, `truncate_wal`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import msgspec

from sailbridge.mapping.plan import (
    ForgetUser,
    Item,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
)
from sailbridge.store.accounts import line_keys
from sailbridge.store.memory import Forgotten, RememberedCart, linked_ids, merge_forgotten
from sailbridge.store.sqlite.connection import QUERIES


def read_email(db: sqlite3.Connection, account: str, user_key: str) -> str | None:
    rows = db.execute(QUERIES["memory_email"],
                      {"account": account, "user_key": user_key}).fetchall()
    return rows[0][0] if rows else None


def read_cart(db: sqlite3.Connection, account: str, user_id: str,
              since: float) -> RememberedCart | None:
    rows = db.execute(QUERIES["memory_cart"],
                      {"account": account, "user_id": user_id, "since": since}).fetchall()
    if not rows:
        return None
    items: list[Item] = msgspec.json.decode(rows[0][0])
    return RememberedCart(tuple(items), rows[0][1])


def read_merged(db: sqlite3.Connection, account: str, anonymous_id: str, user_id: str) -> bool:
    rows = db.execute(QUERIES["memory_merged"], {"account": account,
                      "anonymous_id": anonymous_id, "user_id": user_id}).fetchall()
    return bool(rows)


def write_updates(db: sqlite3.Connection, account: str, updates: Sequence[MemoryUpdate],
                  now: float) -> None:
    """Record ``updates`` in ``account``'s memory inside the caller's transaction
    (shared with the queue's writer)."""
    for update in updates:
        match update:
            case RememberEmail(user_key, email):
                db.execute(QUERIES["memory_remember_email"], {
                    "account": account, "user_key": user_key, "email": email, "now": now})
            case RememberCart(user_id, items):
                db.execute(QUERIES["memory_remember_cart"], {
                    "account": account, "user_id": user_id,
                    "items": msgspec.json.encode(list(items)), "now": now})
            case RememberMerge(anonymous_id, user_id):
                db.execute(QUERIES["memory_remember_merge"], {
                    "account": account, "anonymous_id": anonymous_id, "user_id": user_id,
                    "now": now})
            case ForgetUser(user_key):
                forget_user(db, user_key, [account])


def known_accounts(db: sqlite3.Connection) -> list[str]:
    """Every account this file has queued for."""
    return [row[0] for row in db.execute(QUERIES["known_accounts"])]


def forget_user(db: sqlite3.Connection, user_key: str,
                accounts: Sequence[str] | None = None) -> Forgotten:
    """Delete what this file holds about ``user_key``, in the caller's transaction.

    Memory (emails, carts, merges of the user and of the ids merged with them); the
    finished jobs of those ids, or carrying one of their emails, with their history;
    rejections mentioning them. Unfinished jobs stay: they come after the deletion in
    the user's line and are new events. The job delivering the deletion (claimed now)
    is marked, and deleted when it is finished (`take_forget_mark`). Secure delete is
    ON for these deletes and the free pages are wiped (`overwriting`,
    `wipe_free_pages`), so the bytes are overwritten; the caller checkpoints the WAL
    (`truncate_wal`) after the commit.
    """
    with overwriting(db):
        forgotten = [_forget_user(db, user_key, account)
                     for account in (known_accounts(db) if accounts is None else accounts)]
        wipe_free_pages(db)
    return merge_forgotten(user_key, forgotten)


def _forget_user(db: sqlite3.Connection, user_key: str, account: str) -> Forgotten:
    """`forget_user` in one account (free pages are wiped once by the caller)."""
    merges = db.execute(QUERIES["merges_touching"],
                        {"account": account, "keys": _json([user_key])}).fetchall()
    keys = linked_ids(merges, user_key)
    keys_json = _json(list(keys))
    line_keys_json = _json(line_keys(account, keys))
    emails = [row[0] for row in db.execute(QUERIES["emails_of"],
                                           {"account": account, "keys": keys_json})]
    emails_json = _json(emails)
    for query in ("forget_emails", "forget_carts", "forget_merges"):
        db.execute(QUERIES[query], {"account": account, "keys": keys_json,
                                    "emails": emails_json})
    finished = db.execute(QUERIES["finished_jobs_of"], {
        "account": account, "keys": keys_json, "line_keys": line_keys_json,
        "emails": emails_json}).fetchall()
    ids = _json([job_id for job_id, _state in finished])
    db.execute(QUERIES["forget_attempts"], {"ids": ids})
    db.execute(QUERIES["forget_jobs"], {"ids": ids})
    needles = [f'"{key}"' for key in keys] + emails
    rejections = db.execute(QUERIES["forget_rejections"], {"needles": _json(needles)}).rowcount
    for name, delta in (("dead", -sum(state == "dead" for _id, state in finished)),
                        ("rejected", -rejections)):
        if delta:
            db.execute(QUERIES["add_to_count"], {"name": name, "delta": delta})
    for (job_id,) in db.execute(QUERIES["claimed_jobs_of"],
                                {"line_keys": line_keys_json}).fetchall():
        db.execute(QUERIES["forget_when_finished"], {"id": job_id})
    return Forgotten(keys, len(emails), len(finished), rejections)


def forget_finished_job(db: sqlite3.Connection, job_id: int) -> bool:
    """Delete ``job_id`` and its history if `forget_user` marked it (the deletion of a
    forgotten person, finished now), in the caller's transaction; whether it did."""
    if not db.execute(QUERIES["take_forget_mark"], {"id": job_id}).rowcount:
        return False
    with overwriting(db):
        ids = _json([job_id])
        db.execute(QUERIES["forget_attempts"], {"ids": ids})
        db.execute(QUERIES["forget_jobs"], {"ids": ids})
        wipe_free_pages(db)
    return True


WIPE_CHUNK_PAGES = 4096


@contextmanager
def overwriting(db: sqlite3.Connection) -> Iterator[None]:
    """Secure delete ON for the statements inside: every page they free is zeroed too
    (the connection's FAST mode leaves freed pages as they were)."""
    db.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        db.execute("PRAGMA secure_delete = FAST")


def wipe_free_pages(db: sqlite3.Connection) -> None:
    """Overwrite every page on the file's free list with zeros.

    Pages freed under FAST secure delete (sorted inbox rows, purged jobs) keep their
    old bytes until reused. Filling the free list with zero blobs reuses every one of
    them, and deleting the blobs (with `overwriting` on) returns them zeroed. The cost
    is one write per free page, paid only when a person is forgotten.
    """
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    while free > 0:
        chunk = min(free, WIPE_CHUNK_PAGES)
        db.execute(QUERIES["wipe_fill"], {"bytes": chunk * page_size})
        free -= chunk
    db.execute(QUERIES["wipe_empty"])


def truncate_wal(db: sqlite3.Connection) -> None:
    """Copy the WAL into the database file and empty it, so the page versions written
    before a forget (which still hold what was forgotten) leave the disk."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
