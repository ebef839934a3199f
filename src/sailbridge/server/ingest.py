"""The HTTP ingest routes, answering 200 only once the events are durably stored (SPEC §6).

Every route hands its body to the one intake (`sailbridge.intake`); what is here is
HTTP: which routes exist, where the write key comes from, CORS, and status codes.

- Segment's tracking API: ``POST /v1/batch``, ``/v1/import``, one route per type
  (``/v1/track`` ...), and analytics.js's short forms: ``/v1/t /v1/i /v1/p /v1/s
  /v1/g /v1/a`` (one event, the type from the path) and ``/v1/b`` (a batch);
- RudderStack's JS SDK beacon: ``POST /beacon/v1/batch?writeKey=...``;
- Segment Webhooks: ``POST /v1/webhook``, signed (`webhook`) or with a write key.

Every body is read as JSON whatever its Content-Type (analytics.js sends
``text/plain`` to avoid preflights). What each answer means to the SDKs decides the
rules: they retry 408, 429 and 5xx and drop the batch on any other error, so

- a request that can never succeed (malformed JSON, unknown write key, too large,
  more than 2,500 events) is a 4xx with a JSON ``{"code", "message"}`` body;
- a request we cannot take *now* (too many already waiting on the store, or the store
  failing) is 429 or 503 with ``Retry-After``, and nothing is stored;
- one bad event in a batch must not cost the good ones: it is stored as a
  `Rejection` with its reason and the batch still gets 200.

A single-event endpoint has nothing else to save, so an invalid event there is
answered 400 (413 when too large) with the reason — after recording the rejection
durably, so it shows beside the batch rejections.

"Durably stored" is `Store.accept`: the events are committed to the store's inbox,
and the store sorts them into the queue (dedupe included) just after, off the
request's path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sailbridge.clock import Clock
from sailbridge.events import EventType
from sailbridge.intake.documents import Body, BodyError, batch_body, events_body
from sailbridge.intake.sorting import Arrival, RefusalClass, Sorted, Sorter
from sailbridge.metrics import Metrics
from sailbridge.server.bodies import body_error, header_value, read_body, read_document
from sailbridge.server.coalesce import AcceptCoalescer
from sailbridge.server.cors import CorsPolicy
from sailbridge.server.errors import (
    EndpointTypeMismatch,
    IngestError,
    InvalidEventError,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    QueueUnavailable,
    Unauthorized,
    internal_error_response,
)
from sailbridge.server.webhook import signed_body
from sailbridge.server.writekeys import WriteKeys
from sailbridge.settings import Settings
from sailbridge.settings.accounts import DEFAULT_ACCOUNT, DEFAULT_SOURCE
from sailbridge.store.base import Queue

log = logging.getLogger(__name__)


BATCH_PATHS: Final = ("/v1/batch", "/v1/import", "/v1/b")
SINGLE_PATHS: Final[dict[str, EventType]] = {
    "/v1/identify": EventType.IDENTIFY,
    "/v1/track": EventType.TRACK,
    "/v1/page": EventType.PAGE,
    "/v1/screen": EventType.SCREEN,
    "/v1/alias": EventType.ALIAS,
    "/v1/group": EventType.GROUP,
    "/v1/i": EventType.IDENTIFY,
    "/v1/t": EventType.TRACK,
    "/v1/p": EventType.PAGE,
    "/v1/s": EventType.SCREEN,
    "/v1/a": EventType.ALIAS,
    "/v1/g": EventType.GROUP,
}
HOT_PATHS: Final = ("/v1/t", "/v1/batch", "/v1/p", "/v1/track", "/v1/i", "/v1/identify")
BEACON_PATH: Final = "/beacon/v1/batch"
WEBHOOK_PATH: Final = "/v1/webhook"
WEBHOOK_WRITE_KEY: Final = "segment-webhook"
"""Recorded as the write key of events that came in with a valid webhook signature."""
_DEFAULT_ONLY: Final = (DEFAULT_ACCOUNT,)

SORT_CHUNK: Final = 500
"""Events sorted between two yields to the event loop, so one large request cannot
hold every other client's request up for long."""


@dataclass(frozen=True)
class IngestConfig:
    """How ingest accepts events.

    ``write_keys`` empty refuses every request (see `writekeys`).
    ``max_inflight`` is how many requests may wait on the store at once; one more
    is answered 429 at once rather than queued behind them (0 refuses everything,
    useful to drain). The limits match Segment's: 500 KB a request (before and after
    gzip), 32 KB an event. ``max_store_calls`` is how many ``accept`` calls run at
    once; requests arriving meanwhile are joined into the next (see `coalesce`).
    ``cors_origins`` are the web origins browsers may post from (``"*"``: any);
    ``webhook_secrets`` the shared secrets Segment Webhooks sign with.
    """

    write_keys: frozenset[str]
    dedupe_window: float = 86400.0
    max_body_bytes: int = 500 * 1024
    max_event_bytes: int = 32 * 1024
    max_inflight: int = 256
    overload_retry_after: int = 1
    unavailable_retry_after: int = 5
    max_store_calls: int = 2
    cors_origins: frozenset[str] = frozenset()
    webhook_secrets: tuple[str, ...] = ()
    write_key_accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The accounts each write key's source feeds (absent: the account ``default``)."""
    webhook_sources: tuple[WebhookSource, ...] = ()
    """The sources that take signed webhooks (none given: ``webhook_secrets`` feed the
    account ``default``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        """The ingest part of the service settings (``SAILBRIDGE_WRITE_KEYS`` or the
        ``[[sources]]``, and which accounts each source feeds ...)."""
        sources = settings.deployment().sources
        return cls(
            write_keys=frozenset(key for source in sources for key in source.write_keys),
            dedupe_window=settings.dedupe_window,
            max_inflight=settings.max_inflight_ingest,
            cors_origins=settings.cors_origin_set,
            webhook_secrets=tuple(
                secret for source in sources for secret in source.webhook_secrets
            ),
            write_key_accounts={
                key: source.accounts for source in sources for key in source.write_keys
            },
            webhook_sources=tuple(
                WebhookSource(
                    webhook_write_key(source.name), source.webhook_secrets, source.accounts
                )
                for source in sources
                if source.webhook_secrets
            ),
        )


@dataclass(frozen=True)
class WebhookSource:
    """A source's webhook secrets, the write key its events are de-duplicated under
    (`webhook_write_key`) and the accounts they are delivered to."""

    write_key: str
    secrets: tuple[str, ...]
    accounts: tuple[str, ...]

    def __repr__(self) -> str:  # never the secrets
        return f"WebhookSource({self.write_key!r}, accounts={self.accounts!r})"


def webhook_write_key(source: str) -> str:
    """The namespace a source's signed webhooks are de-duplicated in (messageIds are
    per source): today's for the implicit source ``default``."""
    return WEBHOOK_WRITE_KEY if source == DEFAULT_SOURCE else f"{WEBHOOK_WRITE_KEY}/{source}"


_SUCCESS: Final = b'{"success":true}'
_SUCCESS_RESPONSE: Final = Response(_SUCCESS, media_type="application/json")
_SINGLE_ERRORS: Final[dict[RefusalClass, type[IngestError]]] = {
    RefusalClass.TOO_LARGE: PayloadTooLarge,
    RefusalClass.TYPE_MISMATCH: EndpointTypeMismatch,
}
"""A single-event request's refusal as its HTTP error (any other: `InvalidEventError`)."""


class Ingest:
    """The request handlers, bound to one store, config, metrics and clock."""

    def __init__(
        self,
        store: Queue,
        config: IngestConfig,
        metrics: Metrics,
        clock: Clock = time.time,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_enqueued = on_enqueued
        self.cors = CorsPolicy(config.cors_origins)
        self.sorter = Sorter(config.max_event_bytes)
        self.write_keys = WriteKeys(config.write_keys)
        self._waiting = 0
        self._coalescer = AcceptCoalescer(store, config.dedupe_window, config.max_store_calls)

    def routes(self) -> list[Route]:
        """Every ingest route, the busiest first: Starlette tries routes in order, so
        analytics.js's ``/v1/t`` and the SDKs' ``/v1/batch`` match at the first tries.

        A POST to one of these paths does not reach them when the app is an
        `IngestApp`: it answers POSTs itself (`posts`). They answer the rest
        (preflights, a wrong method) and serve apps built without it."""
        return [
            Route(path, self._endpoint(path, handler), methods=["POST", "OPTIONS"])
            for path, handler in self._handlers().items()
        ]

    def posts(self) -> dict[str, ASGIApp]:
        """A plain ASGI app per ingest path answering its POSTs, for `IngestApp`."""
        return {path: self._post(path, handler) for path, handler in self._handlers().items()}

    def _handlers(self) -> dict[str, Callable[[Request], Awaitable[Response]]]:
        handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {}
        for path in HOT_PATHS:
            handlers[path] = self._handler(path)
        for path in (*BATCH_PATHS, *SINGLE_PATHS, BEACON_PATH, WEBHOOK_PATH):
            handlers.setdefault(path, self._handler(path))
        return handlers

    def _handler(self, path: str) -> Callable[[Request], Awaitable[Response]]:
        if path in SINGLE_PATHS:
            return _bound_kind(self._ingest_single, SINGLE_PATHS[path])
        if path == BEACON_PATH:
            return self._ingest_beacon
        if path == WEBHOOK_PATH:
            return self._ingest_webhook
        return self._ingest_batch

    # -- endpoints ----------------------------------------------------------------------

    def _endpoint(
        self, path: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.method == "OPTIONS":
                return self._preflight(request)
            return await self._answer(path, request, handler)

        endpoint.__name__ = "ingest_" + path.strip("/").replace("/", "_")
        return endpoint

    def _post(self, path: str, handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
        """``path``'s POST as a plain ASGI app: the answer `_answer` gives, sent as the
        route would, and a bug answered 500 as the app's handler does."""

        async def post(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                response = await self._answer(path, Request(scope, receive), handler)
            except Exception:
                log.exception("ingest on %s failed; answering 500", path)
                response = internal_error_response()
            await response(scope, receive, send)

        return post

    def _preflight(self, request: Request) -> Response:
        headers = self.cors.preflight_headers(header_value(request, b"origin"))
        if headers is None:
            return Response(status_code=403, headers={"Vary": "Origin"})
        return Response(status_code=204, headers=headers)

    async def _answer(
        self, route: str, request: Request, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except IngestError as error:
            response = error.response()
        except ClientDisconnect:
            return Response(status_code=499)  # nobody to answer; not an error of ours
        origin = header_value(request, b"origin")
        if origin is not None and self.cors.allows(origin):
            if response is _SUCCESS_RESPONSE:
                response = Response(_SUCCESS, media_type="application/json")
            response.headers.update(self.cors.answer_headers(origin))
        self.metrics.observe_ingest_request(
            route, response.status_code, time.perf_counter() - started
        )
        return response

    async def _ingest_batch(self, request: Request) -> Response:
        return await self._ingest_events(request, batch_body, None)

    async def _ingest_beacon(self, request: Request) -> Response:
        """RudderStack's beacon: a batch (or array) as text/plain, the key in the URL."""
        return await self._ingest_events(
            request, events_body, request.query_params.get("writeKey") or None
        )

    async def _ingest_events(
        self, request: Request, reader: Callable[[bytes], Body], url_key: str | None
    ) -> Response:
        key = self._header_write_key(request) or url_key
        data = await read_body(request, self.config.max_body_bytes)
        received = self.clock()
        body = read_document(reader, data)
        write_key = self.write_keys.authorize(key or body.write_key)
        await self._sort_and_store(body, write_key, received, self._accounts_of(write_key))
        return _SUCCESS_RESPONSE

    async def _ingest_single(self, request: Request, kind: EventType) -> Response:
        key = self._header_write_key(request)
        data = await read_body(request, self.config.max_body_bytes)
        received = self.clock()
        try:
            sorted_ = self.sorter.sort_single(data, kind, key, received, self.write_keys.authorize)
        except BodyError as error:
            raise body_error(error) from error
        write_key = sorted_.jobs[0].write_key if sorted_.jobs else None
        await self._store(sorted_, received, self._accounts_of(write_key))
        if sorted_.refusals:
            refusal = sorted_.refusals[0]
            raise _SINGLE_ERRORS.get(refusal.reason_class, InvalidEventError)(refusal.reason)
        return _SUCCESS_RESPONSE

    async def _ingest_webhook(self, request: Request) -> Response:
        """Segment Webhooks: one event or an array, signed (X-Signature) or with a key.
        Authentication is settled before the body's content is judged: a client that
        is not authenticated learns nothing about its body but the 401."""
        secrets = self.config.webhook_secrets
        given = header_value(request, b"x-signature")
        if not secrets and not header_value(request, b"authorization"):
            raise NotFound(
                "webhooks are not enabled on this sailbridge: set "
                "SAILBRIDGE_WEBHOOK_SECRETS, or send a write key as Basic auth"
            )
        if given is None:
            key = self._header_write_key(request)
            if key is None:
                raise Unauthorized(
                    "a webhook needs an X-Signature header or a write key as Basic auth"
                )
            write_key = self.write_keys.authorize(key)
            accounts = self._accounts_of(write_key)
            data = await read_body(request, self.config.max_body_bytes)
            received = self.clock()
            body = read_document(events_body, data)
        else:
            self._check_capacity()
            data = await read_body(request, self.config.max_body_bytes)
            received = self.clock()
            body, write_key, accounts = self._signed(given, data)
        await self._sort_and_store(body, write_key, received, accounts)
        return _SUCCESS_RESPONSE

    def _signed(self, given: str, data: bytes) -> tuple[Body, str, tuple[str, ...]]:
        """The body a source's webhook secret signs, that source's write key and
        accounts; 401 when no source's secret signs it."""
        sources = self.config.webhook_sources or (
            WebhookSource(WEBHOOK_WRITE_KEY, self.config.webhook_secrets, (DEFAULT_ACCOUNT,)),
        )
        for source in sources[:-1]:
            try:
                return signed_body(given, source.secrets, data), source.write_key, source.accounts
            except Unauthorized:
                continue
        last = sources[-1]
        return signed_body(given, last.secrets, data), last.write_key, last.accounts

    def _accounts_of(self, write_key: str | None) -> tuple[str, ...]:
        """The accounts the source of ``write_key`` feeds."""
        if write_key is None:
            return _DEFAULT_ONLY
        return self.config.write_key_accounts.get(write_key, _DEFAULT_ONLY)

    # -- steps --------------------------------------------------------------------------

    def _header_write_key(self, request: Request) -> str | None:
        """The Basic-auth key, checked before the body is read (a wrong key costs no
        parsing); the capacity check is here too so an overloaded server sheds a request
        before reading it."""
        key = self.write_keys.from_header(header_value(request, b"authorization"))
        self._check_capacity()
        return key

    def _check_capacity(self) -> None:
        if self._waiting >= self.config.max_inflight:
            raise Overloaded(
                f"too many requests waiting on the store ({self._waiting}); retry shortly",
                retry_after=self.config.overload_retry_after,
            )

    async def _sort_and_store(
        self, body: Body, write_key: str, received: float, accounts: tuple[str, ...]
    ) -> None:
        """Sort the body's events (yielding to other requests between chunks), store."""
        if not body.events:
            return
        arrival = Arrival(
            write_key, self.sorter.received(received), None, body.shared, body.repaired
        )
        sorted_ = Sorted()
        count = len(body.events)
        for start in range(0, count, SORT_CHUNK):
            if start:
                await asyncio.sleep(0)
            self.sorter.sort(
                body,
                arrival,
                sorted_,
                start=start,
                stop=start + SORT_CHUNK if count > SORT_CHUNK else None,
            )
        await self._store(sorted_, received, accounts)

    async def _store(self, sorted_: Sorted, received: float, accounts: tuple[str, ...]) -> None:
        """Store durably (`Store.accept`), or raise 429/503; metrics count only what was
        committed. Duplicates are dropped by the store when it sorts the events into
        the queue; ``/metrics`` shows its count (`StatusCounts.deduplicated`). Each job
        is for the ``accounts`` its source feeds (one delivery per account)."""
        if accounts != _DEFAULT_ONLY:
            sorted_.jobs = [msgspec.structs.replace(job, accounts=accounts) for job in sorted_.jobs]
        self._check_capacity()
        self._waiting += 1
        self.metrics.ingest_inflight.inc()
        try:
            await self._coalescer.accept(sorted_.jobs, sorted_.rejections, received)
        except Exception as exc:
            log.exception("store.accept failed; answering 503")
            raise QueueUnavailable(
                f"the event store is unavailable ({type(exc).__name__}); retry later",
                retry_after=self.config.unavailable_retry_after,
            ) from exc
        finally:
            self._waiting -= 1
            self.metrics.ingest_inflight.dec()
        jobs = sorted_.jobs
        if len(jobs) == 1:
            self.metrics.record_received(jobs[0].event_type)
        elif jobs:
            for event_type, count in Counter(job.event_type for job in jobs).items():
                self.metrics.record_received(event_type, count)
        if sorted_.refusals:
            for reason_class, count in Counter(r.reason_class for r in sorted_.refusals).items():
                self.metrics.record_rejected(reason_class, count)
        if sorted_.jobs and self.on_enqueued is not None:
            try:
                self.on_enqueued()
            except Exception:
                log.exception("the on_enqueued hook failed")


def _bound_kind(
    handler: Callable[[Request, EventType], Awaitable[Response]], kind: EventType
) -> Callable[[Request], Awaitable[Response]]:
    async def bound(request: Request) -> Response:
        return await handler(request, kind)

    return bound


__all__ = [
    "BATCH_PATHS",
    "BEACON_PATH",
    "SINGLE_PATHS",
    "WEBHOOK_PATH",
    "Ingest",
    "IngestConfig",
]
