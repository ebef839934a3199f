"""``sailbridge serve``: the ingest API and the delivery worker in one process.

The worker lives in the ASGI lifespan, so uvicorn's own SIGTERM handling drains it:
uvicorn stops accepting requests, finishes the ones in flight, then runs the lifespan
shutdown, where the worker stops claiming, lets in-flight deliveries finish (or
releases them to the queue) and the store is closed. Anything answered 200 was
committed before the answer, so even ``kill -9`` loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from sailbridge.delivery.observers import DeadEventLog
from sailbridge.delivery.stall import Stall, judge
from sailbridge.delivery.worker import Worker
from sailbridge.logs import get_logger
from sailbridge.metrics import Metrics
from sailbridge.operations import status_view
from sailbridge.server.admin import admin_routes
from sailbridge.server.app import create_app
from sailbridge.server.connections import ConnectionLimits, guarded_protocol
from sailbridge.server.console import console_routes
from sailbridge.server.files import (
    FileLimit,
    connection_cap,
    listen_backlog,
    raise_file_limit,
    reserved_files,
)
from sailbridge.server.health import DeliveryCheck
from sailbridge.server.ingest import IngestConfig
from sailbridge.settings import Settings, masked_settings, unknown_environment
from sailbridge.status import Limits
from sailbridge.store.base import SHOWN_COUNTS, Control, OperatorReads, Store
from sailbridge.store.factory import describe_store, open_store
from sailbridge.supervise import supervised
from sailbridge.wiring import delivery_worker

log = logging.getLogger("sailbridge.service")


@dataclass(frozen=True)
class Roles:
    ingest: bool = True
    delivery: bool = True


def build_app(settings: Settings, store: Store, metrics: Metrics, roles: Roles) -> Starlette:
    """The ASGI app for these roles, with the worker (if any) in its lifespan."""
    metrics.limits = Limits(settings.deployment().rate_limits, metrics.route_usage.reported_limits)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            worker: Worker | None = None
            if roles.delivery:
                worker = await stack.enter_async_context(
                    delivery_worker(settings, store, metrics, observers=[DeadEventLog()])
                )
                task = asyncio.create_task(supervised("delivery worker", worker.run))
                app.state.worker = worker
                app.state.delivery_check = delivery_check(worker, settings.delivery_stall_after)
                metrics.watch_delivery(lambda: app.state.delivery_check() is not None)
            housekeeping = asyncio.create_task(
                supervised("housekeeping", functools.partial(keep_tidy, store, settings.retention))
            )
            summary = asyncio.create_task(
                supervised(
                    "queue log",
                    functools.partial(log_queue_summary, store, settings.queue_log_interval),
                )
            )
            try:
                yield
            finally:
                housekeeping.cancel()
                summary.cancel()
                if worker is not None:
                    worker.stop()
                    await task
                await store.close()

    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    ingest_config = IngestConfig.from_settings(settings) if roles.ingest else None

    def delivery_stall() -> Stall | None:  # what readiness says, for the console
        check: DeliveryCheck | None = getattr(app.state, "delivery_check", None)
        return check() if check is not None else None

    extra: list[BaseRoute] = [
        *admin_routes(
            store,
            token,
            on_enqueued=_wake_worker,
            accounts=settings.deployment().names,
            limits=metrics.limits,
        ),
        *console_routes(store, settings, metrics, delivery_stall),
    ]
    app = create_app(
        store,
        ingest_config,
        metrics,
        extra_routes=extra,
        lifespan=lifespan,
        on_enqueued=_wake_worker,
    )
    return app


def delivery_check(worker: Worker, stall_after: float) -> DeliveryCheck:
    """Readiness's question about ``worker``: is its delivery stalled, and why."""
    return lambda: judge(worker.facts(), stall_after)


HOUSEKEEPING_INTERVAL = 600.0


async def keep_tidy(store: Control, retention: float) -> None:
    """Delete delivered and skipped jobs older than the retention, a chunk at a time,
    so the store stays the size of the work in hand, not of all history."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL)
        try:
            while await store.purge_finished(time.time() - retention, limit=10_000) == 10_000:
                await asyncio.sleep(0.1)
        except Exception:
            log.exception("purging finished jobs failed; will try again")


async def log_queue_summary(store: OperatorReads, interval: float) -> None:
    """Every ``interval`` seconds (``SAILBRIDGE_QUEUE_LOG_INTERVAL``; 0 = never) one
    info line with the queue's counts, so a log alone shows a backlog building."""
    if interval <= 0:
        return
    queue_log = get_logger("sailbridge.queue")
    while True:
        await asyncio.sleep(interval)
        try:
            view = status_view(await store.counts())
        except Exception as exc:
            queue_log.warning("queue summary unavailable", error=f"{type(exc).__name__}: {exc}")
            continue
        queue_log.info(
            "queue",
            **{
                name: view[name]
                for name in (*SHOWN_COUNTS, "oldest_pending_age_seconds", "paused", "paused_reason")
            },
        )


def log_start(
    settings: Settings,
    roles: Roles,
    files: FileLimit | None = None,
    limits: ConnectionLimits | None = None,
) -> None:
    """The start line: version, roles, store and every setting's effective value, secrets
    masked, the open-file limit and the connection limit it allows; then a warning per
    unknown ``SAILBRIDGE_*`` variable."""
    from sailbridge import __version__

    start_log = get_logger("sailbridge.service")
    extra: dict[str, object] = {}
    if files is not None and limits is not None:
        extra = {
            "open_files": {"soft": files.soft, "hard": files.hard, "was": files.was},
            "max_connections": limits.max_connections,
        }
        if limits.max_connections < settings.max_connections:
            extra["max_connections_capped"] = (
                f"SAILBRIDGE_MAX_CONNECTIONS {settings.max_connections} lowered to "
                f"{limits.max_connections}: the process may open {files.soft} files "
                f"(raise `ulimit -n`)"
            )
    start_log.info(
        "sailbridge starting",
        version=__version__,
        roles=[name for name in ("ingest", "delivery") if getattr(roles, name)],
        store=describe_store(settings.database),
        listen=f"http://{settings.host}:{settings.port}",
        settings=masked_settings(settings),
        **extra,
    )
    for warning in unknown_environment():
        start_log.warning("unknown setting", detail=warning)


def freeze_startup_heap() -> None:
    """Leave what start-up built out of the garbage collector's full passes.

    A started process holds ~80,000 long-lived objects (modules, classes, settings,
    the app). CPython's cyclic collector walks every one of them in each collection
    of its oldest generation, which the allocations of a busy ingest trigger every
    couple of seconds: each took 20–55 ms here, an event loop stalled that long (the
    single-event p99 at 64 connections was ~50 ms for that alone) and ~10 % of its CPU.
    `gc.freeze` moves them to a permanent generation the collector skips; what is
    made while serving is collected as before (docs/benchmarks.md, issue 18)."""
    gc.collect()
    gc.freeze()


def _wake_worker(app: Any) -> None:
    worker = getattr(app.state, "worker", None)
    if worker is not None:
        worker.wake()


async def serve(settings: Settings, roles: Roles = Roles(), *, log_level: str = "info") -> None:
    """Run until SIGTERM/SIGINT; the store is opened (and migrated) first."""
    if roles.delivery:
        settings.deployment().check_credentials()
    files = raise_file_limit()
    limits = ConnectionLimits.from_settings(settings)
    limits = dataclasses.replace(
        limits,
        max_connections=connection_cap(
            limits.max_connections, files.soft, reserved_files(settings.concurrency)
        ),
    )
    log_start(settings, roles, files, limits)
    store = await open_store(settings.database)
    metrics = Metrics()
    app = build_app(settings, store, metrics, roles)
    freeze_startup_heap()
    # log_config None: uvicorn's loggers propagate to the root handler `configure_logging`
    # set up, so its lines come out in the same format as sailbridge's.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=30,
        backlog=listen_backlog(files.soft),
        http=guarded_protocol(limits),
    )
    await uvicorn.Server(config).serve()


@dataclass(frozen=True)
class ServiceHandle:
    url: str


@contextmanager
def running_service(
    settings: Settings, roles: Roles = Roles(), startup_timeout: float = 20.0
) -> Iterator[ServiceHandle]:
    """The whole service on a free local port in a background thread (demo, tests).

    The store is opened inside the server's own event loop, where it is used.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, 0))
    port = sock.getsockname()[1]
    holder: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> None:
        try:
            store = await open_store(settings.database)
            app = build_app(settings, store, Metrics(), roles)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    lifespan="on",
                    access_log=False,
                    http=guarded_protocol(ConnectionLimits.from_settings(settings)),
                )
            )
            holder["server"] = server
        except BaseException as exc:
            holder["error"] = exc
            raise
        finally:
            started.set()
        await server.serve(sockets=[sock])

    thread = threading.Thread(
        target=lambda: asyncio.run(main()), daemon=True, name=f"sailbridge-{port}"
    )
    thread.start()
    started.wait(startup_timeout)
    if "error" in holder:
        raise RuntimeError(f"sailbridge did not start: {holder['error']}")
    server: uvicorn.Server = holder["server"]
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sailbridge did not start")
        time.sleep(0.01)
    try:
        yield ServiceHandle(url=f"http://{settings.host}:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        sock.close()
