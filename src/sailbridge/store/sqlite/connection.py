"""Opening sailbridge's SQLite file: pragmas, the named queries, versioned migrations.

Shared by the queue (`sailbridge.store.sqlite`) and its memory
(`sailbridge.store.sqlite.memory`), which live in the same file and the same schema.

Durability: WAL with ``synchronous=NORMAL`` makes every COMMIT survive the process
dying (``kill -9``, a crash): the WAL is written before COMMIT returns and the OS
keeps it. Only an OS crash or power loss can drop the last transactions, because the
WAL is not fsynced on each commit. ``synchronous=FULL`` closes that gap at the cost of
one fsync per group commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from sailbridge.store.errors import SchemaTooNew
from sailbridge.store.sql import load_queries, migrations

Synchronous = Literal["NORMAL", "FULL"]

QUERIES: Mapping[str, str] = load_queries("sailbridge.store.sqlite")

LATEST_VERSION = migrations("sqlite")[-1][0]


def connect(
    path: str | Path, synchronous: Synchronous = "NORMAL", cache_mib: int = 16
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, sane pragmas."""
    db = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA journal_size_limit = 67108864")  # shrink the WAL after a burst
    # Deleted and rewritten rows are overwritten with zeros inside their pages, not just
    # unlinked (FAST: at no extra I/O, ~5 % of the sort rate; ON, which also zeroes
    # every freed page, cost ~25 %: bench/secure_delete.py). Forgetting a person sets ON
    # for its own deletes and wipes the free pages (`sailbridge.store.sqlite.memory`), so no
    # trace of them is left in the file.
    db.execute("PRAGMA secure_delete = FAST")
    return db


def _statements(script: str) -> Iterator[str]:
    """The statements of a script, each complete (``executescript`` would COMMIT)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]!r}")


def migrate(db: sqlite3.Connection) -> int:
    """Apply every shipped migration newer than the file's version; idempotent.

    Each migration runs in its own IMMEDIATE transaction with its version row, so a
    crash leaves the file at a whole version, and two processes starting together
    apply each migration once.
    """
    db.execute(QUERIES["create_schema_version"])
    for version, _name, sql in migrations("sqlite"):
        db.execute("BEGIN IMMEDIATE")
        try:
            current = db.execute(QUERIES["schema_version"]).fetchone()[0]
            if current > LATEST_VERSION:
                raise SchemaTooNew(current, LATEST_VERSION)
            if version > current:
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute(
                    QUERIES["record_schema_version"], {"version": version, "now": time.time()}
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    applied: int = db.execute(QUERIES["schema_version"]).fetchone()[0]
    if applied > LATEST_VERSION:
        raise SchemaTooNew(applied, LATEST_VERSION)
    return version
