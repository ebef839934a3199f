"""The events with no bulk form, delivered live after the jobs, through ``send``'s path.

They were written to a JSON-lines file during the streaming pass; here that file is
read back in chunks and each chunk goes through `send_events` — the store, rate
limits, retries and per-user order of live delivery — one chunk after the other, so a
user's events stay in file order. Each event carries `send`'s identity (its messageId,
else its content and position in the live file), so a resumed backfill never delivers
one twice; each chunk that finished is also recorded in the store by its content hash,
so a resumed run skips it without looking at its events.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sailbridge.backfill.build import Reasons
from sailbridge.backfill.reading import open_source, read_entries
from sailbridge.events import Event, event_to_dict
from sailbridge.identity import iter_identities
from sailbridge.operations import job_summary
from sailbridge.send import IdentifiedEvent, send_events
from sailbridge.settings import Settings
from sailbridge.store.backfill_files import BackfillFile, BackfillRecords, FileState

CHUNK: Final = 10_000
LIVE_KIND: Final = "live"


@dataclass
class LiveResult:
    """How the live remainder fared."""

    queued: int = 0
    delivered: int = 0
    skipped: int = 0
    failed: Reasons = field(default_factory=Reasons)
    waiting: int = 0
    paused_reason: str | None = None
    reused: bool = False
    """True when an earlier run already queued some of them (not queued again)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "delivered": self.delivered,
            "skipped": self.skipped,
            "failed": self.failed.total,
            "failures": self.failed.to_list(),
            "waiting": self.waiting,
            "paused_reason": self.paused_reason,
            "already_queued_by_an_earlier_run": self.reused,
        }


def file_hash(path: Path) -> str:
    digest = hashlib.sha256(LIVE_KIND.encode() + b"\n")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def send_live(
    path: Path,
    settings: Settings,
    store: BackfillRecords,
    on_progress: Callable[[int], None] = lambda done: None,
    clock: Callable[[], float] = time.time,
) -> LiveResult:
    """Queue and deliver the events of ``path`` unless an earlier run queued them."""
    whole = file_hash(path)
    result = LiveResult()
    for number, chunk in enumerate(_chunks(path), start=1):
        content_hash = hashlib.sha256(f"{whole}#{number}".encode()).hexdigest()
        if await store.backfill_file(content_hash) is not None:
            result.queued += len(chunk)
            result.reused = True
            continue
        sent = await send_events(chunk, settings)
        await store.save_backfill_file(
            BackfillFile(
                content_hash=content_hash,
                kind=LIVE_KIND,
                name=f"{path.name}#{number}",
                size=0,
                lines=len(chunk),
                state=FileState.QUEUED,
                updated_at=clock(),
            )
        )
        result.queued += len(chunk)
        for job in map(job_summary, sent.jobs):
            if job["state"] == "delivered":
                result.delivered += 1
            elif job["state"] == "skipped":
                result.skipped += 1
            elif job["state"] == "dead":
                result.failed.add(job["reason"] or "failed", f"{job['event']} for {job['user']}")
            else:
                result.waiting += 1
        on_progress(result.queued)
        if sent.paused_reason is not None:
            result.paused_reason = sent.paused_reason
            break
    return result


def _chunks(path: Path) -> Iterator[list[IdentifiedEvent]]:
    with open_source(str(path)) as source:
        identified = _identified(
            entry.event for entry in read_entries(source) if entry.event is not None
        )
        while chunk := list(itertools.islice(identified, CHUNK)):
            yield chunk


def _identified(events: Iterator[Event]) -> Iterator[IdentifiedEvent]:
    """``events`` with `send`'s identities, streamed (the counter spans the whole file)."""
    counted, kept = itertools.tee(events)
    identities = iter_identities((event_to_dict(e), e.message_id) for e in counted)
    for event, identity in zip(kept, identities, strict=True):
        yield IdentifiedEvent(event, identity)
