"""Delivering one claimed line: its calls, then what each job's outcome means.

The worker (`sailbridge.delivery.worker`) decides *when* a line is delivered (slots,
fairness between accounts, pauses); this module decides *how*, so the claim loop never
makes a Sailthru call and delivery never counts a slot. What an outcome means for its job
is `sailbridge.delivery.decide.decide`'s — a pure function returning `Finish`,
`RetryAt`, `Pause` or `Release`; `LineDelivery` carries each decision out, one method
per kind (``_finish``, ``_retry``, ``_pause``, ``_release``), and reports it to the
`DeliveryObserver`.

A line is one job, or with coalescing on the user's consecutive ready jobs. It is
delivered in order, run by run (`sailbridge.mapping.coalescing.partition`): a run of
merged profile updates or cart changes rides in one call (`deliver_group`), every other
event goes alone. Each job is settled on its own and in line order; a failure that is
no one event's ends the line there (its first job retries, the rest go back untouched),
and a merged call Sailthru refuses is made again event by event, so the refusal lands
on its event.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import assert_never

from sailbridge.clock import Clock
from sailbridge.delivery.decide import Decision, Finish, Pause, Release, RetryAt, decide
from sailbridge.delivery.executor import (
    GroupDelivered,
    GroupFailed,
    Outcome,
    deliver_event,
    deliver_group,
)
from sailbridge.delivery.observers import DeliveryObserver
from sailbridge.delivery.pauses import Pauses
from sailbridge.delivery.records import attempt_record, together_note
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.delivery.runs import line_runs
from sailbridge.delivery.stall import Progress
from sailbridge.delivery.store_failures import store_failed
from sailbridge.events import Event, event_from_dict
from sailbridge.mapping.coalescing import Kind, Member
from sailbridge.mapping.options import MappingOptions
from sailbridge.sailthru.client import Sender
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.base import Attempt, Job, Result, Store
from sailbridge.store.errors import is_transient
from sailbridge.store.memory import AccountMemory

log = logging.getLogger("sailbridge.worker")


@dataclass(frozen=True)
class AccountDelivery:
    """What delivering for one account takes: its sender stack (its credentials, base
    URLs and rate limits) and its mapping options."""

    sender: Sender
    options: MappingOptions


def single_account(sender: Sender, options: MappingOptions) -> dict[str, AccountDelivery]:
    """The accounts of a deployment without ``[[accounts]]``: ``default`` alone."""
    return {DEFAULT_ACCOUNT: AccountDelivery(sender, options)}


@dataclass(frozen=True)
class Claimant:
    """The worker that claimed the lines, as their delivery sees it: its name and lease
    (the store checks both), the jobs whose leases it heartbeats (a settled or released
    job leaves them), its pauses and its progress."""

    name: str
    lease: float
    held: set[int]
    pauses: Pauses
    progress: Progress
    calls_done: Callable[[int], None]
    """Called when Sailthru is done with a lone job that finished, before its outcome is
    committed: the worker may give its slot to the next job meanwhile."""


class LineDelivery:
    """Delivers the lines a worker claims and settles each of their jobs."""

    def __init__(
        self,
        store: Store,
        accounts: Mapping[str, AccountDelivery],
        policy: RetryPolicy,
        claimant: Claimant,
        *,
        cart_ttl: float,
        observer: DeliveryObserver,
        clock: Clock,
    ) -> None:
        self._store = store
        self._accounts = dict(accounts)
        self._policy = policy
        self._claimant = claimant
        self._cart_ttl = cart_ttl
        self._observer = observer
        self._clock = clock

    async def deliver(self, line: list[Job]) -> None:
        """Deliver ``line`` and settle its jobs; never raises (a crash releases them)."""
        if len(line) == 1:
            await self._deliver(line[0])
        else:
            await self._deliver_line(line)

    async def _deliver(self, job: Job) -> None:
        """One job alone (a line of one, or coalescing off)."""
        started = self._clock()
        try:
            outcome = await self._attempt(job)
            decision = decide(job, outcome, self._policy, self._clock(), started=started)
            if decision.result in (Result.DELIVERED, Result.SKIPPED):
                self._claimant.calls_done(job.id)
            await self._settle(job, outcome, decision, started)
        except Exception as error:
            if is_transient(error):
                store_failed(f"settling job {job.id}; releasing it", error)
            else:
                log.exception("delivery of job %s crashed; releasing it", job.id)
            await self._crashed([job])

    async def _deliver_line(self, line: list[Job]) -> None:
        """Deliver a user's consecutive jobs in order, merging the runs that may merge;
        stop at the first job that is not finished (the rest go back untouched)."""
        left = list(line)
        try:
            for run in line_runs(line):
                if run.kind is None:
                    done = await self._deliver_alone(run.jobs)
                else:
                    done = await self._deliver_run(run.jobs, run.events, run.kind)
                del left[:done]
                if done < len(run.jobs):
                    del left[:1]  # settled (retry, pause, release): not finished
                    break
        except Exception as error:
            jobs = ", ".join(str(job.id) for job in left)
            if is_transient(error):
                store_failed(f"settling jobs {jobs}; releasing them", error)
            else:
                log.exception("delivery of jobs %s crashed; releasing them", jobs)
            await self._crashed(left)
            left = []
        finally:
            for job in left:
                with contextlib.suppress(Exception):
                    await self._release_untouched(job, self._clock())

    async def _deliver_alone(self, jobs: list[Job]) -> int:
        """One by one, as without coalescing; how many finished before one did not."""
        for done, job in enumerate(jobs):
            started = self._clock()
            outcome = await self._attempt(job)
            decision = decide(job, outcome, self._policy, self._clock(), started=started)
            await self._settle(job, outcome, decision, started)
            if not isinstance(decision, Finish):
                return done
        return len(jobs)

    async def _deliver_run(self, jobs: list[Job], events: list[Event], kind: Kind) -> int:
        """A run in the calls it merges into; how many jobs finished (see
        `_deliver_line`). A refused merge is delivered one by one instead."""
        started = self._clock()
        members = [Member(event, job.write_key) for job, event in zip(jobs, events, strict=True)]
        delivery = self._accounts[jobs[0].account]
        result = await deliver_group(
            members,
            kind,
            delivery.options,
            AccountMemory(self._store, jobs[0].account),
            delivery.sender,
            self._cart_ttl,
        )
        if isinstance(result, GroupFailed):
            # Nothing was delivered: the first job carries the attempt (its retry window,
            # its pause or release), the others wait behind it as they would have.
            decision = decide(jobs[0], result.outcome, self._policy, self._clock(), started=started)
            await self._settle(jobs[0], result.outcome, decision, started)
            if not isinstance(decision, Finish):
                return 0
            # The first event is dead (a lookup Sailthru refused): the rest go on alone.
            return 1 + await self._deliver_alone(jobs[1:])
        if not isinstance(result, GroupDelivered):
            log.info("delivering %d events one by one: %s", len(jobs), result.reason)
            return await self._deliver_alone(jobs)
        riders = [
            job.id
            for job, outcome in zip(jobs, result.outcomes, strict=True)
            if outcome.status is Result.DELIVERED
        ]
        for job, outcome in zip(jobs, result.outcomes, strict=True):
            if outcome.status is Result.DELIVERED and len(riders) > 1:
                outcome.reason = together_note(job.id, riders)
            decision = decide(job, outcome, self._policy, self._clock(), started=started)
            await self._settle(job, outcome, decision, started)
        return len(jobs)

    async def _settle(self, job: Job, outcome: Outcome, decision: Decision, started: float) -> None:
        await self._carry_out(job, decision, attempt_record(started, outcome, decision))
        self._claimant.held.discard(job.id)
        progress = self._claimant.progress
        progress.moved(work_ready=progress.work_ready)
        self._observer.outcome(job, outcome, decision.result, self._clock() - started)

    async def _crashed(self, jobs: list[Job]) -> None:
        """A delivery raised (a bug, the store gone): its jobs go back after a lease."""
        for job in jobs:
            with contextlib.suppress(Exception):
                await self._release_untouched(job, self._clock() + self._claimant.lease)

    async def _release_untouched(self, job: Job, at: float) -> None:
        self._claimant.held.discard(job.id)
        await self._store.release(job.id, at, worker=self._claimant.name)

    async def _attempt(self, job: Job) -> Outcome:
        """Deliver the job's event; an event that no longer reads as one (stored before
        a model change) fails like a mapping failure, with the reason."""
        try:
            event = event_from_dict(job.event)
        except ValueError as exc:
            return Outcome(Result.FAILED, str(exc))
        delivery = self._accounts[job.account]
        return await deliver_event(
            event,
            delivery.options,
            AccountMemory(self._store, job.account),
            delivery.sender,
            self._cart_ttl,
            job.write_key,
        )

    async def _carry_out(self, job: Job, decision: Decision, attempt: Attempt) -> None:
        """Do what ``decision`` says, in the store (and the pause state)."""
        match decision:
            case Finish():
                await self._finish(job, decision, attempt)
            case RetryAt():
                await self._retry(job, decision, attempt)
            case Pause():
                await self._pause(job, decision, attempt)
            case Release():
                await self._release(job, decision)
            case _:
                assert_never(decision)

    async def _finish(self, job: Job, finish: Finish, attempt: Attempt) -> None:
        """Delivered, skipped or dead; a success also ends a pause this worker saw."""
        await self._store.finish(
            job.id, finish.state, attempt, finish.reason, worker=self._claimant.name
        )
        if finish.result is not Result.DEAD:
            await self._claimant.pauses.resume_if_paused(job.account)

    async def _retry(self, job: Job, retry: RetryAt, attempt: Attempt) -> None:
        """Back to the queue until ``retry.at``, the failed attempt counted."""
        await self._store.retry_at(job.id, retry.at, attempt, worker=self._claimant.name)

    async def _pause(self, job: Job, pause: Pause, attempt: Attempt) -> None:
        """Pause the job's account for every node sharing the store; the job goes back
        untouched and this worker probes again after ``pause_probe_interval``. Other
        accounts deliver on."""
        await self._claimant.pauses.pause(job.account, pause.reason, attempt.code)
        await self._release_untouched(job, self._clock())

    async def _release(self, job: Job, release: Release) -> None:
        """Back to the queue untouched (no attempt counted) until ``release.at``."""
        await self._release_untouched(job, release.at)
