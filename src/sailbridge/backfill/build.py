"""The streaming pass of a backfill: entries in, job files (and the live remainder) out.

One event at a time: plan its job line (`plan_line`), write it to its file, note what
it taught (an identify's email, for orders further down the input). An order with no
email of its own asks for one (`EmailLookup`) and is planned again with what earlier
identifies in the input taught, or with ``None``, which the mapping turns into the
same failure live delivery reports: orders are never filed under a guessed email.
Events with no bulk form are counted and, when a live file is given, written to it as
Segment JSON for live delivery after the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec

from sailbridge.backfill.emails import EmailBook
from sailbridge.backfill.files import JobFile, JobFileWriter, LineTooLarge
from sailbridge.backfill.lines import JobLine, LineKey, NoBulkForm, backfill_facts, plan_line
from sailbridge.events import event_to_dict
from sailbridge.inputs import Entry
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import EmailLookup, Fail, Lookup, Skip

EXAMPLES_PER_REASON = 5
PROGRESS_EVERY = 2_000
_encode = msgspec.json.encode


@dataclass
class Reasons:
    """Events counted by reason, with the positions of the first few of each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, position: str) -> None:
        count = self.counts.get(reason, 0)
        self.counts[reason] = count + 1
        if count < EXAMPLES_PER_REASON:
            self.examples.setdefault(reason, []).append(position)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_list(self) -> list[dict[str, Any]]:
        return [
            {"reason": reason, "events": count, "examples": self.examples[reason]}
            for reason, count in sorted(self.counts.items(), key=lambda kv: -kv[1])
        ]


@dataclass
class BuildResult:
    """What the pass read and made of it."""

    read: int = 0
    mapped: int = 0
    """Events that became a job line."""
    skipped: Reasons = field(default_factory=Reasons)
    failed: Reasons = field(default_factory=Reasons)
    no_bulk_form: Reasons = field(default_factory=Reasons)
    live: int = 0
    """Events written to the live file (those with no bulk form, when one was given)."""
    files: list[JobFile] = field(default_factory=list)


def build_job_files(
    entries: Iterable[Entry],
    options: MappingOptions,
    key: LineKey,
    writer: JobFileWriter,
    book: EmailBook,
    live: IO[bytes] | None = None,
    on_progress: Callable[[int], None] = lambda read: None,
) -> BuildResult:
    """Plan every entry, write the job files, return the tally (files closed)."""
    result = BuildResult()
    unknown = backfill_facts(key)
    for entry in entries:
        result.read += 1
        if result.read % PROGRESS_EVERY == 0:
            on_progress(result.read)
        event = entry.event
        if event is None:
            result.failed.add(f"invalid: {entry.error}", entry.position)
            continue
        plan = plan_line(event, options, key, unknown)
        if isinstance(plan, Lookup) and isinstance(plan.request, EmailLookup):
            email = book.email(plan.request.user_id)
            plan = plan_line(event, options, key, backfill_facts(key, email))
        if isinstance(plan, JobLine):
            try:
                writer.add(plan)
            except LineTooLarge as exc:
                result.failed.add(str(exc), entry.position)
                continue
            result.mapped += 1
            for fact in plan.remember:
                book.learn(fact.user_key, fact.email)
        elif isinstance(plan, NoBulkForm):
            result.no_bulk_form.add(plan.reason, entry.position)
            if live is not None:
                live.write(_encode(event_to_dict(event)) + b"\n")
                result.live += 1
        elif isinstance(plan, Skip):
            result.skipped.add(plan.reason, entry.position)
        elif isinstance(plan, Fail):
            result.failed.add(plan.reason, entry.position)
        else:  # pragma: no cover - plan_line answers email lookups only, handled above
            raise TypeError(f"unexpected plan {plan!r}")
    on_progress(result.read)
    result.files = writer.close()
    return result
