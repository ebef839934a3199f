"""Uploading job files and polling their jobs, with every step recorded in the store.

Files go one at a time, in the order they were written, each job awaited before the
next is uploaded, so a user's later line never overtakes an earlier one. Before an
upload the file's record says ``uploading``; Sailthru's answer turns it into
``pending`` with the job id, then ``completed`` or ``error``. A second run finds each
file by its content hash (`sailbridge.backfill.files`) and:

- ``completed``: re-used, not uploaded again;
- ``pending``: polled again, not uploaded again;
- ``error`` with a job id (the job itself failed): reported again, not uploaded again
  (the same bytes would fail the same way); ``error`` without one (Sailthru refused
  the upload): uploaded again;
- ``uploading`` (the run died before Sailthru's answer was recorded): Sailthru may or
  may not have the file. An ``update`` is uploaded again (applying it twice gives the
  same profiles); a ``purchase_import`` is not — twice would file every purchase
  twice — and is reported as unconfirmed unless re-uploading was asked for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from sailbridge.backfill.files import JobFile
from sailbridge.backfill.lines import UPDATE
from sailbridge.clock import Clock
from sailbridge.sailthru.client import SailthruResponse
from sailbridge.sailthru.errors import RetryableError, SailthruError, TransportError
from sailbridge.store.backfill_files import BackfillFile, BackfillRecords, FileState

UPLOAD_ATTEMPTS: Final = 3
MAX_POLL_FAILURES: Final = 30
FINAL_STATUSES: Final = frozenset({FileState.COMPLETED, FileState.ERROR})


class JobApi(Protocol):
    """What the backfill needs of a Sailthru client (`SailthruClient` has it)."""

    async def post_job(
        self,
        job: str,
        params: dict[str, Any],
        file: Path,
        on_bytes: Callable[[int], None] | None = None,
    ) -> SailthruResponse: ...

    async def job_status(self, job_id: str) -> SailthruResponse: ...


@dataclass(frozen=True)
class JobOutcome:
    """What became of one file in this run."""

    file: JobFile
    status: str
    """``completed``, ``error``, ``pending`` (still running at Sailthru), ``unconfirmed``."""
    job_id: str | None = None
    reused: bool = False
    """True when this run found the file recorded and did not upload it."""
    message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file.name,
            "job": self.file.kind,
            "lines": self.file.lines,
            "bytes": self.file.size,
            "sha256": self.file.content_hash,
            "job_id": self.job_id,
            "status": self.status,
            "reused": self.reused,
            "message": self.message,
        }


@dataclass
class JobRunner:
    """Uploads and polls job files against ``api``, recording each step in ``store``."""

    api: JobApi
    store: BackfillRecords
    poll_interval: float
    reupload_unconfirmed: bool = False
    on_bytes: Callable[[int], None] = lambda sent: None
    on_outcome: Callable[[JobOutcome], None] = lambda outcome: None
    clock: Clock = time.time

    async def run(self, files: Sequence[JobFile]) -> list[JobOutcome]:
        outcomes = []
        for job_file in files:
            outcome = await self._one(job_file)
            self.on_outcome(outcome)
            outcomes.append(outcome)
        return outcomes

    async def _one(self, job_file: JobFile) -> JobOutcome:
        record = await self.store.backfill_file(job_file.content_hash)
        if record is not None:
            if record.state is FileState.COMPLETED:
                self.on_bytes(job_file.size)
                return JobOutcome(job_file, "completed", record.job_id, reused=True)
            if record.state is FileState.PENDING and record.job_id is not None:
                self.on_bytes(job_file.size)
                return await self._poll(job_file, record, reused=True)
            if record.state is FileState.ERROR and record.job_id is not None:
                self.on_bytes(job_file.size)
                return JobOutcome(
                    job_file,
                    "error",
                    record.job_id,
                    reused=True,
                    message=f"{record.message} (this job failed in an earlier "
                    "run; the same file is not uploaded again)",
                )
            if (
                record.state is FileState.UPLOADING
                and job_file.kind != UPDATE
                and not self.reupload_unconfirmed
            ):
                self.on_bytes(job_file.size)
                return JobOutcome(
                    job_file,
                    "unconfirmed",
                    reused=True,
                    message=(
                        "an earlier run was interrupted while uploading this file, so Sailthru "
                        "may have it: check the account's jobs, then run again with "
                        "--reupload-unconfirmed to send it anyway"
                    ),
                )
        return await self._upload(job_file)

    async def _upload(self, job_file: JobFile) -> JobOutcome:
        record = await self._save(
            BackfillFile(
                content_hash=job_file.content_hash,
                kind=job_file.kind,
                name=job_file.name,
                size=job_file.size,
                lines=job_file.lines,
                state=FileState.UPLOADING,
                updated_at=self.clock(),
            )
        )
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                answer = await self.api.post_job(
                    job_file.kind, job_file.params, job_file.path, self.on_bytes
                )
                break
            except TransportError as error:
                return JobOutcome(
                    job_file,
                    "unconfirmed",
                    message=(
                        f"no answer to the upload ({error.message}); Sailthru may have the "
                        "file: check its jobs, then run again (--reupload-unconfirmed for "
                        "purchase imports)"
                    ),
                )
            except SailthruError as error:
                if isinstance(error, RetryableError) and attempt < UPLOAD_ATTEMPTS:
                    await asyncio.sleep(min(30.0, self.poll_interval * 2**attempt))
                    continue
                await self._save(
                    dataclasses.replace(record, state=FileState.ERROR, message=error.message)
                )
                return JobOutcome(job_file, "error", message=error.message)
        job_id = answer.body.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            message = "Sailthru's answer to the upload has no job_id"
            await self._save(dataclasses.replace(record, state=FileState.ERROR, message=message))
            return JobOutcome(job_file, "error", message=message)
        record = await self._save(
            dataclasses.replace(record, state=FileState.PENDING, job_id=job_id)
        )
        return await self._poll(job_file, record, reused=False)

    async def _poll(self, job_file: JobFile, record: BackfillFile, reused: bool) -> JobOutcome:
        assert record.job_id is not None
        failures = 0
        while True:
            try:
                body = (await self.api.job_status(record.job_id)).body
                failures = 0
            except SailthruError as error:
                failures += 1
                if isinstance(error, RetryableError) and failures < MAX_POLL_FAILURES:
                    await asyncio.sleep(self.poll_interval)
                    continue
                return JobOutcome(
                    job_file,
                    "pending",
                    record.job_id,
                    reused,
                    (
                        f"could not read the job's status ({error.message}); "
                        "run again to keep waiting for it"
                    ),
                )
            status = body.get("status")
            if status in FINAL_STATUSES:
                message = _job_message(body) if status == "error" else None
                await self._save(
                    dataclasses.replace(record, state=FileState(status), message=message)
                )
                return JobOutcome(job_file, str(status), record.job_id, reused, message)
            await asyncio.sleep(self.poll_interval)

    async def _save(self, record: BackfillFile) -> BackfillFile:
        record = dataclasses.replace(record, updated_at=self.clock())
        await self.store.save_backfill_file(record)
        return record


def _job_message(body: dict[str, Any]) -> str:
    """Why a job failed, in Sailthru's words when it gave any."""
    for name in ("errormsg", "error_message", "message", "error"):
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:500]
    return "the job ended in error (Sailthru gave no reason)"
