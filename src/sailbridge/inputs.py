"""Reading events from a file: a JSON array, JSON lines, or a Segment batch object.

A bad line never hides the good ones around it: each entry comes back either as an
`Event` or as the `InvalidEvent` explaining what is wrong with it, with its position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec

from sailbridge.events import Event, InvalidEvent, event_from_dict, with_timestamp


@dataclass(frozen=True)
class Entry:
    """One input event: where it was (``line N`` or ``item N``) and what it became."""

    position: str
    raw: Any
    event: Event | None = None
    error: InvalidEvent | None = None


def read_events(text: str, received_at: datetime | None = None) -> list[Entry]:
    """Parse ``text`` into entries, fixing timestamps as if received at ``received_at``."""
    now = received_at or datetime.now(timezone.utc)
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            document = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            document = None  # perhaps JSON lines whose first line is an object
        if isinstance(document, list):
            return [entry_from_raw(f"item {i + 1}", raw, now) for i, raw in enumerate(document)]
        if isinstance(document, dict):
            return _from_object(document, now)
    return [
        _line_entry(number, line, now)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _from_object(document: dict[str, Any], now: datetime) -> list[Entry]:
    """A single event, or a Segment ``{"batch": [...]}`` body with shared context."""
    batch = document.get("batch")
    if not isinstance(batch, list):
        return [entry_from_raw("item 1", document, now)]
    shared = {key: document[key] for key in ("context", "integrations", "sentAt")
              if key in document}
    return [entry_from_raw(f"item {i + 1}", merge_batch_fields(raw, shared), now)
            for i, raw in enumerate(batch)]


def merge_batch_fields(raw: Any, shared: dict[str, Any]) -> Any:
    """Batch-level ``context``/``integrations`` under each event's own (SPEC §6)."""
    if not isinstance(raw, dict) or not shared:
        return raw
    merged = dict(raw)
    for key in ("context", "integrations"):
        if isinstance(shared.get(key), dict):
            own = merged.get(key)
            merged[key] = {**shared[key], **own} if isinstance(own, dict) else shared[key]
    if "sentAt" in shared and "sentAt" not in merged:
        merged["sentAt"] = shared["sentAt"]
    return merged


def _line_entry(number: int, line: str, now: datetime) -> Entry:
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        return Entry(f"line {number}", line, error=InvalidEvent(f"malformed JSON: {exc}"))
    return entry_from_raw(f"line {number}", raw, now)


def entry_from_raw(position: str, raw: Any, now: datetime) -> Entry:
    """One decoded JSON value as an event received at ``now``, or why it is not one."""
    try:
        return Entry(position, raw, event=with_timestamp(event_from_dict(raw), now))
    except InvalidEvent as error:
        return Entry(position, raw, error=error)
