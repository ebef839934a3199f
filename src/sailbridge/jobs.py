"""An event as a job for the queue, for the sources that are not HTTP ingest.

``sailbridge send``, ``sailbridge forget`` and the admin API queue events they built
or read themselves; ingest has its own fast path for the bytes it received.
"""

from __future__ import annotations

from sailbridge.events import Event, event_to_dict
from sailbridge.mapping import ordering_keys
from sailbridge.store.base import NewJob


def job_for(event: Event, message_id: str | None, received_at: float,
            write_key: str) -> NewJob:
    """The job that delivers ``event``; ``message_id`` is its identity in ``write_key``'s
    namespace (``None``: none, never de-duplicated)."""
    return NewJob(write_key=write_key, message_id=message_id, event=event_to_dict(event),
                  event_type=event.type, user_key=event.user_key or "",
                  ordering_keys=ordering_keys(event), received_at=received_at)
