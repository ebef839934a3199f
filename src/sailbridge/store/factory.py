"""Open the store ``SAILBRIDGE_DATABASE`` names: a SQLite path, or a PostgreSQL URL."""

from __future__ import annotations

from sailbridge.store.base import Store


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


async def open_store(database: str) -> Store:
    """Open and migrate the store; the schema is always current after this returns."""
    if is_postgres_url(database):
        from sailbridge.store.postgres import PostgresStore

        return await PostgresStore.open(database)
    from sailbridge.store.sqlite import SqliteStore

    return await SqliteStore.open(database)
