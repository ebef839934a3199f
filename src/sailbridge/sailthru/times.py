"""The time strings Sailthru takes for ``reminder_time`` (and what sailbridge accepts).

Sailthru reads a reminder time as a relative offset, ``+20 minutes``, ``+2 hours``,
``+1 week``, or an absolute date and time (``2026-12-24 09:00``); anything else is
error 18, *Invalid time*, on every cart event. Segment's destination documents the
offset without its ``+`` (``60 minutes``, ``24 hrs``, ``2 weeks``) and adds it itself.
One module, so the settings check, the mapping and the sandbox agree on the format.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

RELATIVE_TIME: Final = re.compile(
    r"^(?P<plus>\+)?\s*\d+\s*(?:minutes?|mins?|hours?|hrs?|hr|days?|weeks?|months?)$",
    re.IGNORECASE,
)
"""``20 minutes``, ``+1 hour``, ``24 hrs``, ``+2 weeks`` (the ``+`` is optional here)."""


def absolute_time(text: str) -> datetime | None:
    """The date and time an ISO 8601 ``text`` names (``2026-12-24``, ``2026-12-24 09:00``,
    ``2026-12-24T09:00:00Z``), else ``None``."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def sailthru_time(text: str) -> str:
    """What to send Sailthru for ``text``: an offset gets its ``+`` (as Segment does);
    an absolute time, or anything unrecognised, goes as written."""
    stripped = text.strip()
    match = RELATIVE_TIME.match(stripped)
    if match is not None and match["plus"] is None:
        return f"+{stripped}"
    return stripped


def accepted_by_sailthru(text: str) -> bool:
    """Whether Sailthru schedules a reminder at ``text`` as sent (the ``+`` included)."""
    stripped = text.strip()
    match = RELATIVE_TIME.match(stripped)
    if match is not None:
        return match["plus"] is not None
    return absolute_time(stripped) is not None


def reminder_time_problem(text: str) -> str | None:
    """Why Sailthru would refuse ``text`` as a reminder time (after sailbridge adds the
    ``+``), or ``None`` when it is fine."""
    if accepted_by_sailthru(sailthru_time(text)):
        return None
    return (
        f"{text!r} is not a time Sailthru accepts; use an offset like '60 minutes', "
        "'+24 hours', '2 weeks', or an ISO date and time like '2026-12-24 09:00'"
    )
