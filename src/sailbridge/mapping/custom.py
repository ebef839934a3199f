"""Custom track events → POST /event, which feeds Sailthru's Lifecycle Optimizer."""

from __future__ import annotations

from typing import Any, Final

from sailbridge.events import Event
from sailbridge.flatten import flatten
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.plan import Deliver, Plan
from sailbridge.mapping.routing import require_user_key
from sailbridge.sailthru.calls import Call

RESERVED_EVENT_NAMES: Final = frozenset(("send", "cancel", "open", "click", "purchase", "daily"))
"""Names Sailthru keeps for its own events and rejects on POST /event."""


def plan_custom_event(event: Event, name: str) -> Plan:
    """Send the event under its name exactly as written, properties flattened to vars.

    Reserved names are refused here, before any call: Sailthru would refuse them
    anyway, and failing early names the real cause instead of an API error code.
    """
    if name.strip().lower() in RESERVED_EVENT_NAMES:
        raise Unmappable(
            f"event name {name!r} is reserved by Sailthru, which rejects it on POST /event; "
            f"rename the event (reserved: {', '.join(sorted(RESERVED_EVENT_NAMES))})"
        )
    params: dict[str, Any] = {"id": require_user_key(event), "key": "extid", "event": name}
    properties = flatten(event.properties)
    if properties:
        params["vars"] = properties
    return Deliver(calls=(Call("POST", "/event", params),))
