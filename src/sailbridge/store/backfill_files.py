"""The record a backfill keeps of each Job API file it uploads (`Store.backfill_file`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackfillFile:
    """One Job API file of a backfill and what became of it (``sailbridge backfill``).

    Keyed by ``content_hash`` (SHA-256 over the job type, its job-level parameters and
    the file's bytes), so a second run that produces the same file finds its record and
    never uploads it twice. ``state``: ``uploading`` (sent, no answer recorded yet: a
    crash there leaves it unconfirmed), ``pending`` (Sailthru took it, ``job_id`` set),
    ``completed`` or ``error`` (``message`` says why). Never holds credentials.
    """

    content_hash: str
    kind: str
    name: str
    size: int
    lines: int
    state: str
    updated_at: float
    job_id: str | None = None
    message: str | None = None
