"""Rows of the SQLite file as sailbridge's values: jobs, attempts, ordering keys, inbox rows.

JSON columns (events, ordering keys, attempts, inbox payloads) are encoded and decoded
with msgspec here, once, for the writer and the readers alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import ordering_key
from sailbridge.store.base import Attempt, Job, JobState

Row = tuple[Any, ...]

encode = msgspec.json.encode
attempt_decoder = msgspec.json.Decoder(Attempt)
keys_decoder = msgspec.json.Decoder(list[str])


class InboxJob(msgspec.Struct, array_like=True):
    """A `NewJob` as the inbox stores it, read back with the event's bytes as they are."""

    write_key: str
    message_id: str | None
    event: msgspec.Raw
    event_type: str
    user_key: str
    ordering_keys: list[str]
    received_at: float
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)


inbox_decoder = msgspec.json.Decoder(list[InboxJob])


def job_from_row(row: Row, history: Sequence[Attempt] = ()) -> Job:
    """A `Job` from the columns ``get_job`` and the listings select, in that order."""
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
        account,
    ) = row
    return Job(
        id=job_id,
        write_key=write_key,
        message_id=message_id,
        event=msgspec.json.decode(event),
        event_type=event_type,
        user_key=user_key,
        ordering_keys=tuple(ordering_key(key) for key in keys_decoder.decode(keys)),
        state=JobState(state),
        attempts=attempts,
        received_at=received_at,
        first_attempt_at=first_attempt_at,
        available_at=available_at,
        reason=reason,
        history=list(history),
        account=account,
    )
