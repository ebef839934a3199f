"""``GET /metrics``: the Prometheus scrape endpoint over `sailbridge.metrics.Metrics`."""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sailbridge.clock import Clock
from sailbridge.metrics import Metrics
from sailbridge.status import read_status
from sailbridge.store.base import OperatorReads

log = logging.getLogger(__name__)

STORE_TIMEOUT = 5.0
"""Seconds /metrics waits for the store's counts before calling it down."""


def metrics_route(
    metrics: Metrics, store: OperatorReads, clock: Clock = time.time, path: str = "/metrics"
) -> Route:
    """``GET /metrics``: refresh the queue gauges (and each account's drain time) from
    the store, then expose everything.

    A store that does not answer still gets a scrape (with ``sailbridge_store_up 0``
    and the last known queue values): the metrics are most wanted when it is down.
    """

    async def scrape(request: Request) -> Response:
        try:
            reading = await asyncio.wait_for(read_status(store, metrics.limits), STORE_TIMEOUT)
        except Exception:
            log.exception("reading the store's counts failed during a metrics scrape")
            metrics.mark_store_down()
        else:
            metrics.update_queue(reading.counts, clock())
            metrics.update_drain(reading.accounts)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route(path, scrape, methods=["GET"], name="metrics")
