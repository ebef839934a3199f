"""Splitting a request body (or a file) into its events and its batch-level fields.

A body is decoded only far enough to find its events: each stays raw JSON
(`msgspec.Raw`) so the fast path can decode it straight into its typed struct. When
that shallow decode fails — invalid UTF-8 or a lone surrogate, a number out of range,
nesting deep enough to exhaust the decoder — or the body holds a ``\\u0000``, the body
is repaired (`repair.repair_json`) and decoded again, so one bad event costs only
itself. What still fails is not JSON at all, or not the shape the endpoint takes:
`BodyError`, which refuses the request as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import msgspec

from sailbridge.intake.repair import MAX_DEPTH, NUL_ESCAPE, repair_json
from sailbridge.intake.rules import NO_SHARED, SHARED_FIELDS, Shared, shared_fields

MAX_EVENTS: Final = 2500
"""Events one request may carry (Segment's batch limit); more is refused whole, which
also bounds the rejection rows one request can write."""

T = TypeVar("T")

_decode_raw_object: Final = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_raw_list: Final = msgspec.json.Decoder(list[msgspec.Raw]).decode
decode_any: Final = msgspec.json.Decoder().decode


class BodyError(ValueError):
    """The body as a whole cannot be read: ``malformed`` JSON, the wrong ``shape``, or
    ``too_many`` events."""

    def __init__(self, kind: Literal["malformed", "shape", "too_many"], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Body:
    """A body's events (raw JSON each), shared batch fields, and its ``writeKey``.

    ``repaired`` says the body was rewritten by `repair_json` (its events must not be
    repaired again: that would erase its markers). ``plain`` says the fast path may
    take its events: not repaired (repair leaves markers only the general path looks
    for) and no shared objects to merge.
    ``shallow`` says no event can nest deeper than `MAX_DEPTH` (the whole body has
    fewer brackets than that), so the fast path need not count per event.
    """

    events: list[msgspec.Raw]
    shared: Shared
    write_key: str | None
    repaired: bool
    shallow: bool

    @property
    def plain(self) -> bool:
        return not self.repaired and not self.shared.merges_objects


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decoded(data: bytes, read: Callable[[bytes], T]) -> tuple[T, bytes, bool]:
    """``read(data)``, repairing ``data`` first if it holds a NUL escape, or after the
    first failure. Returns the result, the bytes it was read from, and whether they
    were repaired. A second failure is a `BodyError`."""
    repaired = NUL_ESCAPE in data
    if repaired:
        data = repair_json(data)
    try:
        return read(data), data, repaired
    except (msgspec.MsgspecError, RecursionError):
        if repaired:
            return _read_repaired(data, read), data, True
    data = repair_json(data)
    return _read_repaired(data, read), data, True


def _read_repaired(data: bytes, read: Callable[[bytes], T]) -> T:
    try:
        return read(data)
    except msgspec.DecodeError as exc:
        raise BodyError("malformed", f"malformed JSON: {exc}") from exc
    except (msgspec.ValidationError, RecursionError) as exc:
        raise BodyError("shape", str(exc)) from exc


def _bounded(events: list[msgspec.Raw], limit: int | None = MAX_EVENTS) -> list[msgspec.Raw]:
    if limit is not None and len(events) > limit:
        raise BodyError(
            "too_many",
            f"the request holds {len(events)} events; the limit "
            f"is {MAX_EVENTS} a request (send several batches)",
        )
    return events


def _shallow(data: bytes) -> bool:
    return data.count(b"{") + data.count(b"[") <= MAX_DEPTH


def batch_body(data: bytes, limit: int | None = MAX_EVENTS) -> Body:
    """A Segment batch: ``{"batch": [...], "context"?, "integrations"?, "sentAt"?,
    "writeKey"?}``."""

    def read(data: bytes) -> tuple[list[msgspec.Raw], Shared, str | None]:
        try:
            top = _decode_raw_object(data)
        except msgspec.ValidationError as exc:
            raise _Shape('the body must be a JSON object with a "batch" array') from exc
        return _batch_parts(top)

    (events, shared, write_key), data, repaired = _checked(data, read)
    return Body(_bounded(events, limit), shared, write_key, repaired, _shallow(data))


def _batch_parts(top: dict[str, msgspec.Raw]) -> tuple[list[msgspec.Raw], Shared, str | None]:
    raw_batch = top.get("batch")
    if raw_batch is None:
        raise _Shape('the body has no "batch" array')
    try:
        events = _decode_raw_list(raw_batch)
    except msgspec.ValidationError as exc:
        raise _Shape('"batch" must be an array of events') from exc
    shared = (
        shared_fields({name: decode_any(top[name]) for name in SHARED_FIELDS if name in top})
        if len(top) > 1
        else NO_SHARED
    )
    write_key = _text(decode_any(top["writeKey"])) if "writeKey" in top else None
    return events, shared, write_key


class _Shape(Exception):
    """Raised inside a reader: well-formed JSON of the wrong shape (not retried)."""


def _checked(data: bytes, read: Callable[[bytes], T]) -> tuple[T, bytes, bool]:
    """`_decoded`, with a reader's own shape complaints made `BodyError` as they are."""
    try:
        return _decoded(data, read)
    except _Shape as exc:
        raise BodyError("shape", str(exc)) from exc


def event_body(data: bytes) -> Body:
    """One event object, perhaps with a ``writeKey`` (the single-event endpoints)."""

    def read(data: bytes) -> str | None:
        try:
            fields = _decode_raw_object(data)
        except msgspec.ValidationError as exc:
            raise _Shape("the body must be a JSON object (one event)") from exc
        return _text(decode_any(fields["writeKey"])) if "writeKey" in fields else None

    write_key, data, repaired = _checked(data, read)
    return Body([msgspec.Raw(data)], NO_SHARED, write_key, repaired, _shallow(data))


def events_body(data: bytes, max_events: int | None = MAX_EVENTS) -> Body:
    """Whatever a sender of events may post: a JSON array of events, a Segment batch
    object, or one event object (Segment Webhooks, the RudderStack beacon, files).
    ``max_events`` ``None``: no limit (files)."""

    def read(data: bytes) -> Body:
        try:
            top: Any = _decode_raw_object(data)
        except msgspec.ValidationError:
            try:
                return Body(_decode_raw_list(data), NO_SHARED, None, False, True)
            except msgspec.ValidationError as exc:
                raise _Shape(
                    "the body must be an event object, a JSON array of events "
                    'or a {"batch": [...]} object'
                ) from exc
        if "batch" in top:
            events, shared, write_key = _batch_parts(top)
            return Body(events, shared, write_key, False, True)
        write_key = _text(decode_any(top["writeKey"])) if "writeKey" in top else None
        return Body([msgspec.Raw(data)], NO_SHARED, write_key, False, True)

    body, data, repaired = _checked(data, read)
    return Body(
        _bounded(body.events, max_events), body.shared, body.write_key, repaired, _shallow(data)
    )
