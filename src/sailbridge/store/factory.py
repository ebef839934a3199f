"""Open the store ``SAILBRIDGE_DATABASE`` names: a SQLite path, or a PostgreSQL URL."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sailbridge.logs import first_line
from sailbridge.redact import mask_url_password
from sailbridge.store.base import Store
from sailbridge.store.errors import StoreError, StoreMissing, StoreUnavailable


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def describe_store(database: str) -> str:
    """``SAILBRIDGE_DATABASE`` as safe to print: which kind of store, where (no password)."""
    if is_postgres_url(database):
        return f"PostgreSQL {mask_url_password(database)}"
    return f"SQLite {database}"


async def open_store(database: str, *, create: bool = True) -> Store:
    """Open and migrate the store; the schema is always current after this returns.

    ``create`` false is for commands that only read: a SQLite file that does not
    exist, or a PostgreSQL database without sailbridge's schema, raises `StoreMissing`
    rather than being created (a mistyped path must not show an empty queue). Every
    failure to open is a `StoreUnavailable` whose message names the setting and its
    value, the password masked.
    """
    where = f"SAILBRIDGE_DATABASE={mask_url_password(database)}"
    if is_postgres_url(database):
        import psycopg
        from psycopg_pool import PoolTimeout

        from sailbridge.store.postgres import PostgresStore

        try:
            return await PostgresStore.open(database, create=create)
        except StoreMissing as exc:
            raise StoreMissing(f"{where}: {exc}") from exc
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            raise StoreUnavailable(
                f"{where}: cannot connect to PostgreSQL: {first_line(exc)}") from exc
        except StoreError as exc:
            raise StoreUnavailable(f"{where}: {exc}") from exc
    from sailbridge.store.sqlite import SqliteStore

    path = Path(database)
    if not create and not path.is_file():
        raise StoreMissing(f"{where}: no store there (nothing has been queued with this "
                           "setting; check the path, or start `sailbridge serve` first)")
    try:
        return await SqliteStore.open(database)
    except (sqlite3.Error, OSError) as exc:
        folder = path.parent if str(path.parent) else Path(".")
        hint = "" if os.access(folder, os.W_OK) else (
            f" (the folder {folder} does not exist or is not writable)")
        raise StoreUnavailable(f"{where}: cannot open the SQLite file: {exc}{hint}") from exc
    except StoreError as exc:
        raise StoreUnavailable(f"{where}: {exc}") from exc
