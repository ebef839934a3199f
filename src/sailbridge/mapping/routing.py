"""Which events reach Sailthru, under which name, and with which per-event overrides.

Segment lets each event switch destinations on or off, and carry destination options,
through its ``integrations`` object (SPEC §3). This module reads that object and the
event's identity; it decides nothing about the Sailthru calls themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sailbridge.events import Event, EventType
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.values import text

DESTINATION: Final = "Sailthru"
"""The destination's name in ``integrations``, spelled as Segment spells it."""

_SEPARATORS: Final = re.compile(r"[\s_-]+")


def normalize_event_name(name: str) -> str:
    """Lower-case ``name`` without whitespace, underscores or hyphens.

    ``Order Completed``, ``order_completed`` and ``OrderCompleted`` are one event:
    producers spell Segment's spec names in each of these ways.
    """
    return _SEPARATORS.sub("", name).lower()


def disabled_reason(integrations: dict[str, Any]) -> str | None:
    """Why the event's ``integrations`` turn Sailthru off, or ``None`` if they don't.

    ``"Sailthru": false`` always wins. ``"All": false`` turns everything off except
    destinations named with ``true`` or with an options object (Segment's semantics:
    giving options for a destination means "send it here").
    """
    setting = integrations.get(DESTINATION)
    if setting is False:
        return "integrations.Sailthru is false"
    if integrations.get("All") is False and not (setting is True or isinstance(setting, dict)):
        return "integrations.All is false and Sailthru is not enabled by name"
    return None


@dataclass(frozen=True)
class Overrides:
    """Per-event settings from ``integrations.Sailthru`` (each ``None`` when not given)."""

    default_list_name: str | None = None
    optout_value: str | None = None
    reminder_template: str | None = None
    reminder_time: str | None = None


# Every spelling is accepted (``optout_email`` too: the name of the Sailthru parameter
# it sets); when an event carries several, the one Segment's documentation uses
# (listed first) wins.
_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "default_list_name": ("defaultListName", "default_list_name"),
    "optout_value": ("optoutValue", "optout_value", "optout_email"),
    "reminder_template": ("reminder_template", "reminderTemplate"),
    "reminder_time": ("reminder_time", "reminderTime"),
}


def read_overrides(event: Event) -> Overrides:
    """The event's Sailthru overrides; blank values count as not given.

    A non-string override is rejected rather than ignored: the sender asked for
    something specific (a list, an opt-out level) and silently dropping it would do
    something else than asked.
    """
    options = event.integrations.get(DESTINATION)
    if not isinstance(options, dict):
        return Overrides()
    found: dict[str, str | None] = {}
    for field, spellings in _SPELLINGS.items():
        found[field] = None
        for spelling in spellings:
            value = options.get(spelling)
            if value is not None and not isinstance(value, str):
                raise Unmappable(
                    f"integrations.Sailthru.{spelling} must be a string, got {type(value).__name__}"
                )
            chosen = text(value)
            if chosen is not None:
                found[field] = chosen
                break
    return Overrides(**found)


def require_user_key(event: Event) -> str:
    """The Sailthru extid of the event's user: userId, else anonymousId."""
    key = event.user_key
    if key is None:
        raise Unmappable(f"{event.type} needs a userId or an anonymousId")
    return key


_USED_BY: Final[dict[str, tuple[str, frozenset[str]]]] = {
    "default_list_name": ("identify", frozenset({"identify"})),
    "optout_value": ("identify", frozenset({"identify"})),
    "reminder_template": (
        "Product Added and Product Removed",
        frozenset({"productadded", "productremoved"}),
    ),
    "reminder_time": (
        "Product Added and Product Removed",
        frozenset({"productadded", "productremoved"}),
    ),
}
"""Which events read each override: the type, or normalised track names."""


def ignored_overrides(event: Event) -> tuple[str, ...]:
    """Warnings for ``integrations.Sailthru`` overrides this event's mapping never reads.

    An opt-out level on a track, say, changes nothing (opt-out is a profile setting,
    applied by identify), and a sender who put it there expected it to; saying so in
    ``explain`` beats silently ignoring it. Values that are not strings are reported
    by the mapping itself, not here.
    """
    try:
        overrides = read_overrides(event)
    except Unmappable:
        return ()
    kind: str = event.type
    if kind == EventType.TRACK and event.event:
        kind = normalize_event_name(event.event)
    warnings = []
    for field, (users, kinds) in _USED_BY.items():
        if getattr(overrides, field) is not None and kind not in kinds:
            spelling = next(
                name
                for name in _SPELLINGS[field]
                if text(event.integrations[DESTINATION].get(name)) is not None
            )
            warnings.append(
                f"integrations.Sailthru.{spelling} is ignored on this event: "
                f"only {users} events use it"
            )
    return tuple(warnings)
