"""The shared rate limiter's slots and blocks on PostgreSQL (the ``rate_limits`` table).

`sailbridge.delivery.shared_ratelimit.SharedRateLimiter` holds the pacing (who waits,
how calls are grouped, the local fallback); this is its database, injected by
`sailbridge.wiring`: each statement is one atomic step on the *database's* clock, so
nodes with skewed clocks still agree. Its statements are in ``ratelimit.sql`` beside
this module; its table is in the store's schema, so one migration brings up both. A
driver error comes out as `StoreUnavailable`, so delivery never sees psycopg.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from sailbridge.logs import first_line
from sailbridge.store.errors import StoreUnavailable
from sailbridge.store.postgres.connection import open_pool
from sailbridge.store.sql import load_queries

QUERIES = load_queries("sailbridge.store.postgres", "ratelimit.sql")
DATABASE_ERRORS = (psycopg.Error, PoolTimeout, OSError)
POOL_SIZE = 4
"""Connections of the limiter's own pool: one route's slot reservation, block read and
block write can be in flight at once, and a few routes are busy at a time."""


@asynccontextmanager
async def shared_slots(database: str) -> AsyncIterator[PostgresSlots]:
    """`PostgresSlots` on a pool of their own to ``database``, closed on exit."""
    pool = await open_pool(database, min_size=1, max_size=POOL_SIZE)
    try:
        yield PostgresSlots(pool)
    finally:
        await pool.close()


class PostgresSlots:
    """Route slots and blocks shared by every node on one database.

    ``pool`` is the limiter's own (`sailbridge.wiring` opens it on the store's
    database), so a burst of claims never waits behind slot reservations or the reverse.
    """

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def take(self, route: str, interval: float, n: int) -> tuple[float, float]:
        """Reserve the route's next ``n`` slots, ``interval`` apart; returns the first
        slot and the database's now (epoch seconds)."""
        return await self._one("take_slots", {"route": route, "interval": interval, "n": n})

    async def blocked_until(self, route: str) -> tuple[float, float]:
        """Until when a block holds ``route`` (0: never blocked), and the database's now."""
        return await self._one("route_block", {"route": route})

    async def block(
        self,
        route: str,
        until: float | None,
        *,
        default_block: float,
        past_block: float,
        max_block: float,
    ) -> None:
        """Close ``route`` for every node as `sailbridge.delivery.ratelimit.block_target`
        computes it, on the database's clock; a longer block in force stays."""
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    QUERIES["block_route"],
                    {
                        "route": route,
                        "until": until,
                        "default_block": default_block,
                        "past_block": past_block,
                        "max_block": max_block,
                    },
                )
        except DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def _one(self, query: str, params: Mapping[str, Any]) -> tuple[float, float]:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(QUERIES[query], params)
                row = await cursor.fetchone()
        except DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc
        if row is None:  # the route was never used: nothing blocks it
            return 0.0, 0.0
        return float(row[0]), float(row[1])


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"{type(exc).__name__}: {first_line(exc)}")
