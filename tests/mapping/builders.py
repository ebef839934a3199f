"""Events as Segment's SDKs send them, and small readers for the plans they produce."""

from __future__ import annotations

from typing import Any

from sailbridge.events import Event, event_from_dict
from sailbridge.mapping import plan_event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, Facts, Plan
from sailbridge.sailthru.calls import Call

NO_SETTINGS = MappingOptions()


def event(type: str, **fields: Any) -> Event:
    """An event from camelCase JSON fields, validated as ingest validates it."""
    return event_from_dict({"type": type, "messageId": "msg-1", **fields})


def track(name: str, properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    fields.setdefault("userId", "user-1")
    return event("track", event=name, properties=properties or {}, **fields)


def identify(traits: dict[str, Any] | None = None, **fields: Any) -> Event:
    fields.setdefault("userId", "user-1")
    return event("identify", traits=traits or {}, **fields)


def plan(subject: Event, options: MappingOptions = NO_SETTINGS, facts: Facts | None = None) -> Plan:
    return plan_event(subject, options) if facts is None else plan_event(subject, options, facts)


def only_call(result: Plan) -> Call:
    """The single call of a `Deliver` plan (failing the test on any other plan)."""
    assert isinstance(result, Deliver), result
    assert len(result.calls) == 1, result.calls
    return result.calls[0]


def params(result: Plan) -> dict[str, Any]:
    return only_call(result).params
