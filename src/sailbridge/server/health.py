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

from sailbridge.store.base import Store
from sailbridge.store.errors import StoreUnwritable

log = logging.getLogger(__name__)

READY_TIMEOUT = 0.8
"""Seconds the readiness check waits for the store; the answer comes within a second."""

Clock = Callable[[], float]


async def readiness(store: Store, clock: Clock = time.time,
                    timeout: float = READY_TIMEOUT) -> tuple[int, dict[str, object]]:
    """The readiness answer: ``(200, {"ok": true})`` or ``(503, {... "code", "message"})``."""
    try:
        await asyncio.wait_for(store.check_writable(clock()), timeout)
    except StoreUnwritable as exc:
        code, message = "store_unwritable", str(exc)
    except TimeoutError:
        code, message = "store_unavailable", f"the store did not answer within {timeout} s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        code, message = "store_unavailable", f"the store failed: {type(exc).__name__}: {exc}"
    else:
        return 200, {"ok": True}
    log.warning("not ready", extra={"code": code, "reason": message})
    return 503, {"ok": False, "code": code, "message": message}


def health_routes(store: Store, clock: Clock = time.time) -> list[Route]:
    """``/livez`` (the process answers), ``/readyz`` and ``/healthz`` (the store takes writes)."""

    async def livez(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        status, body = await readiness(store, clock)
        return JSONResponse(body, status_code=status)

    return [Route("/livez", livez, methods=["GET"], name="livez"),
            Route("/readyz", readyz, methods=["GET"], name="readyz"),
            Route("/healthz", readyz, methods=["GET"], name="healthz")]
