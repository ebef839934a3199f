"""The SQLite store's readers: a few threads, each with its own read-only connection.

In WAL mode a reader never waits for the writer and sees everything committed before
its read started, so reads (`sailbridge.store.sqlite.reads`) run beside the writer
thread rather than queued behind it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sailbridge.store.errors import StoreClosed
from sailbridge.store.sqlite.connection import connect

T = TypeVar("T")


class Readers:
    """A few threads, each with its own read-only connection."""

    def __init__(self, path: str, threads: int) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="sailbridge-sqlite-read")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self._path, cache_mib=8)
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    async def call(self, read: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: read(self._db(), *args))

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
