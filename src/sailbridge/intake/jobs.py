"""The one way a queued job is made from an event, whichever path decoded it."""

from __future__ import annotations

from types import EllipsisType
from typing import TYPE_CHECKING, Final

import msgspec

from sailbridge.events import EventType
from sailbridge.mapping import ordering_keys
from sailbridge.store.base import NewJob

if TYPE_CHECKING:
    from sailbridge.events import Event
    from sailbridge.intake.fastpath import WireEvent

_encode: Final = msgspec.json.encode
_ONE_KEY_TYPES: Final = frozenset(
    {EventType.TRACK, EventType.PAGE, EventType.SCREEN, EventType.GROUP}
)
"""Types whose ordering keys are just the user key (see `ordering_keys`)."""


def job_for(
    event: Event | WireEvent,
    write_key: str,
    received_at: float,
    *,
    identity: str | EllipsisType | None = ...,
) -> NewJob:
    """The job for ``event``: its JSON as stored, its type, user key and ordering keys.

    Its identity in ``write_key``'s namespace (what de-duplicates it) is the event's
    ``messageId`` unless ``identity`` says otherwise: `send`'s file identity, or
    ``None`` for a job that is never de-duplicated (`sailbridge forget`).

    The general path's `Event` and the fast path's `WireEvent` encode to the same bytes
    (``tests/intake/test_fastpath.py`` holds them to it), so the job does not depend on
    which path made it."""
    user_key = event.user_key
    event_type: str = event.type  # type: ignore[assignment,unused-ignore] # both set it
    keys = (user_key,) if user_key and event_type in _ONE_KEY_TYPES else ordering_keys(event)
    message_id = event.message_id if identity is ... else identity
    return NewJob(
        write_key,
        message_id,
        msgspec.Raw(_encode(event)),
        event_type,
        user_key or "",
        keys,
        received_at,
    )
