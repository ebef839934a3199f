"""Rows of the PostgreSQL store as sailbridge's values, and values as query parameters.

Batches go to PostgreSQL as one JSON document per parameter (`json_param`), taken apart
by the query; jobs come back as rows (`job_from_row`), their history as one JSON array.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sailbridge.store.accounts import ordering_key
from sailbridge.store.base import Attempt, Job, JobState
from sailbridge.store.postgres.database import Row

encode = msgspec.json.encode
history_decoder = msgspec.json.Decoder(list[Attempt])
cart_decoder = msgspec.json.Decoder(list[Any])


def json_param(value: Any) -> str:
    """A batch parameter: one JSON document, taken apart by the query."""
    return encode(value).decode()


def job_from_row(row: Row, history: str | None = None) -> Job:
    """A `Job` from the 15 columns ``claim``, ``get_job`` and the listings select:
    the job's 13, its history (the attempts as a JSON array, passed as ``history`` when
    selected), its account."""
    (
        job_id,
        write_key,
        message_id,
        event,
        event_type,
        user_key,
        keys,
        state,
        attempts,
        received_at,
        first_attempt_at,
        available_at,
        reason,
    ) = row[:13]
    return Job(
        id=job_id,
        write_key=write_key,
        message_id=message_id,
        event=msgspec.json.decode(event),
        event_type=event_type,
        user_key=user_key,
        ordering_keys=tuple(ordering_key(key) for key in keys),
        state=JobState(state),
        attempts=attempts,
        received_at=received_at,
        first_attempt_at=first_attempt_at,
        available_at=available_at,
        reason=reason,
        history=history_decoder.decode(history) if history else [],
        account=row[14],
    )
