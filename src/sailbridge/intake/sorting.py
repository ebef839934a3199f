"""To job or rejection: what becomes of one event, whatever its source.

`Sorter.sort` takes a body's events (see `documents`) and files each as a `NewJob`
or as a `Rejection` with its reason; `Sorter.sort_single` does it for a whole
single-event request (its body and write key). What a request's events share travels
with them as one `Arrival`. An event already in shape takes the fast path
(`fastpath`: one typed decode, the stored JSON re-encoded from it); anything else
takes the general path — decode, repair checks (`repair.value_problem`), the Segment
rules (`rules`), validation (`sailbridge.events`, whose `shape_problem` the fast
paths apply too), the timestamp fix — which is also
what ``sailbridge send`` and ``explain`` use for files (`event_or_refusal`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import msgspec

from sailbridge.events import Event, InvalidEvent, event_from_dict, with_timestamp
from sailbridge.intake import fastpath
from sailbridge.intake.arrival import Arrival, Received, TimeText
from sailbridge.intake.documents import Body, decode_any, event_body
from sailbridge.intake.jobs import job_for
from sailbridge.intake.repair import NUL_ESCAPE, repair_json, value_problem
from sailbridge.intake.rules import (
    NO_SHARED,
    Shared,
    TypeMismatch,
    deletion_as_track,
    with_shared,
    with_type,
)
from sailbridge.store.base import NewJob, Rejection


class RefusalClass(StrEnum):
    """Why an event was refused, in one word: the ``reason`` label of
    ``sailbridge_events_rejected_total``, and what a single-event route answers."""

    TOO_LARGE = "too_large"
    INVALID_EVENT = "invalid_event"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TYPE_MISMATCH = "type_mismatch"


MAX_EVENT_BYTES: Final = 32 * 1024
"""Segment's limit on one event's JSON."""

REJECTED_RAW_KEEP: Final = 1024
"""Bytes of an oversize event's JSON kept in its rejection record (the rest is dropped)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one event is not queued: a reason class (a metric label) and the reason."""

    reason_class: RefusalClass
    reason: str


def stamped(event: Event, received: Received) -> Event:
    """`with_timestamp`, with the common case (the SDKs always send ``timestamp``) done
    without formatting the receive time again for every event of the batch."""
    if event.timestamp:
        return msgspec.structs.replace(event, received_at=received.text)
    return with_timestamp(event, received.moment)


def event_or_refusal(
    document: Any, shared: Shared, kind: str | None, received: Received
) -> Event | Refusal:
    """The general path for one decoded event: the `Event` to queue (rules applied,
    timestamp fixed), or the `Refusal` saying why not."""
    if isinstance(document, dict):
        try:
            document = deletion_as_track(with_type(document, kind))
        except TypeMismatch as exc:
            return Refusal(RefusalClass.TYPE_MISMATCH, str(exc))
        document = with_shared(document, shared)
        problem = value_problem(document)
        if problem is not None:
            return Refusal(RefusalClass.INVALID_EVENT, problem)
    try:
        event = event_from_dict(document)
    except (InvalidEvent, msgspec.MsgspecError) as exc:
        return Refusal(RefusalClass.INVALID_EVENT, str(exc))
    try:
        return stamped(event, received)
    except (InvalidEvent, ValueError, OverflowError) as exc:
        return Refusal(RefusalClass.INVALID_TIMESTAMP, f"bad timestamp: {exc}")


def decode_event(raw: bytes, repaired: bool = False) -> tuple[Any, Refusal | None]:
    """One event's JSON decoded, repaired if it must be (see `repair`); ``repaired``:
    it already was (repairing again would erase the markers repair left)."""
    if repaired or NUL_ESCAPE not in raw:
        try:
            return decode_any(raw), None
        except (msgspec.MsgspecError, RecursionError) as exc:
            if repaired:
                return None, Refusal(RefusalClass.INVALID_EVENT, f"malformed JSON: {exc}")
    try:
        return decode_any(repair_json(raw)), None
    except (msgspec.MsgspecError, RecursionError) as exc:
        return None, Refusal(RefusalClass.INVALID_EVENT, f"malformed JSON: {exc}")


@dataclass
class Sorted:
    """A request's events sorted into jobs and rejections (with each refusal)."""

    jobs: list[NewJob] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


class Sorter:
    """Sorts bodies' events into `Sorted`; one per server (it caches the time text)."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._time_text = TimeText()

    def received(self, epoch: float) -> Received:
        return Received(epoch, self._time_text)

    def sort(
        self, body: Body, arrival: Arrival, into: Sorted, start: int = 0, stop: int | None = None
    ) -> None:
        """File ``body.events[start:stop]`` into ``into``."""
        quick = body.plain
        shallow = body.shallow
        limit = self.max_event_bytes
        decode, to_job, jobs = fastpath.decode_wire, fastpath.to_job, into.jobs
        for raw in body.events[start:stop]:
            if quick and len(raw) <= limit:
                wire = decode(raw, shallow)
                job = None if wire is None else to_job(wire, arrival)
                if job is not None:
                    jobs.append(job)
                    continue
            self.sort_slow(raw, arrival, into)

    def sort_single(
        self,
        data: bytes,
        kind: str,
        header_key: str | None,
        epoch: float,
        authorize: Callable[[str | None], str],
    ) -> Sorted:
        """A single-event request's body (``/v1/track``…) filed as its job or refusal.

        ``authorize`` turns the key the request carries (``header_key``, else the
        body's ``writeKey``) into the write key, or raises (the server's 401); a body
        that cannot be read raises `BodyError`."""
        wire = fastpath.decode_single(data)
        if wire is not None:
            write_key = authorize(header_key or _text(wire.write_key))
            if len(data) <= self.max_event_bytes:
                job = fastpath.to_single_job(wire, Arrival(write_key, self.received(epoch), kind))
                if job is not None:
                    return Sorted([job])
        body = event_body(data)
        write_key = authorize(header_key or body.write_key)
        into = Sorted()
        self.sort_slow(
            body.events[0],
            Arrival(write_key, self.received(epoch), kind, body.shared, body.repaired),
            into,
        )
        return into

    def sort_slow(self, raw: msgspec.Raw | bytes, arrival: Arrival, into: Sorted) -> None:
        """The general path for one raw event."""
        data = bytes(raw)
        document: Any = None
        received = arrival.received
        if len(data) > self.max_event_bytes:
            outcome: Event | Refusal = Refusal(
                RefusalClass.TOO_LARGE,
                f"event is {len(data)} bytes of JSON; the limit is {self.max_event_bytes} bytes",
            )
        else:
            document, refusal = decode_event(data, arrival.repaired)
            outcome = refusal or event_or_refusal(document, arrival.shared, arrival.kind, received)
        if isinstance(outcome, Refusal):
            into.rejections.append(
                rejection_for(arrival.write_key, data, document, outcome, received.epoch)
            )
            into.refusals.append(outcome)
        else:
            into.jobs.append(job_for(outcome, arrival.write_key, received.epoch))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def rejection_for(
    write_key: str, data: bytes, document: Any, refusal: Refusal, received_at: float
) -> Rejection:
    """The durable record of a refused event (its JSON cut short when oversize)."""
    reason = refusal.reason
    if refusal.reason_class == RefusalClass.TOO_LARGE:
        data = data[:REJECTED_RAW_KEEP]
        reason += f" (only its first {REJECTED_RAW_KEEP} bytes are kept here)"
    message_id = document.get("messageId") if isinstance(document, dict) else None
    return Rejection(
        write_key=write_key,
        message_id=message_id if isinstance(message_id, str) else None,
        raw=data.decode("utf-8", "replace").replace("\x00", "\ufffd"),
        reason=reason,
        received_at=received_at,
    )


__all__ = [
    "NO_SHARED",
    "Arrival",
    "Received",
    "Refusal",
    "RefusalClass",
    "Sorted",
    "Sorter",
    "TimeText",
    "decode_event",
    "event_or_refusal",
    "job_for",
    "rejection_for",
    "stamped",
]
