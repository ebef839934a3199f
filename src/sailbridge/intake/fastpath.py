"""The intake's fast path: an event that needs no fixing, decoded once and stored as is.

The general path (`sailbridge.events.event_from_dict`, `with_timestamp`,
`event_to_dict`, then encoding) costs ~17 µs an event in Python, which caps durable
ingest well below what the store can take. Almost every event Segment's SDKs send
is already in shape: a known type, string ids, a ``timestamp``. For those, one typed
msgspec decode into `WireEvent` validates everything, `sailbridge.events.shape_problem`
applies the rules of shape every reader applies, and encoding the same struct gives
*byte for byte* the JSON the general path would store (same fields, same order, same
omissions) — ~4 µs.

Anything unusual — numeric ids, a missing timestamp, a missing field the rules
require, a wrong type, a batch-level ``context`` to merge, anything repair would
touch, nesting that might be too deep — returns ``None`` and the caller takes the
general path (`sorting`), so results and error messages stay exactly the general
path's, and the Segment rules (`rules`) are applied the one way they are written
there. ``tests/intake/test_fastpath.py`` holds the two paths to that.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from sailbridge.events import EVENT_TYPES, shape_problem
from sailbridge.intake.arrival import Arrival
from sailbridge.intake.jobs import job_for
from sailbridge.intake.repair import MAX_DEPTH, NUL_ESCAPE
from sailbridge.store.base import NewJob


class WireEvent(msgspec.Struct, rename="camel", omit_defaults=True):
    """`sailbridge.events.Event`'s fields, in its order, typed for one strict decode.

    Field order and names must stay those of ``Event``: encoding this struct is what
    gets stored, and it must equal encoding the ``Event`` the general path builds.
    Types are what a well-formed event has; any other value fails the decode and
    sends the event down the general path. Unknown fields are dropped, as there.
    """

    type: str | None = None
    message_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    group_id: str | None = None
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    timestamp: str | None = None
    original_timestamp: str | None = None
    sent_at: str | UnsetType | None = UNSET  # UNSET: absent, so a batch's sentAt applies
    received_at: str | None = None

    @property
    def user_key(self) -> str | None:
        return self.user_id or self.anonymous_id


class WireSingle(WireEvent):
    """A single-event request body: the event plus, perhaps, the write key."""

    write_key: Any = UNSET


_decode_wire: Final = msgspec.json.Decoder(WireEvent).decode
_decode_single: Final = msgspec.json.Decoder(WireSingle).decode


def decode_wire(raw: bytes | msgspec.Raw, shallow: bool = False) -> WireEvent | None:
    """The event in ``raw`` if it decodes as `WireEvent` and needs no repair; ``None``
    sends it the long way.

    ``shallow``: the caller knows no event of its (unrepaired) body can nest too deep;
    otherwise an event with more brackets than `MAX_DEPTH` goes the long way, which
    checks depth. A ``\u0000`` always goes the long way (repair); callers that took
    the body from `documents` have that settled already (a NUL repairs the body)."""
    if not shallow:
        data = bytes(raw)
        if data.count(b"{") + data.count(b"[") > MAX_DEPTH or NUL_ESCAPE in data:
            return None
    try:
        return _decode_wire(raw)
    except msgspec.MsgspecError:
        return None


def decode_single(body: bytes) -> WireSingle | None:
    """A single-event body if it decodes as `WireSingle` and needs no repair; ``None``
    sends it the long way."""
    if NUL_ESCAPE in body or body.count(b"{") + body.count(b"[") > MAX_DEPTH:
        return None
    try:
        return _decode_single(body)
    except msgspec.MsgspecError:
        return None


def to_job(wire: WireEvent, arrival: Arrival) -> NewJob | None:
    """The job the general path would make of this event, or ``None`` if the event is
    not plainly valid and in shape (the general path then decides, and says why).

    ``arrival.shared`` must have no objects to merge (`Shared.merges_objects`); its
    ``sentAt`` applies. Mutates ``wire``. Written for speed: it runs once per event.
    """
    kind = arrival.kind
    event_type = wire.type
    if event_type is None:
        if kind is None:
            return None
        event_type = kind
    else:
        event_type = event_type.lower()
        if event_type not in EVENT_TYPES or (kind is not None and event_type != kind):
            return None
    wire.type = event_type
    if shape_problem(wire, event_type) is not None or not wire.timestamp:
        return None  # the reason, and the device-clock correction, are the long way's
    if wire.sent_at is UNSET:
        shared_sent_at = arrival.shared.sent_at
        if shared_sent_at is not None:
            wire.sent_at = shared_sent_at
    elif wire.sent_at is None:
        wire.sent_at = UNSET
    # empty objects are Event's defaults, left out of the stored JSON
    if not wire.properties:
        wire.properties = None
    if not wire.traits:
        wire.traits = None
    if not wire.context:
        wire.context = None
    if not wire.integrations:
        wire.integrations = None
    received = arrival.received
    wire.received_at = received.text
    return job_for(wire, arrival.write_key, received.epoch)


def to_single_job(wire: WireSingle, arrival: Arrival) -> NewJob | None:
    """`to_job` for a single-event request body (its ``writeKey`` is not stored)."""
    wire.write_key = UNSET
    return to_job(wire, arrival)
