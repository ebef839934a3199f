"""What sailbridge remembers between events: learned emails, last-posted carts, merges.

Sailthru's GET lags its POSTs, and its purchase API cannot find a user by extid, so
sailbridge keeps its own record of what it told Sailthru. The contract is async so the
PostgreSQL store can implement it too; `SqliteMemory` is the embedded implementation.
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


MEMORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_email (
    user_key   TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS memory_cart (
    user_id   TEXT PRIMARY KEY,
    items     BLOB NOT NULL,
    posted_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS memory_merge (
    anonymous_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    merged_at    REAL NOT NULL,
    PRIMARY KEY (anonymous_id, user_id)
);
"""


class SqliteMemory:
    """`Memory` in a local SQLite file (``SAILBRIDGE_DATABASE``), WAL mode.

    Every statement is a few microseconds on a local file, so the calls run inline
    rather than in a thread; `apply` commits once per event.
    """

    def __init__(self, path: str | Path, clock: Clock = time.time) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(MEMORY_SCHEMA)
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    async def email(self, user_key: str) -> str | None:
        row = self._db.execute(
            "SELECT email FROM memory_email WHERE user_key = ?", (user_key,)
        ).fetchone()
        return row[0] if row else None

    async def cart(self, user_id: str, max_age: float) -> tuple[Item, ...] | None:
        row = self._db.execute(
            "SELECT items FROM memory_cart WHERE user_id = ? AND posted_at >= ?",
            (user_id, self._clock() - max_age),
        ).fetchone()
        return tuple(msgspec.json.decode(row[0])) if row else None

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM memory_merge WHERE anonymous_id = ? AND user_id = ?",
            (anonymous_id, user_id),
        ).fetchone()
        return row is not None

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        if not updates:
            return
        now = self._clock()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for update in updates:
                self._apply_one(update, now)

    def _apply_one(self, update: MemoryUpdate, now: float) -> None:
        match update:
            case RememberEmail(user_key, email):
                self._db.execute(
                    "INSERT INTO memory_email VALUES (?, ?, ?) ON CONFLICT(user_key) "
                    "DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at",
                    (user_key, email, now),
                )
            case RememberCart(user_id, items):
                self._db.execute(
                    "INSERT INTO memory_cart VALUES (?, ?, ?) ON CONFLICT(user_id) "
                    "DO UPDATE SET items = excluded.items, posted_at = excluded.posted_at",
                    (user_id, msgspec.json.encode(list(items)), now),
                )
            case RememberMerge(anonymous_id, user_id):
                self._db.execute(
                    "INSERT OR IGNORE INTO memory_merge VALUES (?, ?, ?)",
                    (anonymous_id, user_id, now),
                )
