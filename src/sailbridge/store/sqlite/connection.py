"""Opening sailbridge's SQLite file: pragmas, the named queries, versioned migrations.

Shared by the queue (`sailbridge.store.sqlite`) and the memory
(`sailbridge.store.memory`), which live in the same file and the same schema.

Durability: WAL with ``synchronous=NORMAL`` makes every COMMIT survive the process
dying (``kill -9``, a crash): the WAL is written before COMMIT returns and the OS
keeps it. Only an OS crash or power loss can drop the last transactions, because the
WAL is not fsynced on each commit. ``synchronous=FULL`` closes that gap at the cost of
one fsync per group commit.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

from sailbridge.store.errors import SchemaTooNew

Synchronous = Literal["NORMAL", "FULL"]

_NAME = re.compile(r"^-- name: (\w+)\s*$")


def parse_queries(text: str) -> dict[str, str]:
    """Split a ``.sql`` file into named queries (procrastinate's layout).

    A query starts at a ``-- name: <name>`` line and runs to the next one; comment
    lines are dropped, so they can explain a query without reaching SQLite.
    """
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            current = queries.setdefault(match.group(1), [])
        elif current is not None and not line.lstrip().startswith("--"):
            current.append(line)
    return {name: "\n".join(lines).strip().rstrip(";") for name, lines in queries.items()}


QUERIES: Mapping[str, str] = parse_queries(
    resources.files("sailbridge.store").joinpath("sqlite.sql").read_text(encoding="utf-8")
)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration shipped with the package, in order."""
    folder = resources.files("sailbridge.store").joinpath("migrations", "sqlite")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    return found


LATEST_VERSION = migrations()[-1][0]


def connect(path: str | Path, synchronous: Synchronous = "NORMAL",
            cache_mib: int = 16) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, sane pragmas."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                         cached_statements=256)
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA journal_size_limit = 67108864")  # shrink the WAL after a burst
    # Deleted and rewritten rows are overwritten with zeros inside their pages, not just
    # unlinked (FAST: at no extra I/O, ~5 % of the sort rate; ON, which also zeroes
    # every freed page, cost ~25 %: bench/secure_delete.py). Forgetting a person sets ON
    # for its own deletes and wipes the free pages (`sailbridge.store.memory`), so no
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
    for version, _name, sql in migrations():
        db.execute("BEGIN IMMEDIATE")
        try:
            current = db.execute(QUERIES["schema_version"]).fetchone()[0]
            if current > LATEST_VERSION:
                raise SchemaTooNew(current, LATEST_VERSION)
            if version > current:
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute(QUERIES["record_schema_version"],
                           {"version": version, "now": time.time()})
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    applied: int = db.execute(QUERIES["schema_version"]).fetchone()[0]
    if applied > LATEST_VERSION:
        raise SchemaTooNew(applied, LATEST_VERSION)
    return version
