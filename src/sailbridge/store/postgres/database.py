"""The PostgreSQL store's way to its pool: connections, transactions, retried deadlocks.

Every query the store runs goes through one `Database`, so a closed store refuses
work in one place (`StoreClosed`) and a transaction PostgreSQL picked as a deadlock
victim is run again in one place.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from sailbridge.store.errors import StoreClosed
from sailbridge.store.postgres.connection import QUERIES

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Row = tuple[Any, ...]

TRANSACTION_ATTEMPTS = 3

log = logging.getLogger("sailbridge.store")


class Database:
    """A pool of connections to the store's database, closed once with the store."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.closed = False
        """Set first when the store closes: from then on every query is refused."""

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        if self.closed:
            raise StoreClosed("the store is closed")
        async with self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def in_transaction(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, again if PostgreSQL chose it as a deadlock
        victim. Every lock is taken in one global order (see ``queries.sql``), so
        this is a safety net, not a path we expect to take."""

        async def transaction(conn: Conn) -> T:
            async with conn.transaction():
                return await work(conn)

        return await self.retrying(transaction)

    async def retrying(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` (which opens its own transaction) on a pooled connection, again
        if PostgreSQL chose it as a deadlock victim."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                async with self.connection() as conn:
                    return await work(conn)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as error:
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise
                log.warning("store transaction retried after %s", type(error).__name__)
        raise AssertionError("unreachable")

    async def rows(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self.connection() as conn:
            cursor = await conn.execute(QUERIES[query], params)
            return await cursor.fetchall()

    async def execute(self, query: str, params: Mapping[str, Any]) -> int:
        async with self.connection() as conn:
            cursor = await conn.execute(QUERIES[query], params)
            return cursor.rowcount
