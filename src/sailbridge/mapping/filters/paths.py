"""Reading a field path (``properties.plan``, ``context.page.url``) from an event: the
roots a path may start with, spelled as on the wire, and a reader built once per path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sailbridge.events import Event

MISSING: Final = object()
"""What a reader returns where the event has no such field (``null`` is a value)."""


ROOTS: Final[dict[str, Any]] = {
    "properties": lambda e: e.properties,
    "traits": lambda e: e.traits,
    "context": lambda e: e.context,
    "integrations": lambda e: e.integrations,
    "type": lambda e: e.type,
    "event": lambda e: or_missing(e.event),
    "name": lambda e: or_missing(e.name),
    "userId": lambda e: or_missing(e.user_id),
    "anonymousId": lambda e: or_missing(e.anonymous_id),
    "previousId": lambda e: or_missing(e.previous_id),
    "groupId": lambda e: or_missing(e.group_id),
    "messageId": lambda e: or_missing(e.message_id),
    "timestamp": lambda e: or_missing(e.timestamp),
}
"""The fields a path may start with, spelled as on the wire."""


OBJECT_ROOTS: Final = ("properties", "traits", "context", "integrations")
"""Roots whose fields a rule may drop or keep (the event's own objects)."""


def reader(path: tuple[str, ...]) -> Callable[[Event], Any]:
    """A function reading ``path`` from an event (the root looked up once, here)."""
    root = ROOTS[path[0]]
    rest = path[1:]

    def read(event: Event) -> Any:
        value: Any = root(event)
        for part in rest:
            if type(value) is dict:
                value = value.get(part, MISSING)
                if value is MISSING:
                    return MISSING
            elif type(value) is list and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
        return value

    return read


def or_missing(value: str | None) -> Any:
    return MISSING if value is None else value
