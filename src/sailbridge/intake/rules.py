"""Segment's batch rules and the per-event normalisation every source gets.

One place for what the tracking API does to an event before it is queued:

- a batch's ``context`` and ``integrations`` objects are merged *under* each event's
  own (the event's keys win); anything else there is ignored;
- a batch's ``sentAt`` applies to the events without one — unless it is unreadable,
  in which case it is dropped: the receive time stands in, so the device-clock
  correction is zero (Segment does the same) instead of every event being refused;
- a single-event endpoint's path gives the type when the body has none, and refuses
  a different one;
- Segment Webhooks' ``{"type": "delete", "userId": ...}`` becomes a ``User Deleted``
  track, so it takes exactly the mapping plan ``User Deleted`` takes (DELETE /user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sailbridge.events import InvalidEvent, parse_time

SHARED_FIELDS: Final = ("context", "integrations", "sentAt")
DELETION_EVENT: Final = "User Deleted"


class TypeMismatch(ValueError):
    """A single-event body whose ``type`` is not its endpoint's."""


@dataclass(frozen=True, slots=True)
class Shared:
    """A batch's fields that apply to each of its events (already checked)."""

    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: str | None = None

    @property
    def merges_objects(self) -> bool:
        """Whether events need ``context``/``integrations`` merged in (the fast path
        applies only ``sentAt`` itself)."""
        return self.context is not None or self.integrations is not None


NO_SHARED: Final = Shared()


def readable_time(value: Any) -> bool:
    """Whether ``value`` is an ISO-8601 time `parse_time` reads."""
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except InvalidEvent:
        return False
    return True


def shared_fields(values: Mapping[str, Any]) -> Shared:
    """The batch-level fields of a decoded batch body (other keys are ignored)."""
    context = values.get("context")
    integrations = values.get("integrations")
    sent_at = values.get("sentAt")
    return Shared(
        context=context if isinstance(context, dict) and context else None,
        integrations=integrations if isinstance(integrations, dict) and integrations else None,
        sent_at=sent_at if readable_time(sent_at) else None,
    )


def with_shared(document: dict[str, Any], shared: Shared) -> dict[str, Any]:
    """``document`` with the batch's shared fields applied (a new dict if any apply)."""
    if shared is NO_SHARED:
        return document
    merged = dict(document)
    for key, value in (("context", shared.context), ("integrations", shared.integrations)):
        if value is not None:
            own = merged.get(key)
            merged[key] = {**value, **own} if isinstance(own, dict) else value
    if shared.sent_at is not None and "sentAt" not in merged:
        merged["sentAt"] = shared.sent_at
    return merged


def with_type(document: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """A single-event body's type comes from the path (``kind``) when missing; a
    different one raises `TypeMismatch` (``/v1/track`` with ``"type": "identify"`` is
    a client bug, not something to guess about). ``kind`` ``None``: a batch entry."""
    if kind is None:
        return document
    given = document.get("type")
    if given is None:
        return {**document, "type": kind}
    if not isinstance(given, str) or given.lower() != kind:
        raise TypeMismatch(f"type {given!r} does not match the endpoint /v1/{kind}")
    return document


def deletion_as_track(document: dict[str, Any]) -> dict[str, Any]:
    """Segment's ``delete`` event as the ``User Deleted`` track the mapping knows."""
    given = document.get("type")
    if not (isinstance(given, str) and given.lower() == "delete"):
        return document
    return {**document, "type": "track", "event": DELETION_EVENT}
