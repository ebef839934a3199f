"""The record a backfill keeps of each Job API file it uploads (`Store.backfill_file`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FileState(StrEnum):
    """What became of a backfill's file (stored as this text)."""

    QUEUED = "queued"
    """The live remainder's chunk, queued for delivery (no Job API file)."""
    UPLOADING = "uploading"
    """Sent, no answer recorded yet: a crash there leaves it unconfirmed."""
    PENDING = "pending"
    """Sailthru took it (``job_id`` set) and has not finished it."""
    COMPLETED = "completed"
    ERROR = "error"
    """``message`` says why."""


@dataclass(frozen=True)
class BackfillFile:
    """One Job API file of a backfill and what became of it (``sailbridge backfill``).

    Keyed by ``content_hash`` (SHA-256 over the job type, its job-level parameters and
    the file's bytes), so a second run that produces the same file finds its record and
    never uploads it twice. Never holds credentials.
    """

    content_hash: str
    kind: str
    name: str
    size: int
    lines: int
    state: FileState
    updated_at: float
    job_id: str | None = None
    message: str | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> BackfillFile:
        """A record read back from either store (columns in field order)."""
        record = cls(*row)
        return dataclasses.replace(record, state=FileState(record.state))

    def row(self) -> dict[str, Any]:
        """The query parameters that save it (the state as its stored text)."""
        return {**dataclasses.asdict(self), "state": str(self.state)}
