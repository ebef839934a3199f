"""The ASGI application: ingest, health checks and ``/metrics``, plus whatever the caller adds.

Nothing here starts workers or opens the store: the caller owns both and passes them
in, along with a ``lifespan`` if it wants startup and shutdown hooks (delivery
workers, closing the store). That keeps the app a pure composition, testable with any
`Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from sailbridge.metrics import Metrics
from sailbridge.server.errors import http_exception_handler, internal_error_handler
from sailbridge.server.health import health_routes
from sailbridge.server.ingest import Ingest, IngestConfig
from sailbridge.server.metrics import metrics_route
from sailbridge.store.base import Store


class IngestApp(Starlette):
    """Starlette, but a POST to an ingest path goes straight to its handler.

    Starlette's route matching, exception middleware and endpoint wrapping cost about
    as much CPU as uvicorn itself, ~28 µs a request here (``bench/ingest_single.py``
    with ``BENCH_RAW=1`` sets a plain ASGI app beside the Starlette one): more than
    storing a single event durably. Ingest handles its own errors (each becomes its
    JSON answer), so nothing of Starlette's is lost on that path; every other request
    — preflights, a wrong method, the console — takes Starlette's way.
    """

    def __init__(self, posts: dict[str, ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posts = posts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            post = self.posts.get(scope["path"])
            if post is not None:
                await post(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    store: Store,
    ingest_config: IngestConfig | None,
    metrics: Metrics,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan: Lifespan[Any] | None = None,
    on_enqueued: Callable[[Starlette], None] | None = None,
    debug: bool = False,
) -> Starlette:
    """Assemble the service: ``POST /v1/*`` ingest, ``GET /livez /readyz /healthz``,
    ``GET /metrics``,
    then ``extra_routes`` (admin API, dashboard). Every error answer is JSON.

    ``ingest_config`` ``None`` leaves the ingest routes out (a delivery-only node).
    ``on_enqueued(app)`` runs after each ingest commit that stored jobs (to wake the
    delivery worker kept in ``app.state``, say).
    """
    app: Starlette
    nudge = None if on_enqueued is None else (lambda: on_enqueued(app))
    ingest = (
        None if ingest_config is None else Ingest(store, ingest_config, metrics, on_enqueued=nudge)
    )
    routes: list[BaseRoute] = [
        *(ingest.routes() if ingest is not None else ()),
        *health_routes(store),
        metrics_route(metrics, store),
        *extra_routes,
    ]
    app = IngestApp(
        ingest.posts() if ingest is not None else {},
        debug=debug,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
    )
    app.state.store = store
    app.state.metrics = metrics
    app.state.ingest_config = ingest_config
    return app
