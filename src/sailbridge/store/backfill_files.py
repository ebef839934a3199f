"""The record a backfill keeps of each Job API file it uploads (`Store.backfill_file`)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sailbridge.settings.accounts import DEFAULT_ACCOUNT


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
    account: str = DEFAULT_ACCOUNT
    """The Sailthru account the file went to."""

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> BackfillFile:
        """A record read back from either store (columns in field order)."""
        record = cls(*row)
        return dataclasses.replace(record, state=FileState(record.state))

    def row(self) -> dict[str, Any]:
        """The query parameters that save it (the state as its stored text)."""
        return {**dataclasses.asdict(self), "state": str(self.state)}


class BackfillRecords(Protocol):
    """The records of backfill files a store keeps (`sailbridge.store.base.Records`)."""

    async def backfill_file(self, content_hash: str) -> BackfillFile | None: ...

    async def save_backfill_file(self, record: BackfillFile) -> None: ...


class AccountFiles:
    """One account's backfill file records in a store. A record is keyed by the file's
    content hash and the account (the same file uploaded to two accounts is two
    uploads); the account ``default``'s by the content hash alone, as before accounts."""

    def __init__(self, records: BackfillRecords, account: str) -> None:
        self._records = records
        self.account = account

    def _key(self, content_hash: str) -> str:
        if self.account == DEFAULT_ACCOUNT:
            return content_hash
        return hashlib.sha256(f"{self.account}\n{content_hash}".encode()).hexdigest()

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        record = await self._records.backfill_file(self._key(content_hash))
        return dataclasses.replace(record, content_hash=content_hash) if record else None

    async def save_backfill_file(self, record: BackfillFile) -> None:
        await self._records.save_backfill_file(
            dataclasses.replace(
                record, content_hash=self._key(record.content_hash), account=self.account
            )
        )
