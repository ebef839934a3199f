"""``GET /livez``, ``/readyz`` and ``/healthz``: is this node alive, and can it take events?

Two questions with two answers, because a load balancer and a process supervisor act
on them differently:

- **liveness** (``/livez``): the process answers HTTP. A supervisor restarts a node
  that fails it. It never looks at the store: a database outage is not cured by
  restarting every node at once.
- **readiness** (``/readyz``): the store accepts a write now — on a full disk or a
  read-only or unreachable database every ingest request would fail, so a load
  balancer should send events to another node. The check commits one tiny write and
  answers within `READY_TIMEOUT` whatever the store does (a PostgreSQL outage makes a
  connection wait; the check does not wait with it).

  On a node that delivers, readiness also holds delivery to account: 503 when the
  delivery worker is not running, or has made no progress for
  ``SAILBRIDGE_DELIVERY_STALL_AFTER`` seconds while work is ready (the judgement is
  `sailbridge.delivery.stall.judge`; ``app.state.delivery_check`` supplies it).

``/healthz`` is readiness, as it always meant "the store is usable" here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sailbridge.clock import Clock
from sailbridge.delivery.stall import Stall
from sailbridge.store.base import Lifecycle
from sailbridge.store.errors import StoreUnwritable

log = logging.getLogger(__name__)

DeliveryCheck = Callable[[], Stall | None]
"""Whether this node's delivery is stalled (`sailbridge.delivery.stall.judge` applied)."""

READY_TIMEOUT = 0.8
"""Seconds the readiness check waits for the store; the answer comes within a second."""


class Readiness:
    """The readiness check of one app, with at most one store check in flight.

    A check that outlives `READY_TIMEOUT` is not waited for: the answer is 503 at once,
    and the check is left to end on its own (cancelling a PostgreSQL call can itself
    wait on the dead connection, which is how a health check used to hang for 13 s).
    While it has not ended, later checks answer 503 without starting another, so an
    outage does not pile up one stuck connection attempt per probe.
    """

    def __init__(
        self, store: Lifecycle, clock: Clock = time.time, timeout: float = READY_TIMEOUT
    ) -> None:
        self._store = store
        self._clock = clock
        self._timeout = timeout
        self._stuck: asyncio.Task[None] | None = None

    async def check(self, delivery: DeliveryCheck | None = None) -> tuple[int, dict[str, object]]:
        """``(200, {"ok": true})`` or ``(503, {"ok": false, "code", "message"})``; with
        ``delivery``, a stalled or stopped delivery is a 503 too."""
        status, body = await self._check_store()
        if status == 200 and delivery is not None and (stall := delivery()) is not None:
            return self._unready(stall.code, stall.message)
        return status, body

    async def _check_store(self) -> tuple[int, dict[str, object]]:
        if self._stuck is not None and not self._stuck.done():
            return self._unready(
                "store_unavailable", "the store has not answered the previous check yet"
            )
        task = asyncio.ensure_future(self._store.check_writable(self._clock()))
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done:
            self._stuck = task
            task.add_done_callback(_consume)
            task.cancel()
            return self._unready(
                "store_unavailable", f"the store did not answer within {self._timeout} s"
            )
        error = task.exception()
        if error is None:
            return 200, {"ok": True}
        if isinstance(error, StoreUnwritable):
            return self._unready("store_unwritable", str(error))
        return self._unready(
            "store_unavailable", f"the store failed: {type(error).__name__}: {error}"
        )

    @staticmethod
    def _unready(code: str, message: str) -> tuple[int, dict[str, object]]:
        log.warning("not ready", extra={"code": code, "reason": message})
        return 503, {"ok": False, "code": code, "message": message}


def _consume(task: asyncio.Task[None]) -> None:
    """Retrieve an abandoned check's outcome, so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


def health_routes(store: Lifecycle, clock: Clock = time.time) -> list[Route]:
    """``/livez`` (the process answers), ``/readyz`` and ``/healthz`` (the store takes writes)."""

    async def livez(request: Request) -> Response:
        return JSONResponse({"ok": True})

    readiness = Readiness(store, clock)

    async def readyz(request: Request) -> Response:
        status, body = await readiness.check(getattr(request.app.state, "delivery_check", None))
        return JSONResponse(body, status_code=status)

    return [
        Route("/livez", livez, methods=["GET"], name="livez"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
        Route("/healthz", readyz, methods=["GET"], name="healthz"),
    ]
