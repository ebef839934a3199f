"""One contract suite for every store: each test runs once per factory in `FACTORIES`.

To run the suite against another implementation, add one factory: an async function
``(place, clock) -> Store`` that opens a *migrated* store. Calling it twice with the
same ``place`` must open the same underlying data (the durability tests rely on it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sailbridge.store.base import Store
from sailbridge.store.sqlite import SqliteStore

from .helpers import FakeClock

StoreFactory = Callable[[Path, FakeClock], Awaitable[Store]]


async def open_sqlite(place: Path, clock: FakeClock) -> Store:
    return await SqliteStore.open(place / "sailbridge.db", clock)


FACTORIES: dict[str, StoreFactory] = {
    "sqlite": open_sqlite,
}

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture(params=sorted(FACTORIES))
async def open_store(request: pytest.FixtureRequest, tmp_path: Path,
                     clock: FakeClock) -> AsyncIterator[OpenStore]:
    """Opens stores on one shared place (file, database); closes them all afterwards."""
    factory = FACTORIES[request.param]
    opened: list[Store] = []

    async def open_one() -> Store:
        store = await factory(tmp_path, clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()
