"""The Segment HTTP tracking API: ``POST /v1/batch``, ``/v1/import`` and one route per
event type, answering 200 only once the events are durably in the store (SPEC §6).

What each answer means to Segment's SDKs decides the rules here. The SDKs retry 408,
429 and 5xx and drop the batch on any other error, so:

- a request that can never succeed (malformed JSON, unknown write key, too large)
  is a 4xx with a JSON ``{"code", "message"}`` body;
- a request we cannot take *now* (too many already waiting on the store, or the store
  failing) is 429 or 503 with ``Retry-After``, and nothing is stored;
- one bad event in a batch must not cost the good ones: it is stored as a
  `Rejection` with its reason and the batch still gets 200.

A single-event endpoint (``/v1/track`` ...) has nothing else to save, so an invalid
event there is answered 400 (413 when too large) with the reason — after recording
the rejection durably, so it shows beside the batch rejections. If the store cannot
take that record, the answer is 429/503 instead and the client retries; an invalid
event is never silently dropped.

"Durably stored" is `Store.accept`: the events are committed to the store's inbox,
and the store sorts them into the queue (dedupe included) just after, off the
request's path. Events already in shape skip the general decode → validate → fix →
re-encode path (`sailbridge.server.fastpath`); the general path handles the rest.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sailbridge.events import (
    Event,
    InvalidEvent,
    event_from_dict,
    event_to_dict,
    format_time,
    with_timestamp,
)
from sailbridge.inputs import merge_batch_fields
from sailbridge.mapping import ordering_keys
from sailbridge.server import fastpath
from sailbridge.server.bodies import header_value, read_body, write_key_from_authorization
from sailbridge.server.coalesce import AcceptCoalescer
from sailbridge.server.errors import (
    IngestError,
    InvalidBody,
    InvalidEventError,
    InvalidJson,
    Overloaded,
    PayloadTooLarge,
    StoreUnavailable,
    TypeMismatch,
    Unauthorized,
)
from sailbridge.server.metrics import Metrics
from sailbridge.settings import Settings
from sailbridge.store.base import NewJob, Rejection, Store

log = logging.getLogger(__name__)

Clock = Callable[[], float]

BATCH_PATHS: Final = ("/v1/batch", "/v1/import")
SINGLE_PATHS: Final = {
    "/v1/identify": "identify",
    "/v1/track": "track",
    "/v1/page": "page",
    "/v1/screen": "screen",
    "/v1/alias": "alias",
    "/v1/group": "group",
}

KNOWN_HEADERS_KEPT: Final = 256
"""Authorization headers remembered with their (configured) write key."""

REJECTED_RAW_KEEP: Final = 1024
"""Bytes of an oversize event's JSON kept in its rejection record (the rest is dropped)."""

# Reason classes, the ``reason`` label of ``sailbridge_events_rejected_total``.
TOO_LARGE: Final = "too_large"
INVALID_EVENT: Final = "invalid_event"
INVALID_TIMESTAMP: Final = "invalid_timestamp"
TYPE_MISMATCH: Final = "type_mismatch"


@dataclass(frozen=True)
class IngestConfig:
    """How ingest accepts events.

    ``write_keys`` empty refuses every request (401 saying none is configured): an
    open endpoint would let anyone on the network send mail-affecting events.
    ``max_inflight`` is how many requests may wait on the store at once; one more
    is answered 429 at once rather than queued behind them (0 refuses everything,
    useful to drain). The limits match Segment's: 500 KB a request (before and after
    gzip), 32 KB an event. ``max_store_calls`` is how many ``accept`` calls run at
    once; requests arriving meanwhile are joined into the next (see `coalesce`).
    """

    write_keys: frozenset[str]
    dedupe_window: float = 86400.0
    max_body_bytes: int = 500 * 1024
    max_event_bytes: int = 32 * 1024
    max_inflight: int = 256
    overload_retry_after: int = 1
    unavailable_retry_after: int = 5
    max_store_calls: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        """The ingest part of the service settings (``SAILBRIDGE_WRITE_KEYS`` ...)."""
        return cls(write_keys=settings.write_key_set, dedupe_window=settings.dedupe_window,
                   max_inflight=settings.max_inflight_ingest)


_SUCCESS: Final = b'{"success":true}'
_decode_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_raw_list = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_any = msgspec.json.Decoder().decode


_SUCCESS_RESPONSE: Final = Response(_SUCCESS, media_type="application/json")


def _success() -> Response:
    """The one success answer (a Response only sends what it holds, so it is shared)."""
    return _SUCCESS_RESPONSE


class _Rejected(Exception):
    """One event refused; carries the reason class (a metric label) and the reason."""

    def __init__(self, reason_class: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_class = reason_class
        self.reason = reason


@dataclass
class _Sorted:
    """A request's events sorted into jobs and rejections."""

    jobs: list[NewJob]
    rejections: list[Rejection]
    causes: list[_Rejected]


class Ingest:
    """The request handlers, bound to one store, config, metrics and clock."""

    def __init__(self, store: Store, config: IngestConfig, metrics: Metrics,
                 clock: Clock = time.time, on_enqueued: Callable[[], None] | None = None
                 ) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_enqueued = on_enqueued
        self._waiting = 0
        self._known_headers: dict[str, str] = {}
        self._time_text = _TimeText()
        self._coalescer = AcceptCoalescer(store, config.dedupe_window,
                                          config.max_store_calls)

    def routes(self) -> list[Route]:
        routes = [Route(path, self._batch_endpoint(path), methods=["POST"])
                  for path in BATCH_PATHS]
        routes += [Route(path, self._single_endpoint(path, kind), methods=["POST"])
                   for path, kind in SINGLE_PATHS.items()]
        return routes

    # -- endpoints ----------------------------------------------------------------------

    def _batch_endpoint(self, path: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._answer(path, self._ingest_batch(request))
        endpoint.__name__ = "ingest_" + path.rsplit("/", 1)[-1]
        return endpoint

    def _single_endpoint(self, path: str, kind: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._answer(path, self._ingest_single(request, kind))
        endpoint.__name__ = "ingest_" + kind
        return endpoint

    async def _answer(self, route: str, work: Any) -> Response:
        started = time.perf_counter()
        try:
            response: Response = await work
        except IngestError as error:
            response = error.response()
        self.metrics.observe_ingest_request(route, response.status_code,
                                            time.perf_counter() - started)
        return response

    async def _ingest_batch(self, request: Request) -> Response:
        key = self._header_write_key(request)
        body = await read_body(request, self.config.max_body_bytes)
        received = self.clock()
        try:
            top = _decode_raw_object(body)
        except msgspec.ValidationError as exc:
            raise InvalidBody("the body must be a JSON object with a \"batch\" array") from exc
        except msgspec.DecodeError as exc:
            raise InvalidJson(f"malformed JSON: {exc}") from exc
        if key is None and "writeKey" in top:
            key = _text(_decode_any(top["writeKey"]))
        write_key = self._authorize(key)
        raw_batch = top.get("batch")
        if raw_batch is None:
            raise InvalidBody("the body has no \"batch\" array")
        try:
            items = _decode_raw_list(raw_batch)
        except msgspec.ValidationError as exc:
            raise InvalidBody("\"batch\" must be an array of events") from exc
        shared: dict[str, Any] = {
            name: _decode_any(top[name]) for name in ("context", "integrations", "sentAt")
            if name in top}
        if not items:
            return _success()
        stamp = _Received(received, self._time_text)
        sorted_ = _Sorted([], [], [])
        quick = fastpath.shared_fits(shared)
        sent_at = shared.get("sentAt", fastpath.NO_SENT_AT)
        max_event_bytes = self.config.max_event_bytes
        decode, to_job, jobs = fastpath.decode_event, fastpath.to_job, sorted_.jobs
        for raw in items:
            if quick and len(raw) <= max_event_bytes:
                wire = decode(raw)
                job = None if wire is None else to_job(
                    wire, write_key, None, sent_at, stamp.text, received)
                if job is not None:
                    jobs.append(job)
                    continue
            self._sort_one(sorted_, write_key, raw, shared, None, received, stamp)
        await self._store(sorted_, received)
        return _success()

    async def _ingest_single(self, request: Request, kind: str) -> Response:
        key = self._header_write_key(request)
        body = await read_body(request, self.config.max_body_bytes)
        received = self.clock()
        wire = fastpath.decode_single(body)
        if wire is not None:
            write_key = self._authorize(key or _text(wire.write_key))
            if len(body) <= self.config.max_event_bytes:
                stamp = _Received(received, self._time_text)
                job = fastpath.to_single_job(wire, write_key, kind, stamp.text, received)
                if job is not None:
                    await self._store(_Sorted([job], [], []), received)
                    return _success()
        try:
            document = _decode_any(body)
        except msgspec.DecodeError as exc:
            raise InvalidJson(f"malformed JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise InvalidBody("the body must be a JSON object (one event)")
        write_key = self._authorize(key or _text(document.get("writeKey")))
        stamp = _Received(received, self._time_text)
        sorted_ = _Sorted([], [], [])
        self._sort_one(sorted_, write_key, msgspec.Raw(body), {}, kind, received, stamp,
                       document=document)
        await self._store(sorted_, received)
        if sorted_.causes:
            cause = sorted_.causes[0]
            error_class = {TOO_LARGE: PayloadTooLarge, TYPE_MISMATCH: TypeMismatch}.get(
                cause.reason_class, InvalidEventError)
            raise error_class(cause.reason)
        return _success()

    # -- steps --------------------------------------------------------------------------

    def _header_write_key(self, request: Request) -> str | None:
        """The Basic-auth key, checked before the body is read (a wrong key costs no
        parsing); the capacity check is here too so an overloaded server sheds a request
        before reading it. Headers carrying a configured key are remembered (an SDK
        sends the same one every time), so the base64 is decoded once."""
        header = header_value(request, b"authorization")
        key = self._known_headers.get(header) if header else None
        if key is None:
            key = write_key_from_authorization(header)
            if key is not None:
                self._authorize(key)
                if len(self._known_headers) >= KNOWN_HEADERS_KEPT:
                    self._known_headers.clear()
                self._known_headers[header] = key  # type: ignore[index] # header is set
        self._check_capacity()
        return key

    def _authorize(self, write_key: str | None) -> str:
        if not self.config.write_keys:
            raise Unauthorized("no write keys are configured on this sailbridge "
                               "(SAILBRIDGE_WRITE_KEYS); every request is refused until one is")
        if write_key is None:
            raise Unauthorized("missing write key: send it as Basic auth (writeKey as the "
                               "user name) or as \"writeKey\" in the body")
        if write_key not in self.config.write_keys:
            raise Unauthorized("unknown write key")
        return write_key

    def _check_capacity(self) -> None:
        if self._waiting >= self.config.max_inflight:
            raise Overloaded(
                f"too many requests waiting on the store ({self._waiting}); retry shortly",
                retry_after=self.config.overload_retry_after)

    def _sort_one(self, into: _Sorted, write_key: str, raw: msgspec.Raw,
                  shared: dict[str, Any], kind: str | None, received: float,
                  stamp: _Received, document: Any = None) -> None:
        """Turn one event into a `NewJob`, or a `Rejection` saying why not: the general
        path, for what `fastpath` does not take (and the reference it is tested against)."""
        try:
            size = len(raw)
            if size > self.config.max_event_bytes:
                raise _Rejected(TOO_LARGE, f"event is {size} bytes of JSON; the limit is "
                                           f"{self.config.max_event_bytes} bytes")
            if document is None:
                document = _decode_any(raw)
            if kind is not None:
                document = _with_type(document, kind)
            merged = merge_batch_fields(document, shared)
            try:
                event = event_from_dict(merged)
            except (InvalidEvent, msgspec.MsgspecError) as exc:
                raise _Rejected(INVALID_EVENT, str(exc)) from exc
            try:
                fixed = _stamped(event, stamp)
            except (InvalidEvent, ValueError, OverflowError) as exc:
                raise _Rejected(INVALID_TIMESTAMP, f"bad timestamp: {exc}") from exc
        except _Rejected as rejected:
            into.rejections.append(self._rejection(write_key, raw, document, rejected, received))
            into.causes.append(rejected)
            return
        into.jobs.append(NewJob(
            write_key=write_key,
            message_id=fixed.message_id,
            event=event_to_dict(fixed),
            event_type=fixed.type,
            user_key=fixed.user_key or "",
            ordering_keys=ordering_keys(fixed),
            received_at=received,
        ))

    def _rejection(self, write_key: str, raw: msgspec.Raw, document: Any,
                   rejected: _Rejected, received: float) -> Rejection:
        data = bytes(raw)
        reason = rejected.reason
        if rejected.reason_class == TOO_LARGE:
            data = data[:REJECTED_RAW_KEEP]
            reason += f" (only its first {REJECTED_RAW_KEEP} bytes are kept here)"
        message_id = document.get("messageId") if isinstance(document, dict) else None
        return Rejection(
            write_key=write_key,
            message_id=message_id if isinstance(message_id, str) else None,
            raw=data.decode("utf-8", "replace"),
            reason=reason,
            received_at=received,
        )

    async def _store(self, sorted_: _Sorted, received: float) -> None:
        """Store durably (`Store.accept`), or raise 429/503; metrics count only what was
        committed. Duplicates are dropped by the store when it sorts the events into
        the queue; ``/metrics`` shows its count (`StatusCounts.deduplicated`)."""
        self._check_capacity()
        self._waiting += 1
        self.metrics.ingest_inflight.inc()
        try:
            await self._coalescer.accept(sorted_.jobs, sorted_.rejections, received)
        except Exception as exc:  # noqa: BLE001 - any store failure is "try again later"
            log.exception("store.accept failed; answering 503")
            raise StoreUnavailable(
                f"the event store is unavailable ({type(exc).__name__}); retry later",
                retry_after=self.config.unavailable_retry_after) from exc
        finally:
            self._waiting -= 1
            self.metrics.ingest_inflight.dec()
        jobs = sorted_.jobs
        if len(jobs) == 1:
            self.metrics.record_received(jobs[0].event_type)
        elif jobs:
            for event_type, count in Counter(job.event_type for job in jobs).items():
                self.metrics.record_received(event_type, count)
        if sorted_.causes:
            for reason_class, count in Counter(c.reason_class for c in sorted_.causes).items():
                self.metrics.record_rejected(reason_class, count)
        if sorted_.jobs and self.on_enqueued is not None:
            try:
                self.on_enqueued()
            except Exception:  # noqa: BLE001 - the events are stored; only the nudge failed
                log.exception("the on_enqueued hook failed")


def _stamped(event: Event, received: _Received) -> Event:
    """`with_timestamp`, with the common case (the SDKs always send ``timestamp``) done
    without formatting the receive time again for every event of the batch."""
    if event.timestamp:
        return msgspec.structs.replace(event, received_at=received.text)
    return with_timestamp(event, received.moment)


class _Received:
    """The receive time of one request, as a datetime and as Segment's ISO text."""

    __slots__ = ("moment", "text")

    def __init__(self, epoch: float, text: _TimeText | None = None) -> None:
        self.moment = datetime.fromtimestamp(epoch, timezone.utc)
        self.text = format_time(self.moment) if text is None else text(self.moment)


class _TimeText:
    """`format_time` for a stream of receive times: ``strftime`` is the slow part and
    its output changes once a second, so the second's prefix is formatted once."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second: datetime | None = None
        self._prefix = ""

    def __call__(self, moment: datetime) -> str:
        second = moment.replace(microsecond=0)
        if second != self._second:
            self._second = second
            self._prefix = format_time(second)[:-4]  # "...:SS." without "000Z"
        return f"{self._prefix}{moment.microsecond // 1000:03d}Z"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _with_type(document: Any, kind: str) -> Any:
    """A single-event body's type comes from the path when missing; a different one is
    refused (``/v1/track`` with ``"type": "identify"`` is a client bug, not a guess)."""
    if not isinstance(document, dict):
        return document
    given = document.get("type")
    if given is None:
        return {**document, "type": kind}
    if not isinstance(given, str) or given.lower() != kind:
        raise _Rejected(TYPE_MISMATCH,
                        f"type {given!r} does not match the endpoint /v1/{kind}")
    return document


def ingest_routes(store: Store, config: IngestConfig, metrics: Metrics,
                  clock: Clock = time.time, on_enqueued: Callable[[], None] | None = None
                  ) -> list[Route]:
    """The ``POST /v1/*`` routes of the Segment tracking API, storing into ``store``.

    ``on_enqueued`` is called (on the event loop) after each commit that stored at
    least one job, e.g. to wake an idle delivery worker instead of waiting for its poll.
    """
    return Ingest(store, config, metrics, clock, on_enqueued).routes()


__all__ = ["BATCH_PATHS", "SINGLE_PATHS", "Ingest", "IngestConfig", "ingest_routes"]
