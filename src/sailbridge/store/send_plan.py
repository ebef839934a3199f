"""Which of a `sailbridge send`'s jobs to queue: the part of `Store.enqueue_sent` both
stores share.

A send names each event by its ``message_id`` under `SEND_WRITE_KEY`; an identity that
already has a job (from an earlier send, or earlier in the same call) is answered with
that job instead of a second one. The stores look the identities up in their own SQL
and queue `SendPlan.fresh`; `plan_send` decides the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sailbridge.store.base import NewJob


@dataclass(frozen=True)
class SentJob:
    """Where one event of `Store.enqueue_sent` went: a job queued now, or an earlier one."""

    job_id: int
    queued: bool
    """True when this call queued it; False when a job with its identity already was
    (by an earlier send, or earlier in the same call)."""


class Ref(StrEnum):
    """What one job of a send refers to."""

    KNOWN = "known"
    """A job stored before this call: the number is its id."""
    NEW = "new"
    """A job this call queues: the number is its position in `SendPlan.fresh`."""
    REPEAT = "repeat"
    """A repeat of an identity earlier in this call: the position of that first one."""


@dataclass(frozen=True)
class SendPlan:
    """Which of a send's jobs to queue, given the identities already stored (both stores
    share this part of `Store.enqueue_sent`)."""

    fresh: list[NewJob]
    refs: list[tuple[Ref, int]]
    """Per job: what it refers to and the number (`Ref`)."""

    def results(self, fresh_ids: Sequence[int]) -> list[SentJob]:
        """The `SentJob` of every job once ``fresh`` was queued with ``fresh_ids``."""
        return [
            SentJob(ref if kind is Ref.KNOWN else fresh_ids[ref], kind is Ref.NEW)
            for kind, ref in self.refs
        ]


def plan_send(jobs: Sequence[NewJob], known: dict[str, int]) -> SendPlan:
    """Split ``jobs`` into those to queue and those whose identity has a job already:
    in ``known`` (identity → job id), or earlier in ``jobs``."""
    plan = SendPlan([], [])
    first: dict[str, int] = {}
    for job in jobs:
        identity = job.message_id
        if identity is not None and identity in known:
            plan.refs.append((Ref.KNOWN, known[identity]))
        elif identity is not None and identity in first:
            plan.refs.append((Ref.REPEAT, first[identity]))
        else:
            if identity is not None:
                first[identity] = len(plan.fresh)
            plan.refs.append((Ref.NEW, len(plan.fresh)))
            plan.fresh.append(job)
    return plan
