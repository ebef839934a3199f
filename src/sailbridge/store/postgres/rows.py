"""Rows of the PostgreSQL store as sailbridge's values, and values as query parameters.

Batches go to PostgreSQL as one JSON document per parameter (`json_param`), taken apart
by the query; jobs come back as rows (`job_from_row`), their history as one JSON array.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sailbridge.store.base import Attempt, Job, job_from_columns
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
    return job_from_columns(
        row, row[6], history_decoder.decode(history) if history else [], row[14]
    )
