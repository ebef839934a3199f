"""Rows of the SQLite file as sailbridge's values: jobs, attempts, ordering keys, inbox rows.

JSON columns (events, ordering keys, attempts, inbox payloads) are encoded and decoded
with msgspec here, once, for the writer and the readers alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.base import Attempt, Job, job_from_columns

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
    """A `Job` from the columns ``get_job`` and the listings select, in that order (the
    account last)."""
    return job_from_columns(row, keys_decoder.decode(row[6]), list(history), row[13])
