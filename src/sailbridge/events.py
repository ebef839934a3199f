"""The Segment event model: decoding, validation and the timestamp fix-up.

Events arrive from many producers (Segment's SDKs, RudderStack, webhooks, files), so the
model is deliberately lenient about *shape* (unknown fields are kept out of the way,
numeric ids are turned into strings the way Segment's own SDKs do) and strict only about
what the Sailthru mapping cannot do without: a known type, a user key, an event name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

import msgspec


class EventType(StrEnum):
    """The Segment spec's event types, lower case as stored (and as every source's
    ``type`` is read: case-insensitively)."""

    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    ALIAS = "alias"
    GROUP = "group"


EVENT_TYPES: Final[frozenset[str]] = frozenset(EventType)


class InvalidEvent(ValueError):
    """An event that can never be delivered, with a reason a person can act on."""


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """One Segment-spec event, as the tracking API and the SDKs shape it.

    Field names follow the Segment spec (camelCase on the wire). Free-form objects
    (traits, properties, context, integrations) stay plain dicts: their content is the
    user's, and the mapping reads only the parts it knows.
    """

    type: EventType
    message_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    group_id: str | None = None
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    integrations: dict[str, Any] = msgspec.field(default_factory=dict)
    timestamp: str | None = None
    original_timestamp: str | None = None
    sent_at: str | None = None
    received_at: str | None = None

    @property
    def user_key(self) -> str | None:
        """Sailthru's extid for this event: the userId, else the anonymousId."""
        return self.user_id or self.anonymous_id


_ID_FIELDS: Final = ("userId", "anonymousId", "previousId", "groupId", "messageId")
_OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")
_TEXT_FIELDS: Final = ("event", "name")
_TIME_FIELDS: Final = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def _as_id(value: Any, field: str) -> str | None:
    """Segment SDKs stringify numeric ids; an empty id is the same as none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__}")
    text = value if isinstance(value, str) else _number_text(value)
    return text if text.strip() else None


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def event_from_dict(raw: Any) -> Event:
    """Build an `Event` from a decoded JSON object, or raise `InvalidEvent` saying why.

    Also applies the structural rules of SPEC §3: a known type, a user key, and the
    fields each type cannot go without.
    """
    if not isinstance(raw, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind.lower() not in EVENT_TYPES:
        raise InvalidEvent(
            f"unknown event type {kind!r}; expected one of {', '.join(sorted(EVENT_TYPES))}"
        )
    fields: dict[str, Any] = {"type": kind.lower()}
    for name in _ID_FIELDS:
        fields[name] = _as_id(raw.get(name), name)
    for name in _OBJECT_FIELDS:
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InvalidEvent(f"{name} must be an object, got {type(value).__name__}")
        fields[name] = value
    for name in _TEXT_FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidEvent(f"{name} must be a string, got {type(value).__name__}")
        fields[name] = value
    for name in _TIME_FIELDS:
        value = raw.get(name)
        if name == "sentAt" and not isinstance(value, str):
            value = None  # unreadable: the receive time stands in (`with_timestamp`)
        elif value is not None and not isinstance(value, str):
            raise InvalidEvent(f"{name} must be an ISO-8601 string, got {type(value).__name__}")
        fields[name] = value
    event = msgspec.convert(
        {k: v for k, v in fields.items() if v is not None}, Event, from_attributes=False
    )
    problem = shape_problem(event, event.type)
    if problem is not None:
        raise InvalidEvent(problem)
    return event


class Shaped(Protocol):
    """The fields an event's shape is judged by: `Event`'s, and those of the intake's
    fast-path decode of it (`sailbridge.intake.fastpath.WireEvent`)."""

    message_id: str | None
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    group_id: str | None
    event: str | None


def shape_problem(event: Shaped, kind: str) -> str | None:
    """The one statement of an event's shape (SPEC §3), for every reader of events: blank
    ids are no ids (set to ``None`` here, in place), then what a ``kind`` event cannot go
    without — ``None`` when it has it, else the reason it is refused.

    Time is the other half of the shape: `with_timestamp`; the fast paths take only
    events that carry a ``timestamp``, for which it only records the receive time."""
    if event.message_id is not None and not event.message_id.strip():
        event.message_id = None
    user_id = event.user_id
    if user_id is not None and not user_id.strip():
        user_id = event.user_id = None
    anonymous_id = event.anonymous_id
    if anonymous_id is not None and not anonymous_id.strip():
        anonymous_id = event.anonymous_id = None
    previous_id = event.previous_id
    if previous_id is not None and not previous_id.strip():
        previous_id = event.previous_id = None
    if event.group_id is not None and not event.group_id.strip():
        event.group_id = None
    if kind == EventType.ALIAS:
        if not previous_id:
            return "alias needs a previousId"
        if not user_id:
            return "alias needs a userId"
        return None
    if not (user_id or anonymous_id):
        return f"{kind} needs a userId or an anonymousId"
    if kind == EventType.TRACK and not (event.event and event.event.strip()):
        return "track needs an event name"
    return None


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as Segment-spec JSON (camelCase keys), for storage and display."""
    result: dict[str, Any] = msgspec.to_builtins(event)
    return result


_ISO_Z = re.compile(r"Z$")


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp as Segment sends it (``Z`` suffix, or an offset)."""
    try:
        parsed = datetime.fromisoformat(_ISO_Z.sub("+00:00", text.strip()))
    except ValueError as exc:
        raise InvalidEvent(f"not an ISO-8601 timestamp: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_time(moment: datetime) -> str:
    """Format as ISO-8601 UTC with millisecond precision and a ``Z``, as Segment does."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def with_timestamp(event: Event, received_at: datetime) -> Event:
    """Fix the event's time the way Segment does (SPEC §6).

    ``timestamp`` wins when given; otherwise the device clock is corrected by the
    difference between when the device sent the batch and when we received it:
    ``receivedAt - (sentAt - originalTimestamp)``. With no device times at all, the
    receive time is the best we know. An unreadable ``sentAt`` is replaced by the
    receive time (as Segment does), which makes the correction zero.
    """
    received_text = format_time(received_at)
    stamped = msgspec.structs.replace(event, received_at=received_text)
    if event.timestamp:
        return stamped
    if event.original_timestamp and event.sent_at:
        try:
            sent = parse_time(event.sent_at)
        except InvalidEvent:
            sent = received_at
            stamped = msgspec.structs.replace(stamped, sent_at=received_text)
        skew = sent - parse_time(event.original_timestamp)
        return msgspec.structs.replace(stamped, timestamp=format_time(received_at - skew))
    if event.original_timestamp:
        return msgspec.structs.replace(stamped, timestamp=event.original_timestamp)
    return msgspec.structs.replace(stamped, timestamp=format_time(received_at))
