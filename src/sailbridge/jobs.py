"""An event made into a queue job, for the producers that are not ingest (``send``, the
console's event tester). Ingest builds its jobs on its own fast path."""

from __future__ import annotations

from sailbridge.events import Event, event_to_dict
from sailbridge.mapping import ordering_keys
from sailbridge.store.base import NewJob


def new_job(event: Event, received_at: float, write_key: str) -> NewJob:
    """``event`` as a job, keyed for per-user order like an ingested one."""
    return NewJob(write_key=write_key, message_id=event.message_id,
                  event=event_to_dict(event), event_type=event.type,
                  user_key=event.user_key or "", ordering_keys=ordering_keys(event),
                  received_at=received_at)
