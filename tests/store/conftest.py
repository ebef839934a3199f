"""One contract suite for every store: each test runs once per backend in `FACTORIES`.

To run the suite against another implementation, add one `Backend`: ``place`` gives a
test its own empty place for data (a directory, a database), ``open`` opens a
*migrated* store on it. Opening twice with the same place must open the same data
(the durability tests rely on it).

The PostgreSQL runs use the server at ``SAILBRIDGE_TEST_POSTGRES_URL`` (default
``postgresql://root@127.0.0.1:5432/postgres``, the database used only to create and
drop others): the test run gets a fresh database of its own, emptied before each
test and dropped at the end. When the server cannot be reached the PostgreSQL runs
are skipped, or fail when ``CI`` is set: CI must not go green without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from sailbridge.store.base import Store
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.sqlite import SqliteStore

from .helpers import FakeClock

POSTGRES_URL_VARIABLE = "SAILBRIDGE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/postgres"
# Read once, at collection: the autouse fixture in tests/conftest.py removes every
# SAILBRIDGE_* variable from each test's environment.
POSTGRES_URL = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)


@dataclass(frozen=True)
class Backend:
    place: Callable[[pytest.FixtureRequest, Path], Awaitable[Any]]
    open: Callable[[Any, FakeClock], Awaitable[Store]]


async def sqlite_place(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return tmp_path / "sailbridge.db"


async def open_sqlite(place: Path, clock: FakeClock) -> Store:
    return await SqliteStore.open(place, clock)


async def postgres_place(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url: str = request.getfixturevalue("postgres_database")
    await empty_database(url)
    return url


async def open_postgres(place: str, clock: FakeClock) -> Store:
    return await PostgresStore.open(place, clock, max_size=4)


FACTORIES: dict[str, Backend] = {
    "sqlite": Backend(sqlite_place, open_sqlite),
    "postgres": Backend(postgres_place, open_postgres),
}

OpenStore = Callable[[], Awaitable[Store]]


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def postgres_server() -> tuple[str, psycopg.Connection[Any]]:
    """The server's URL and an admin connection; skips (fails under CI) if unreachable."""
    url = POSTGRES_URL
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = (f"PostgreSQL is not reachable at {url} ({exc}). Start it with "
                   "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
                   f"start` or point {POSTGRES_URL_VARIABLE} at a server.")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the PostgreSQL store must be tested: {message}",
                        pytrace=False)
        pytest.skip(message)
    return url, admin


@contextmanager
def fresh_database(prefix: str = "sailbridge_test") -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards; yields its URL."""
    url, admin = postgres_server()
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(url, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The test run's own database (migrated by the first store opened on it)."""
    with fresh_database() as url:
        yield url


async def empty_database(url: str) -> None:
    """Delete every row sailbridge keeps (the schema stays), restarting the ids."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'schema_version'")
        tables = [row[0] for row in await cursor.fetchall()]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture(params=sorted(FACTORIES))
async def open_store(request: pytest.FixtureRequest, tmp_path: Path,
                     clock: FakeClock) -> AsyncIterator[OpenStore]:
    """Opens stores on one shared place (file, database); closes them all afterwards."""
    backend = FACTORIES[request.param]
    place = await backend.place(request, tmp_path)
    opened: list[Store] = []

    async def open_one() -> Store:
        store = await backend.open(place, clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


@pytest.fixture
async def postgres_url(postgres_database: str) -> str:
    """The run's database, emptied, for tests of the PostgreSQL store alone."""
    await empty_database(postgres_database)
    return postgres_database
