"""A real sailbridge HTTP server: uvicorn on a free port, a SQLite store on disk.

The server runs its own event loop in a thread, and the store is opened inside that
loop; tests talk to it over real HTTP (``requests``, Segment's SDK) and read the store
back through `LiveServer.call`, which runs a coroutine on the server's loop.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette

from sailbridge.metrics import Metrics
from sailbridge.server.app import create_app
from sailbridge.server.connections import ConnectionLimits, guarded_protocol
from sailbridge.server.ingest import IngestConfig
from sailbridge.store.base import Job, JobState, Rejection, Store
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.sqlite import SqliteStore

from ..store.helpers import jobs_in

T = TypeVar("T")

WRITE_KEY = "wk_test"
OTHER_KEY = "wk_other"
DEFAULT_LIMITS = ConnectionLimits()


def basic_auth(write_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class LiveServer:
    url: str
    store: Store
    metrics: Metrics
    loop: asyncio.AbstractEventLoop
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run ``make()`` on the server's loop (where the store lives) and wait for it."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def jobs(self) -> list[Job]:
        return self.call(lambda: jobs_in(self.store, JobState.PENDING, limit=1000))

    def rejections(self) -> list[Rejection]:
        return self.call(lambda: self.store.list_rejections(limit=1000))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def start_server(
    db: Path | str,
    config: IngestConfig,
    wrap_store: Callable[[Store], Store] | None = None,
    on_enqueued: Callable[[Starlette], None] | None = None,
    limits: ConnectionLimits = DEFAULT_LIMITS,
) -> LiveServer:
    """Serve a new app over ``db`` until `LiveServer.stop`; ``wrap_store`` may put a
    test double around the real store (to make it fail or stall). ``db`` is a SQLite
    file, or a ``postgresql://`` URL for the PostgreSQL store."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        try:
            real: Store = (
                await PostgresStore.open(db, max_size=4)
                if isinstance(db, str)
                else await SqliteStore.open(db)
            )
            store: Store = wrap_store(real) if wrap_store is not None else real
            metrics = Metrics()
            app = create_app(store, config, metrics, on_enqueued=on_enqueued)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    lifespan="off",
                    access_log=False,
                    http=guarded_protocol(limits),
                )
            )
            holder.update(
                store=store, metrics=metrics, server=server, loop=asyncio.get_running_loop()
            )
        except BaseException as exc:
            holder["error"] = exc
            ready.set()
            raise
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.005)
        ready.set()
        try:
            await serving
        finally:
            await real.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the test server did not start")
    if "error" in holder:
        raise holder["error"]
    return LiveServer(
        f"http://127.0.0.1:{port}",
        holder["store"],
        holder["metrics"],
        holder["loop"],
        holder["server"],
        thread,
    )


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` in a /metrics text, or 0."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
