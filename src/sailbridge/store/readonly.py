"""sailbridge's memory opened for reading only, for ``sailbridge explain``.

`sailbridge.store.factory.open_read_only_memory` opens it for the backend named.
``explain`` promises to change nothing: it must not migrate a database, create a file
that is missing, or write to one it reads. So the SQLite file is opened read-only
(``mode=ro``; ``immutable`` when no WAL is beside it, so that not even an empty WAL or
shared-memory file is created), and PostgreSQL in read-only transactions. A store that
has no memory tables yet (never migrated) has nothing to remember: `None`; so is a
PostgreSQL server that cannot be reached (with a warning: explain needs no store).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from sailbridge.mapping.plan import MemoryUpdate
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.memory import AccountMemory, AccountsMemory, Memory, RememberedCart
from sailbridge.store.sqlite.memory import read_cart, read_email, read_merged

log = logging.getLogger("sailbridge.explain")
CONNECT_TIMEOUT = 5.0
"""Seconds ``explain`` waits for PostgreSQL before going on without the memory."""


class ReadOnlyMemory(Memory, Protocol):
    async def close(self) -> None: ...


class ReadOnlySqliteMemory:
    """`Memory` read from a SQLite file that is never written."""

    def __init__(self, db: sqlite3.Connection, account: str) -> None:
        self._db = db
        self._account = account

    async def email(self, user_key: str) -> str | None:
        return read_email(self._db, self._account, user_key)

    async def cart(self, user_id: str, max_age: float) -> RememberedCart | None:
        return read_cart(self._db, self._account, user_id, time.time() - max_age)

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        return read_merged(self._db, self._account, anonymous_id, user_id)

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        raise PermissionError("this memory is read-only")

    async def close(self) -> None:
        self._db.close()


async def sqlite_read_only_memory(
    database: str, account: str = DEFAULT_ACCOUNT
) -> ReadOnlyMemory | None:
    """``account``'s memory in the SQLite file ``database``, never written; ``None`` when
    there is none (no such file, not a SQLite file, not migrated to accounts yet)."""
    path = Path(database)
    if not path.is_file():
        return None
    wal = path.with_name(path.name + "-wal")
    mode = "ro" if wal.exists() else "ro&immutable=1"
    db = sqlite3.connect(
        f"file:{quote(str(path.resolve()))}?mode={mode}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError:  # not a SQLite file: nothing to remember
        db.close()
        return None
    if not {"memory_email", "memory_cart", "memory_merge", "accounts"} <= tables:
        db.close()
        return None
    return ReadOnlySqliteMemory(db, account)


async def postgres_read_only_memory(
    url: str, account: str = DEFAULT_ACCOUNT
) -> ReadOnlyMemory | None:
    """``account``'s memory in PostgreSQL at ``url``, in read-only transactions; ``None``
    when the schema is not there or the server cannot be reached (with a warning)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from sailbridge.store.postgres import PostgresStore
    from sailbridge.store.postgres.connection import open_pool

    conninfo = psycopg.conninfo.make_conninfo(url, options="-c default_transaction_read_only=on")
    try:
        pool = await open_pool(conninfo, min_size=1, max_size=1, timeout=CONNECT_TIMEOUT)
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning(
            "explain goes on without sailbridge's memory: PostgreSQL is not reachable (%s)",
            type(exc).__name__,
        )
        return None
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT to_regclass('accounts') IS NOT NULL")
        row = await cursor.fetchone()
    if not row or not row[0]:
        await pool.close()
        return None
    return _ClosingAccountMemory(PostgresStore(pool), account)


class _ClosingAccountMemory(AccountMemory):
    """One account's memory in a store this view owns (closed with it)."""

    def __init__(self, store: PostgresStoreLike, account: str) -> None:
        super().__init__(store, account)
        self._store = store

    async def close(self) -> None:
        await self._store.close()


class PostgresStoreLike(AccountsMemory, Protocol):
    async def close(self) -> None: ...
