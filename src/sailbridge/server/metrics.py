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
from sailbridge.drain import backlog_estimate
from sailbridge.metrics import Metrics
from sailbridge.store.base import OperatorReads

log = logging.getLogger(__name__)

STORE_TIMEOUT = 5.0
"""Seconds /metrics waits for ``store.counts()`` before calling it down."""


def metrics_route(
    metrics: Metrics, store: OperatorReads, clock: Clock = time.time, path: str = "/metrics"
) -> Route:
    """``GET /metrics``: refresh the queue gauges (and the backlog's drain time) from the
    store, then expose everything.

    A store that does not answer still gets a scrape (with ``sailbridge_store_up 0``
    and the last known queue values): the metrics are most wanted when it is down.
    """

    async def scrape(request: Request) -> Response:
        try:
            counts = await asyncio.wait_for(store.counts(), STORE_TIMEOUT)
            sample = await asyncio.wait_for(store.queued_kinds(), STORE_TIMEOUT)
        except Exception:
            log.exception("store.counts() failed during a metrics scrape")
            metrics.mark_store_down()
        else:
            metrics.update_queue(counts, clock())
            metrics.update_drain(
                backlog_estimate(
                    counts, sample, metrics.rate_limits, metrics.route_usage.reported_limits()
                )
            )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route(path, scrape, methods=["GET"], name="metrics")
