"""sailbridge's memory in the SQLite file: the SQL behind `sailbridge.store.memory.Memory`.

The queue (`sailbridge.store.sqlite`) keeps memory in the same file and runs these
inside its writer's transactions; the ``read_*`` helpers are shared with the read-only
view ``explain`` opens (`sailbridge.store.readonly`). Forgetting a person overwrites
what it deletes (`overwriting`, `wipe_free_pages`, `truncate_wal`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec

from sailbridge.mapping.plan import (
    ForgetUser,
    Item,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
)
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import count_name, line_keys
from sailbridge.store.memory import Forgotten, RememberedCart, linked_ids
from sailbridge.store.sqlite.connection import QUERIES


def read_email(db: sqlite3.Connection, account: str, user_key: str) -> str | None:
    rows = db.execute(
        QUERIES["memory_email"], {"account": account, "user_key": user_key}
    ).fetchall()
    return rows[0][0] if rows else None


def read_cart(
    db: sqlite3.Connection, account: str, user_id: str, since: float
) -> RememberedCart | None:
    rows = db.execute(
        QUERIES["memory_cart"], {"account": account, "user_id": user_id, "since": since}
    ).fetchall()
    if not rows:
        return None
    items: list[Item] = msgspec.json.decode(rows[0][0])
    return RememberedCart(tuple(items), rows[0][1])


def read_merged(db: sqlite3.Connection, account: str, anonymous_id: str, user_id: str) -> bool:
    rows = db.execute(
        QUERIES["memory_merged"],
        {"account": account, "anonymous_id": anonymous_id, "user_id": user_id},
    ).fetchall()
    return bool(rows)


def write_updates(
    db: sqlite3.Connection, account: str, updates: Sequence[MemoryUpdate], now: float
) -> list[Person]:
    """Record ``updates`` in ``account``'s memory inside the caller's transaction
    (shared with the queue's writer). A `ForgetUser` forgets the person's memory in
    that account here; the people returned still have their finished jobs and
    rejections to be forgotten (`find_traces`)."""
    people: list[Person] = []
    for update in updates:
        match update:
            case RememberEmail(user_key, email):
                db.execute(
                    QUERIES["memory_remember_email"],
                    {"account": account, "user_key": user_key, "email": email, "now": now},
                )
            case RememberCart(user_id, items):
                db.execute(
                    QUERIES["memory_remember_cart"],
                    {
                        "account": account,
                        "user_id": user_id,
                        "items": msgspec.json.encode(list(items)),
                        "now": now,
                    },
                )
            case RememberMerge(anonymous_id, user_id):
                db.execute(
                    QUERIES["memory_remember_merge"],
                    {
                        "account": account,
                        "anonymous_id": anonymous_id,
                        "user_id": user_id,
                        "now": now,
                    },
                )
            case ForgetUser(user_key):
                people.append(forget_memory(db, user_key, account))
    return people


def known_accounts(db: sqlite3.Connection) -> list[str]:
    """Every account this file has queued for (``default`` always)."""
    return [row[0] for row in db.execute(QUERIES["known_accounts"])]


@dataclass(frozen=True)
class Person:
    """Someone being forgotten: their ids and remembered emails, and the newest job
    and rejection that existed when their memory was forgotten (the search's end)."""

    keys: tuple[str, ...]
    emails: tuple[str, ...]
    through_job: int
    through_rejection: int
    account: str = DEFAULT_ACCOUNT
    """The account they are forgotten in (their jobs there; their memory there)."""

    def params(self) -> dict[str, str]:
        return {
            "keys": _json(list(self.keys)),
            "emails": _json(list(self.emails)),
            "needles": _json([f'"{key}"' for key in self.keys] + list(self.emails)),
            "account": self.account,
            "line_keys": _json(line_keys(self.account, self.keys)),
        }


@dataclass(frozen=True)
class Traces:
    """What one chunk of the search found: finished job ids and rejection ids."""

    jobs: tuple[int, ...] = ()
    rejections: tuple[int, ...] = ()


def forget_memory(db: sqlite3.Connection, user_key: str, account: str) -> Person:
    """The first, short step of forgetting ``user_key``, in the caller's (writer's)
    transaction: memory (emails, carts, merges of the user and of the ids merged with
    them) deleted, and the job delivering the deletion (claimed now) marked, to be
    deleted when finished (`take_forget_mark`). Unfinished jobs stay: they come after
    the deletion in the user's line and are new events.

    The finished jobs and rejections are searched afterwards, a chunk at a time on a
    reader (`find_traces`), and deleted in short writer steps (`delete_traces`): a
    search of millions of retained jobs never holds the writer, and so ingest.
    """
    with overwriting(db):
        merges = db.execute(
            QUERIES["merges_touching"], {"account": account, "keys": _json([user_key])}
        ).fetchall()
        keys = linked_ids(merges, user_key)
        keys_json = _json(list(keys))
        emails = tuple(
            row[0]
            for row in db.execute(QUERIES["emails_of"], {"account": account, "keys": keys_json})
        )
        for query in ("forget_emails", "forget_carts", "forget_merges"):
            db.execute(
                QUERIES[query],
                {"account": account, "keys": keys_json, "emails": _json(list(emails))},
            )
        for (job_id,) in db.execute(
            QUERIES["claimed_jobs_of"], {"line_keys": _json(line_keys(account, keys))}
        ).fetchall():
            db.execute(QUERIES["forget_when_finished"], {"id": job_id})
        through_job, through_rejection = db.execute(QUERIES["forget_search_ends"]).fetchone()
    return Person(keys, emails, through_job, through_rejection, account)


def find_traces(
    db: sqlite3.Connection, person: Person, after_job: int, after_rejection: int, span: int
) -> Traces:
    """The person's finished jobs (by id, ordering key or an email anywhere in the
    payload) with ids in ``(after_job, after_job + span]``, and their rejections in
    ``(after_rejection, after_rejection + span]`` — one bounded chunk of the search,
    read on a reader connection."""
    params = person.params()

    def ids(query: str, after: int, through: int) -> tuple[int, ...]:
        if after >= through:
            return ()
        bounds = {**params, "after": after, "through": min(after + span, through)}
        return tuple(row[0] for row in db.execute(QUERIES[query], bounds))

    jobs = ids("finished_jobs_of", after_job, person.through_job)
    rejections = ids("rejections_of", after_rejection, person.through_rejection)
    return Traces(jobs, rejections)


def delete_traces(db: sqlite3.Connection, traces: Traces) -> tuple[int, int]:
    """Delete what `find_traces` found (jobs still finished: a replayed one stays), in
    the writer's transaction, overwritten; the counts of jobs and rejections deleted."""
    with overwriting(db):
        ids = _json(list(traces.jobs))
        states = db.execute(QUERIES["finished_states_of"], {"ids": ids}).fetchall()
        db.execute(QUERIES["forget_finished_attempts"], {"ids": ids})
        db.execute(QUERIES["forget_finished_jobs"], {"ids": ids})
        rejections = db.execute(
            QUERIES["forget_rejections"], {"ids": _json(list(traces.rejections))}
        ).rowcount
    deltas = Counter(count_name(account, "dead") for state, account in states if state == "dead")
    deltas["rejected"] += rejections
    for name, delta in deltas.items():
        if delta:
            db.execute(QUERIES["add_to_count"], {"name": name, "delta": -delta})
    return len(states), rejections


def wipe(db: sqlite3.Connection) -> None:
    """The forget's last step: every free page zeroed (`wipe_free_pages`)."""
    with overwriting(db):
        wipe_free_pages(db)


def forgotten(person: Person, counts: Sequence[tuple[int, int]]) -> Forgotten:
    return Forgotten(
        person.keys,
        len(person.emails),
        sum(jobs for jobs, _ in counts),
        sum(rejections for _, rejections in counts),
    )


def forget_finished_job(db: sqlite3.Connection, job_id: int) -> bool:
    """Delete ``job_id`` and its history if `forget_memory` marked it (the deletion of a
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
