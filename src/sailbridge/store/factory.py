"""The backend ``SAILBRIDGE_DATABASE`` names — a SQLite path, or a PostgreSQL URL — chosen
here once (`backend_for`), and what each backend opens: the store, its memory read-only
(for ``explain``), and the rate-limit slots its nodes share (PostgreSQL only).

Backend code stays in its package (`sailbridge.store.sqlite`, `sailbridge.store.postgres`)
and is imported only when that backend is chosen, so nothing outside ``store/`` imports
a database driver.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sailbridge.logs import first_line
from sailbridge.redact import mask_url_password
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.base import Store
from sailbridge.store.errors import StoreError, StoreMissing, StoreUnavailable
from sailbridge.store.readonly import (
    ReadOnlyMemory,
    postgres_read_only_memory,
    sqlite_read_only_memory,
)


class SharedSlots(Protocol):
    """Rate-limit slots and blocks every node of a shared database sees
    (`sailbridge.delivery.shared_ratelimit` paces with them). Each call is one atomic
    step on the database's clock; a failure is a `StoreError`."""

    async def take(self, route: str, interval: float, n: int) -> tuple[float, float]:
        """Reserve the route's next ``n`` slots, ``interval`` apart: the first slot and
        the database's now."""

    async def blocked_until(self, route: str) -> tuple[float, float]:
        """Until when a block holds ``route`` (0: never), and the database's now."""

    async def block(
        self,
        route: str,
        until: float | None,
        *,
        default_block: float,
        past_block: float,
        max_block: float,
    ) -> None:
        """Close ``route`` for every node (Sailthru's reset ``until``, a short pause when
        unknown, a very short one when past, at most ``max_block`` seconds)."""


@dataclass(frozen=True)
class Backend:
    """One kind of store, and everything that depends on which one it is."""

    name: str
    open: Callable[[str, bool], Awaitable[Store]]
    """The store at ``database``, migrated (``create`` false: `StoreMissing` if none)."""
    read_only_memory: Callable[[str, str], Awaitable[ReadOnlyMemory | None]]
    shared_slots: Callable[[str], AbstractAsyncContextManager[SharedSlots]] | None
    """The slots every node shares, open for a block; ``None``: one node, pace locally."""

    def describe(self, database: str) -> str:
        """``SAILBRIDGE_DATABASE`` as safe to print: which kind of store, where."""
        return f"{self.name} {mask_url_password(database)}"


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def backend_for(database: str) -> Backend:
    """The backend ``database`` names: the one place that looks at the URL's form."""
    return POSTGRES if is_postgres_url(database) else SQLITE


def describe_store(database: str) -> str:
    """``SAILBRIDGE_DATABASE`` as safe to print: which kind of store, where (no password)."""
    return backend_for(database).describe(database)


async def open_store(database: str, *, create: bool = True) -> Store:
    """Open and migrate the store; the schema is always current after this returns.

    ``create`` false is for commands that only read: a SQLite file that does not
    exist, or a PostgreSQL database without sailbridge's schema, raises `StoreMissing`
    rather than being created (a mistyped path must not show an empty queue). Every
    failure to open is a `StoreUnavailable` whose message names the setting and its
    value, the password masked.
    """
    return await backend_for(database).open(database, create)


async def open_read_only_memory(
    database: str, account: str = DEFAULT_ACCOUNT
) -> ReadOnlyMemory | None:
    """``account``'s memory in ``database``, read-only; ``None`` when there is none (no
    such file, a store not migrated, a PostgreSQL server out of reach)."""
    return await backend_for(database).read_only_memory(database, account)


def _where(database: str) -> str:
    return f"SAILBRIDGE_DATABASE={mask_url_password(database)}"


async def _open_postgres(database: str, create: bool) -> Store:
    import psycopg
    from psycopg_pool import PoolTimeout

    from sailbridge.store.postgres import PostgresStore

    where = _where(database)
    try:
        return await PostgresStore.open(database, create=create)
    except StoreMissing as exc:
        raise StoreMissing(f"{where}: {exc}") from exc
    except (psycopg.Error, PoolTimeout, OSError) as exc:
        raise StoreUnavailable(f"{where}: cannot connect to PostgreSQL: {first_line(exc)}") from exc
    except StoreError as exc:
        raise StoreUnavailable(f"{where}: {exc}") from exc


async def _open_sqlite(database: str, create: bool) -> Store:
    from sailbridge.store.sqlite import SqliteStore

    where = _where(database)
    path = Path(database)
    if not create and not path.is_file():
        raise StoreMissing(
            f"{where}: no store there (nothing has been queued with this "
            "setting; check the path, or start `sailbridge serve` first)"
        )
    try:
        return await SqliteStore.open(database)
    except (sqlite3.Error, OSError) as exc:
        folder = path.parent if str(path.parent) else Path(".")
        hint = (
            ""
            if os.access(folder, os.W_OK)
            else (f" (the folder {folder} does not exist or is not writable)")
        )
        raise StoreUnavailable(f"{where}: cannot open the SQLite file: {exc}{hint}") from exc
    except StoreError as exc:
        raise StoreUnavailable(f"{where}: {exc}") from exc


def _postgres_slots(database: str) -> AbstractAsyncContextManager[SharedSlots]:
    from sailbridge.store.postgres.ratelimit import shared_slots

    return shared_slots(database)


SQLITE = Backend("SQLite", _open_sqlite, sqlite_read_only_memory, None)
POSTGRES = Backend("PostgreSQL", _open_postgres, postgres_read_only_memory, _postgres_slots)
