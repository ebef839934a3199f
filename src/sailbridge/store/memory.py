"""What sailbridge remembers between events: learned emails, last-posted carts, merges.

Sailthru's GET lags its POSTs, and its purchase API cannot find a user by extid, so
sailbridge keeps its own record of what it told Sailthru. The contract is async so the
PostgreSQL store can implement it too; `SqliteMemory` is the embedded implementation
for direct delivery, and the ``read_*``/`write_updates` helpers are the SQL it shares
with the SQLite queue (`sailbridge.store.sqlite`), which keeps memory in the same file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import msgspec

from sailbridge.mapping.plan import (
    Item,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
)
from sailbridge.store.sqlite_db import QUERIES, connect, migrate

Clock = Callable[[], float]


class Memory(Protocol):
    """The facts sailbridge learned from the events it delivered."""

    async def email(self, user_key: str) -> str | None:
        """The email last identified for ``user_key``, or ``None`` when never seen."""

    async def cart(self, user_id: str, max_age: float) -> tuple[Item, ...] | None:
        """The cart last posted for ``user_id`` if posted within ``max_age`` seconds."""

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        """Whether this anonymous → known pair was already resolved."""

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        """Record what a delivered event taught us, atomically."""


def read_email(db: sqlite3.Connection, user_key: str) -> str | None:
    rows = db.execute(QUERIES["memory_email"], {"user_key": user_key}).fetchall()
    return rows[0][0] if rows else None


def read_cart(db: sqlite3.Connection, user_id: str, since: float) -> tuple[Item, ...] | None:
    rows = db.execute(QUERIES["memory_cart"], {"user_id": user_id, "since": since}).fetchall()
    return tuple(msgspec.json.decode(rows[0][0])) if rows else None


def read_merged(db: sqlite3.Connection, anonymous_id: str, user_id: str) -> bool:
    rows = db.execute(QUERIES["memory_merged"],
                      {"anonymous_id": anonymous_id, "user_id": user_id}).fetchall()
    return bool(rows)


def write_updates(db: sqlite3.Connection, updates: Sequence[MemoryUpdate], now: float) -> None:
    """Record ``updates`` inside the caller's transaction (shared with the queue's writer)."""
    for update in updates:
        match update:
            case RememberEmail(user_key, email):
                db.execute(QUERIES["memory_remember_email"],
                           {"user_key": user_key, "email": email, "now": now})
            case RememberCart(user_id, items):
                db.execute(QUERIES["memory_remember_cart"],
                           {"user_id": user_id, "items": msgspec.json.encode(list(items)),
                            "now": now})
            case RememberMerge(anonymous_id, user_id):
                db.execute(QUERIES["memory_remember_merge"],
                           {"anonymous_id": anonymous_id, "user_id": user_id, "now": now})


class SqliteMemory:
    """`Memory` in a local SQLite file (``SAILBRIDGE_DATABASE``), WAL mode.

    Every statement is a few microseconds on a local file, so the calls run inline
    rather than in a thread; `apply` commits once per event. The file gets the full
    sailbridge schema (migrated), so the queue can later open the same file.
    `sailbridge.store.sqlite.SqliteStore` implements `Memory` too, through its writer.
    """

    def __init__(self, path: str | Path, clock: Clock = time.time) -> None:
        self._db = connect(path)
        migrate(self._db)
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    async def email(self, user_key: str) -> str | None:
        return read_email(self._db, user_key)

    async def cart(self, user_id: str, max_age: float) -> tuple[Item, ...] | None:
        return read_cart(self._db, user_id, self._clock() - max_age)

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        return read_merged(self._db, anonymous_id, user_id)

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        if not updates:
            return
        now = self._clock()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            write_updates(self._db, updates, now)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
