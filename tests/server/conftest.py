"""Fixtures: ``serve(**ingest_overrides)`` starts a live server; ``server`` is the default one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from sailbridge.server.ingest import IngestConfig
from sailbridge.store.base import Store

from .live import OTHER_KEY, WRITE_KEY, LiveServer, start_server

Serve = Callable[..., LiveServer]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start a server: ``serve(max_inflight=0, ...)`` overrides `IngestConfig` fields."""
    started: list[LiveServer] = []

    def start(wrap_store: Callable[[Store], Store] | None = None,
              on_enqueued: Callable[[Starlette], None] | None = None,
              **overrides: Any) -> LiveServer:
        settings: dict[str, Any] = {"write_keys": frozenset({WRITE_KEY, OTHER_KEY})}
        settings.update(overrides)
        db = tmp_path / f"sailbridge-{len(started)}.db"
        live = start_server(db, IngestConfig(**settings), wrap_store, on_enqueued)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def server(serve: Serve) -> LiveServer:
    """A server with the default ingest settings and two write keys."""
    return serve()
