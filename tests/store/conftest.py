"""One contract suite for every store: each test runs once per backend in `FACTORIES`.

To run the suite against another implementation, add one `Backend`: ``place`` gives a
test its own empty place for data (a directory, a database), ``open`` opens a
*migrated* store on it. Opening twice with the same place must open the same data
(the durability tests rely on it).

The PostgreSQL runs get a database of their own on the machine's server, emptied
before each test (see `tests.store.postgres_server`): skipped when the server cannot
be reached, failed instead when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sailbridge.store.base import Store
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.sqlite import SqliteStore

from .helpers import FakeClock
from .postgres_server import (  # noqa: F401 - fixtures, registered by being imported
    empty_database,
    fresh_database,
    postgres_database,
    postgres_url,
)


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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture(params=sorted(FACTORIES))
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[OpenStore]:
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
