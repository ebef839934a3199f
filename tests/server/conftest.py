"""Fixtures: ``serve(**ingest_overrides)`` starts a live server; ``server`` is the default one.

``store_backend`` (parametrise it indirectly, or use ``any_store_serve``) picks the store a
server runs on: ``sqlite`` (a file per server) or ``postgres`` (the run's own database on
the machine's server, emptied per test; see `tests.store.postgres_server`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from sailbridge.server.connections import ConnectionLimits
from sailbridge.server.ingest import IngestConfig
from sailbridge.store.base import Store
from tests.store.postgres_server import (  # noqa: F401 - fixtures, registered by being imported
    postgres_database,
    postgres_url,
)

from .live import OTHER_KEY, WRITE_KEY, LiveServer, start_server

Serve = Callable[..., LiveServer]
DEFAULT_LIMITS = ConnectionLimits()


def _serve(tmp_path: Path, place: Callable[[], str] | None) -> Iterator[Serve]:
    started: list[LiveServer] = []

    def start(
        wrap_store: Callable[[Store], Store] | None = None,
        on_enqueued: Callable[[Starlette], None] | None = None,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        **overrides: Any,
    ) -> LiveServer:
        settings: dict[str, Any] = {"write_keys": frozenset({WRITE_KEY, OTHER_KEY})}
        settings.update(overrides)
        db: Path | str = place() if place else tmp_path / f"sailbridge-{len(started)}.db"
        live = start_server(db, IngestConfig(**settings), wrap_store, on_enqueued, limits)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start a server: ``serve(max_inflight=0, ...)`` overrides `IngestConfig` fields."""
    yield from _serve(tmp_path, None)


@pytest.fixture(params=["sqlite", "postgres"])
def any_store_serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Serve]:
    """`serve`, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield from _serve(tmp_path, None)
        return
    url: str = request.getfixturevalue("postgres_url")
    yield from _serve(tmp_path, lambda: url)


@pytest.fixture
def server(serve: Serve) -> LiveServer:
    """A server with the default ingest settings and two write keys."""
    return serve()
