"""What a write request sees while the writer runs it: `Tx`.

Write requests (`sailbridge.store.sqlite.intake`, `sailbridge.store.sqlite.lifecycle`)
run on the writer thread inside its group transaction; they change counters and add
inbox rows through the `Tx`, and the writer takes those into account only for the
requests that succeed (`sailbridge.store.sqlite.writer`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import count_name
from sailbridge.store.sqlite.connection import QUERIES

Params = dict[str, Any] | Sequence[Any]


class Tx:
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

    def count(self, name: str, delta: int, account: str = DEFAULT_ACCOUNT) -> None:
        """Change ``account``'s counter ``name`` (`count_name`) by ``delta``."""
        if delta:
            self.counts[count_name(account, name)] += delta

    def accepted(self, row_id: int, events: int) -> None:
        """This request added inbox row ``row_id`` holding ``events`` events."""
        self.inbox_rows.append((row_id, events))
