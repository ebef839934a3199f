"""Reading events from a file: a JSON array, JSON lines, or a Segment batch object.

A bad entry never hides the good ones around it: each comes back either as an `Event`
or as the `InvalidEvent` explaining what is wrong with it, with its position. Files go
through the same intake as HTTP requests (`sailbridge.intake`): the same batch rules,
repairs (invalid UTF-8, lone surrogates, NUL) and limits (nesting, numbers), so
``explain`` and ``send`` show what ``serve`` would do with the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sailbridge.events import Event, InvalidEvent
from sailbridge.intake.documents import BodyError, events_body
from sailbridge.intake.rules import NO_SHARED, Shared
from sailbridge.intake.sorting import Received, Refusal, decode_event, event_or_refusal


@dataclass(frozen=True)
class Entry:
    """One input event: where it was (``line N`` or ``item N``) and what it became."""

    position: str
    raw: Any
    event: Event | None = None
    error: InvalidEvent | None = None


def read_events(data: bytes | str, received_at: datetime | None = None) -> list[Entry]:
    """Parse ``data`` into entries, fixing timestamps as if received at ``received_at``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    received = Received((received_at or datetime.now(UTC)).timestamp())
    stripped = raw.lstrip()
    if not stripped:
        return []
    if stripped[:1] in (b"[", b"{"):
        try:
            body = events_body(stripped, max_events=None)
        except BodyError:
            pass  # perhaps JSON lines whose first line is an object
        else:
            return [
                _entry(f"item {index}", bytes(event), body.shared, received, body.repaired)
                for index, event in enumerate(body.events, start=1)
            ]
    return [
        _entry(f"line {number}", line, NO_SHARED, received)
        for number, line in enumerate(raw.splitlines(), start=1)
        if line.strip()
    ]


def entry_from_bytes(position: str, data: bytes, received_at: datetime) -> Entry:
    """One event's JSON bytes, read by the intake's rules as if received at
    ``received_at`` (for readers that stream a file themselves: ``backfill``)."""
    return _entry(position, data, NO_SHARED, Received(received_at.timestamp()))


def _entry(
    position: str, data: bytes, shared: Shared, received: Received, repaired: bool = False
) -> Entry:
    document, refusal = decode_event(data, repaired)
    if refusal is not None:
        return Entry(position, data.decode("utf-8", "replace"), error=InvalidEvent(refusal.reason))
    outcome = event_or_refusal(document, shared, None, received)
    if isinstance(outcome, Refusal):
        return Entry(position, document, error=InvalidEvent(outcome.reason))
    return Entry(position, document, event=outcome)
