"""Forgetting a person on an operator's request (``sailbridge forget``, the admin API).

The request becomes a ``User Deleted`` event for the user, queued like any other: it
waits behind the user's earlier events (per-user order), then deletes the user in
Sailthru (``DELETE /user``), and once that succeeded the store forgets everything it
holds about them (`sailbridge.store.base.Store.forget`). One path for the event, the
webhook's ``{"type": "delete"}`` and the operator, so they cannot behave differently.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sailbridge.events import Event, InvalidEvent, event_from_dict

FORGET_WRITE_KEY = "sailbridge-forget"
"""The write key operator deletions are queued under (visible in ``dlq`` listings)."""


def deletion_event(user_id: str, at: datetime | None = None) -> Event:
    """The ``User Deleted`` track that deletes and forgets ``user_id`` (an extid).

    Raises `InvalidEvent` for a blank id, which names nobody.
    """
    if not user_id.strip():
        raise InvalidEvent("name the user to forget (their userId, the Sailthru extid)")
    moment = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return event_from_dict(
        {
            "type": "track",
            "event": "User Deleted",
            "userId": user_id,
            "timestamp": moment,
            "properties": {},
        }
    )
