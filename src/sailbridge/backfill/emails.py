"""What earlier identifies in a backfill's input taught: user key → email, on disk.

An order without an email of its own is filed under the email its user was identified
with earlier in the same input (as live delivery uses its memory). A million users'
emails would cost well over 100 MB as a dict, and the input is streamed to keep memory
flat, so they go to a throwaway SQLite file instead, in batches.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

BATCH = 10_000


class EmailBook:
    """Emails by user key, the latest one winning; written in batches of `BATCH`."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS emails "
            "(user_key TEXT PRIMARY KEY, email TEXT NOT NULL) WITHOUT ROWID"
        )
        self._pending: dict[str, str] = {}

    def learn(self, user_key: str, email: str) -> None:
        self._pending[user_key] = email
        if len(self._pending) >= BATCH:
            self._flush()

    def email(self, user_key: str) -> str | None:
        """The email last learned for ``user_key``, or ``None``."""
        found = self._pending.get(user_key)
        if found is not None:
            return found
        row = self._db.execute(
            "SELECT email FROM emails WHERE user_key = ?", (user_key,)
        ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._db.close()

    def _flush(self) -> None:
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO emails VALUES (?, ?)", self._pending.items())
        self._db.execute("COMMIT")
        self._pending.clear()
