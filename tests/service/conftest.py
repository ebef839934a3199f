"""Fixtures: `serve_process(**env)` starts `sailbridge serve` against the session sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from segment.analytics import Client

from sailbridge.sandbox.server import SandboxHandle

from ..store.postgres_server import postgres_database, postgres_url  # noqa: F401 (fixtures)
from .process import WRITE_KEY, ServeProcess, free_port, service_env

StartServe = Callable[..., ServeProcess]


@pytest.fixture
def serve_process(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[StartServe]:
    started: list[ServeProcess] = []

    def start(*args: str, database: str | None = None, **env: str) -> ServeProcess:
        port = free_port()
        db = database or str(tmp_path / "sailbridge.db")
        process = ServeProcess(
            service_env(sandbox, db, port, **env), tmp_path / f"serve-{len(started)}.log", args
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def segment_client(url: str) -> Client:
    """Segment's own Python SDK pointed at sailbridge, flushing on demand."""
    return Client(WRITE_KEY, host=url, sync_mode=False, upload_size=100, max_retries=10, gzip=True)
