"""A claimed line cut into the runs it is delivered in: a pure step.

`sailbridge.mapping.coalescing.partition` says which consecutive *events* may merge;
a line is *jobs*, and a job whose event no longer reads as one (stored before a model
change) cannot be partitioned. Kept apart from the delivery that carries runs out
(`sailbridge.delivery.lines`) so how a line is cut reads, and can be checked, without
a store or Sailthru.
"""

from __future__ import annotations

from dataclasses import dataclass

from sailbridge.events import Event, event_from_dict
from sailbridge.mapping.coalescing import Kind, partition
from sailbridge.store.base import Job


@dataclass(frozen=True)
class Run:
    """Consecutive jobs of a line that go together: merged (``kind``) or one alone."""

    jobs: list[Job]
    events: list[Event]
    kind: Kind | None


def line_runs(line: list[Job]) -> list[Run]:
    """The line's runs in order (`partition`); a job whose event no longer reads as one
    goes alone (and fails as it would alone)."""
    events: list[Event | None] = []
    for job in line:
        try:
            events.append(event_from_dict(job.event))
        except ValueError:
            events.append(None)
    runs: list[Run] = []
    start = 0
    for stop in [*(i for i, event in enumerate(events) if event is None), len(line)]:
        readable = [event for event in events[start:stop] if event is not None]
        for run in partition(readable):
            runs.append(
                Run(
                    line[start + run.start : start + run.stop],
                    readable[run.start : run.stop],
                    run.kind if len(run) > 1 else None,
                )
            )
        if stop < len(line):
            runs.append(Run([line[stop]], [], None))
        start = stop + 1
    return runs
