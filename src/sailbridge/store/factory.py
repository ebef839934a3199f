"""Open the store ``SAILBRIDGE_DATABASE`` names: a SQLite path, or a PostgreSQL URL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK
from sailbridge.store.base import Store

if TYPE_CHECKING:
    from sailbridge.delivery.ratelimit import RateLimiter


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


async def open_store(database: str) -> Store:
    """Open and migrate the store; the schema is always current after this returns."""
    if is_postgres_url(database):
        from sailbridge.store.postgres import PostgresStore

        return await PostgresStore.open(database)
    from sailbridge.store.sqlite import SqliteStore

    return await SqliteStore.open(database)


def rate_limiter_for(
    store: Store,
    limits_per_second: Mapping[str, float],
    *,
    max_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK,
    on_wait: Callable[[str, float], None] = lambda route, seconds: None,
) -> RateLimiter:
    """The rate limiter that matches the store: shared by every node on a PostgreSQL
    store (the limits are Sailthru's, per account), in-process on an embedded one;
    either holds a route for at most ``max_block`` seconds."""
    from sailbridge.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        from sailbridge.delivery.shared_ratelimit import PostgresRateLimiter

        return PostgresRateLimiter(store.pool, limits_per_second, on_wait=on_wait,
                                   max_block=max_block)
    from sailbridge.delivery.ratelimit import RateLimiter

    return RateLimiter(limits_per_second, on_wait=on_wait, max_block=max_block)
