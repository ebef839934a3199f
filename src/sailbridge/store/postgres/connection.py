"""Opening sailbridge's PostgreSQL database: the pool, the named queries, migrations.

The queue (`sailbridge.store.postgres`) opens its pool here; so do the global rate
limiter's slots (`sailbridge.store.postgres.ratelimit`), whose ``rate_limits`` table is
part of this schema but whose statements live beside them (``ratelimit.sql``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from sailbridge.store.errors import SchemaTooNew
from sailbridge.store.sql import load_queries, migrations


def _in_account(claim: str) -> str:
    """``claim`` for one account's jobs only: each candidate set filtered by account, so
    the planner reads them from the account's own partial indexes (``0005_accounts``).
    Derived rather than written twice, so the two claims cannot drift apart."""
    changes = (("WHERE state = 'pending'", 2), ("WHERE state = 'claimed'", 1))
    for text, count in changes:
        if claim.count(text) != count:
            raise RuntimeError(f"claim query changed: expected {count} x {text!r}")
        claim = claim.replace(
            text, text.replace("WHERE ", "WHERE account = %(account)s::text AND ")
        )
    return claim


_LOADED = load_queries("sailbridge.store.postgres")
QUERIES: Mapping[str, str] = {**_LOADED, "claim_in_account": _in_account(_LOADED["claim"])}
LATEST_VERSION = migrations("postgres")[-1][0]

MIGRATION_LOCK = 0x5A11B41D6E
"""The advisory lock key nodes take while migrating (any constant; "sailbridge")."""


async def has_schema(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether sailbridge's schema exists in this database (any version)."""
    cursor = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cursor.fetchone()
    return bool(row and row[0])


async def migrate(conn: psycopg.AsyncConnection[Any]) -> int:
    """Apply every shipped migration newer than the database's version; idempotent.

    Each migration runs in its own transaction with its version row, under a
    transaction-level advisory lock: a crash leaves the database at a whole version,
    and nodes starting together apply each migration once (the others wait for the
    lock, then find the version already recorded).
    """
    for version, _name, sql in migrations("postgres"):
        async with conn.transaction():
            current = await _locked_version(conn)
            if version > current:
                await conn.execute(sql, prepare=False)  # a script: several statements
                await conn.execute(QUERIES["record_schema_version"], {"version": version})
    async with conn.transaction():
        found = await _locked_version(conn)
    return found


async def _locked_version(conn: psycopg.AsyncConnection[Any]) -> int:
    await conn.execute(QUERIES["lock_migrations"], {"lock": MIGRATION_LOCK})
    await conn.execute(QUERIES["create_schema_version"])
    cursor = await conn.execute(QUERIES["schema_version"])
    row = await cursor.fetchone()
    current: int = row[0] if row else 0
    if current > LATEST_VERSION:
        raise SchemaTooNew(current, LATEST_VERSION)
    return current


CONNECT_TIMEOUT = 3
"""Seconds (libpq's ``connect_timeout``, whole, at least 2) one connection attempt may
take: an unreachable server fails a start, or a reconnect during an outage, quickly."""


async def open_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 30.0,
    connect_timeout: int = CONNECT_TIMEOUT,
) -> AsyncConnectionPool:
    """A pool of autocommit connections (transactions are explicit), opened and ready.

    One connection is made first, outside the pool: an unreachable or refusing server
    then fails within ``connect_timeout`` with libpq's own reason (``psycopg.
    OperationalError``), where the pool would retry for ``timeout`` and only say
    `psycopg_pool.PoolTimeout`.
    """
    first = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=connect_timeout)
    await first.close()
    pool = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout,
        kwargs={
            "autocommit": True,
            "application_name": "sailbridge",
            "connect_timeout": connect_timeout,
        },
        name="sailbridge",
        # A connection the server closed (a restart, a failover, an idle timeout) is
        # found and replaced when taken from the pool, not handed to a caller to fail.
        check=AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except BaseException:
        await pool.close()
        raise
    return pool
