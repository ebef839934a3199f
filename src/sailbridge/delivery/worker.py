"""The delivery worker: claim jobs, deliver them, and carry out what each outcome means.

One worker per process runs up to ``concurrency`` deliveries at once, for every
account: each account has its own sender stack and mapping options (`AccountDelivery`),
its own pause, and at most its fair share of the slots (`sailbridge.delivery.fairness`),
so one account's bad credentials, 429 storm or outage never slows another's delivery.
Ordering is the store's job (it never hands out two jobs of one user in one account),
pacing is the rate limiter's,
and what an outcome means for its job is `sailbridge.delivery.decide.decide`'s — a
pure function returning `Finish`, `RetryAt`, `Pause` or `Release`. The worker carries
each decision out, one method per kind (``_finish``, ``_retry``, ``_pause``,
``_release``), and reports it to the `DeliveryObserver`.

While an account's delivery is paused one job of it at a time probes Sailthru, at
most once per ``pause_probe_interval``, and the first success resumes its delivery.

With coalescing on (``WorkerConfig.group_size`` above 1) the worker claims *lines*:
each job with the user's consecutive ready jobs behind it (`Store.claim_groups`; at
light load a line is one job, so nothing waits). A line is delivered in order, run by
run (`sailbridge.mapping.coalescing.partition`): a run of merged profile updates or
cart changes rides in one call (`deliver_group`), every other event goes alone. Each
job is settled on its own and in line order; a failure that is no one event's ends
the line there (its first job retries, the rest go back untouched), and a merged call
Sailthru refuses is made again event by event, so the refusal lands on its event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
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
from sailbridge.delivery.fairness import claim_limits
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.delivery.stall import DeliveryFacts, Progress
from sailbridge.events import Event, event_from_dict
from sailbridge.mapping.coalescing import Kind, Member, partition
from sailbridge.mapping.options import MappingOptions
from sailbridge.sailthru.client import Sender
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.base import Attempt, Job, Result, Store
from sailbridge.store.errors import is_transient
from sailbridge.store.memory import AccountMemory
from sailbridge.supervise import supervised

log = logging.getLogger("sailbridge.worker")
PAUSE_READ_EVERY = 0.05
"""Seconds between two reads of the pause while delivering (another node may set it)."""
REFILL_WAIT = 0.005
"""While nearly every slot is busy, how long to let deliveries end before claiming more."""


class DeliveryObserver:
    """Hooks for metrics; the default observes nothing."""

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        """Called once per attempt with what it came to: `Result.DELIVERED`, `SKIPPED`,
        `RETRY`, `DEAD`, `PAUSED` or `RELEASED`."""


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
class WorkerConfig:
    concurrency: int = 32
    lease: float = 30.0
    idle_poll: float = 0.05
    max_idle_poll: float = 0.5
    pause_probe_interval: float = 15.0
    drain_timeout: float = 30.0
    group_size: int = 1
    """The most jobs of one user's line claimed and delivered together; 1 turns
    coalescing off (`sailbridge.mapping.coalescing.MAX_MEMBERS` when on)."""


class Worker:
    """Claims and delivers jobs until `stop` is called; then drains in-flight work."""

    def __init__(
        self,
        store: Store,
        accounts: Mapping[str, AccountDelivery],
        policy: RetryPolicy,
        *,
        cart_ttl: float,
        config: WorkerConfig = WorkerConfig(),
        observer: DeliveryObserver | None = None,
        clock: Clock = time.time,
        name: str | None = None,
        rate_limited: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = store
        self._accounts = dict(accounts)
        self._policy = policy
        self._cart_ttl = cart_ttl
        self._config = config
        self._observer = observer or DeliveryObserver()
        self._clock = clock
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self._inflight: dict[int, asyncio.Task[None]] = {}
        """Deliveries under way, by the id of their (first) job: one slot each."""
        self._held: set[int] = set()
        """Every job this worker holds the lease of (a line's followers too)."""
        self._account_of: dict[int, str] = {}
        """The account of each delivery under way (by the id of its first job)."""
        self._settling: set[int] = set()
        """In-flight jobs whose calls are done, their outcome being committed."""
        self._probe_at: dict[str, float] = {}
        self._paused_seen: set[str] = set()
        self._paused_read_at = float("-inf")
        self._claim_start = 0
        self._refill = max(1, config.concurrency // 4)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._rate_limited = rate_limited
        self.progress = Progress()

    def facts(self) -> DeliveryFacts:
        """What readiness judges delivery by (`sailbridge.delivery.stall.judge`)."""
        return DeliveryFacts(
            running=self.progress.running,
            idle_for=time.monotonic() - self.progress.moved_at,
            work_ready=self.progress.work_ready or bool(self._inflight),
            paused=bool(self._paused_seen) and self._paused_seen >= set(self._accounts),
            rate_limited=self._rate_limited(),
        )

    def wake(self) -> None:
        """New work was enqueued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until `stop`; in-flight deliveries finish (or are released) before return."""
        heartbeat = asyncio.create_task(supervised("delivery heartbeat", self._heartbeat))
        self.progress.running = True
        self.progress.moved(work_ready=self.progress.work_ready)
        try:
            await self._claim_loop()
        finally:
            self.progress.running = False
            await self._drain()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _claim_loop(self) -> None:
        idle = self._config.idle_poll
        while not self._stopping.is_set():
            # Cleared before looking, not before sleeping: a delivery that ends while we
            # claim (and may have unblocked a user's next job) wakes the sleep below.
            self._wake.clear()
            paused = await self._paused()
            jobs = await self._probe(paused)
            delivering = [account for account in self._accounts if account not in paused]
            free = self._free()
            if delivering:
                if 0 < free < self._refill and self._inflight:
                    # Busy: let a few more deliveries end and claim for all of them at
                    # once, rather than one claim per delivery.
                    await self._refill_wait()
                    free = self._free()
                in_flight = self._in_flight_by_account()
                self._claim_start += 1
                claimed: list[list[Job]] = []
                answered = False
                for account, limit in claim_limits(
                    free, self._config.concurrency, delivering, in_flight, self._claim_start
                ):
                    got = await self._claim(limit, account)
                    answered = answered or got is not None
                    claimed += got or []
                if answered:  # one look at every account's queue: found work or none
                    self.progress.moved(work_ready=bool(claimed))
                jobs += claimed
            for line in jobs:
                self._start(line)
            if jobs:
                idle = self._config.idle_poll
                continue
            if not delivering:  # every account paused: only probes, at their times
                next_probe = min(self._probe_at.get(account, 0.0) for account in paused)
                await self._sleep_unless_stopped(max(0.05, min(next_probe - self._clock(), 1.0)))
                continue
            if free > 0:
                idle = min(idle * 2, self._config.max_idle_poll)
            await self._sleep_or_wake(idle)

    async def _probe(self, paused: set[str]) -> list[list[Job]]:
        """One job of each paused account with nothing in flight, at most once per
        interval after a refusal (a fresh process probes at once: its credentials may
        be new). Finishing deliveries must not wake a paused account into hammering
        Sailthru with credentials it just refused."""
        jobs: list[list[Job]] = []
        in_flight = self._in_flight_by_account()
        for account in sorted(paused):
            if in_flight.get(account) or self._clock() < self._probe_at.get(account, 0.0):
                continue
            self._probe_at[account] = self._clock() + self._config.pause_probe_interval
            jobs += await self._claim(1, account, probing=True) or []
        return jobs

    def _in_flight_by_account(self) -> Counter[str]:
        """Deliveries under way per account (those being committed no longer count)."""
        return Counter(
            account for job_id, account in self._account_of.items() if job_id not in self._settling
        )

    async def _paused(self) -> set[str]:
        """The accounts whose delivery is paused (another node or an operator may pause
        or resume one), read from the store at most every ``PAUSE_READ_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._paused_read_at >= PAUSE_READ_EVERY:
            self._paused_read_at = now
            try:
                reasons = await self._store.paused_accounts()
            except Exception as error:
                _store_failed("reading the pause", error)
                return set(self._paused_seen)
            paused = {account for account in reasons if account in self._accounts}
            if paused and paused >= set(self._accounts):  # nothing to deliver but probes
                self.progress.moved(work_ready=False)
            for account in paused - self._paused_seen:  # set elsewhere
                log.warning(
                    "delivery paused", extra={"account": account, "reason": reasons[account]}
                )
            for account in self._paused_seen - paused:  # cleared elsewhere
                log.info(
                    "delivery resumed",
                    extra={"account": account, "by": "another node or an operator"},
                )
            self._paused_seen = paused
        return set(self._paused_seen)

    def _free(self) -> int:
        """Deliveries that may start: ``concurrency`` less those under way (a job whose
        outcome is being committed no longer counts)."""
        return self._config.concurrency - len(self._inflight) + len(self._settling)

    async def _refill_wait(self) -> None:
        """Until ``_refill`` slots are free, at most ``REFILL_WAIT`` seconds."""
        deadline = time.monotonic() + REFILL_WAIT
        while self._free() < self._refill and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await self._sleep_or_wake(remaining)

    async def _claim(
        self, limit: int, account: str, *, probing: bool = False
    ) -> list[list[Job]] | None:
        """Up to ``limit`` of ``account``'s lines: each a job alone, or with the user's
        consecutive ready jobs behind it when coalescing is on (never while probing a
        pause); ``None`` when the store failed."""
        if limit <= 0:
            return []
        try:
            if self._config.group_size > 1 and not probing:
                return await self._store.claim_groups(
                    self.name,
                    limit,
                    self._config.lease,
                    self._clock(),
                    self._config.group_size,
                    account=account,
                )
            jobs = await self._store.claim(
                self.name, limit, self._config.lease, self._clock(), account=account
            )
            return [[job] for job in jobs]
        except Exception as error:
            _store_failed("claiming jobs", error)
            self.progress.work_ready = True  # cannot tell; presume there is
            return None

    def _start(self, line: list[Job]) -> None:
        self._held.update(job.id for job in line)
        self._account_of[line[0].id] = line[0].account
        task = self._deliver(line[0]) if len(line) == 1 else self._deliver_line(line)
        self._inflight[line[0].id] = asyncio.create_task(task)

    async def _sleep_or_wake(self, delay: float) -> None:
        """Until `wake` (or a delivery ended) since the last look, at most ``delay``."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        self._wake.clear()

    async def _sleep_unless_stopped(self, delay: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _deliver(self, job: Job) -> None:
        started = self._clock()
        try:
            outcome = await self._attempt(job)
            decision = decide(job, outcome, self._policy, self._clock(), started=started)
            if (
                decision.result in (Result.DELIVERED, Result.SKIPPED)
                and len(self._settling) < self._config.concurrency
            ):
                # Sailthru is done with it: its slot may take the next job while the
                # outcome is committed (the job stays leased, and heartbeated, until then).
                self._settling.add(job.id)
                self._wake.set()
            await self._settle(job, outcome, decision, started)
        except Exception as error:
            if is_transient(error):
                _store_failed(f"settling job {job.id}; releasing it", error)
            else:
                log.exception("delivery of job %s crashed; releasing it", job.id)
            await self._crashed([job])
        finally:
            self._inflight.pop(job.id, None)
            self._account_of.pop(job.id, None)
            self._settling.discard(job.id)
            self._wake.set()

    async def _deliver_line(self, line: list[Job]) -> None:
        """Deliver a user's consecutive jobs in order, merging the runs that may merge;
        stop at the first job that is not finished (the rest go back untouched)."""
        left = list(line)
        try:
            for run in _runs(line):
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
                _store_failed(f"settling jobs {jobs}; releasing them", error)
            else:
                log.exception("delivery of jobs %s crashed; releasing them", jobs)
            await self._crashed(left)
            left = []
        finally:
            for job in left:
                with contextlib.suppress(Exception):
                    await self._release_untouched(job, self._clock())
            self._inflight.pop(line[0].id, None)
            self._account_of.pop(line[0].id, None)
            self._wake.set()

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
        await self._carry_out(job, decision, _attempt_record(started, outcome, decision))
        self._held.discard(job.id)
        self.progress.moved(work_ready=self.progress.work_ready)
        self._observer.outcome(job, outcome, decision.result, self._clock() - started)

    async def _crashed(self, jobs: list[Job]) -> None:
        """A delivery raised (a bug, the store gone): its jobs go back after a lease."""
        for job in jobs:
            with contextlib.suppress(Exception):
                await self._release_untouched(job, self._clock() + self._config.lease)

    async def _release_untouched(self, job: Job, at: float) -> None:
        self._held.discard(job.id)
        await self._store.release(job.id, at, worker=self.name)

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
        await self._store.finish(job.id, finish.state, attempt, finish.reason, worker=self.name)
        if finish.result is not Result.DEAD:
            await self._resume_if_paused(job.account)

    async def _retry(self, job: Job, retry: RetryAt, attempt: Attempt) -> None:
        """Back to the queue until ``retry.at``, the failed attempt counted."""
        await self._store.retry_at(job.id, retry.at, attempt, worker=self.name)

    async def _pause(self, job: Job, pause: Pause, attempt: Attempt) -> None:
        """Pause the job's account for every node sharing the store; the job goes back
        untouched and this worker probes again after ``pause_probe_interval``. Other
        accounts deliver on."""
        account = job.account
        self._probe_at[account] = self._clock() + self._config.pause_probe_interval
        if account not in self._paused_seen:
            log.warning(
                "delivery paused",
                extra={"account": account, "reason": pause.reason, "sailthru_code": attempt.code},
            )
        self._paused_seen.add(account)
        await self._store.set_paused(pause.reason, account)
        await self._release_untouched(job, self._clock())

    async def _release(self, job: Job, release: Release) -> None:
        """Back to the queue untouched (no attempt counted) until ``release.at``."""
        await self._release_untouched(job, release.at)

    async def _resume_if_paused(self, account: str) -> None:
        # Only when this worker saw the pause: delivering while it looked unpaused, a
        # store read per delivered job would cost more than the delivery. A pause set
        # elsewhere since then is seen by the claim loop, whose probe then resumes.
        if account not in self._paused_seen:
            return
        if await self._store.paused_reason(account) is not None:
            log.info(
                "delivery resumed",
                extra={"account": account, "by": "Sailthru accepted a call again"},
            )
            await self._store.set_paused(None, account)
        self._paused_seen.discard(account)

    async def _heartbeat(self) -> None:
        interval = self._config.lease / 3
        while True:
            await asyncio.sleep(interval)
            if self._held:
                try:
                    await self._store.heartbeat(
                        self.name, sorted(self._held), self._config.lease, self._clock()
                    )
                except Exception as error:
                    _store_failed("extending leases", error)

    async def _drain(self) -> None:
        """Let in-flight deliveries finish; release those that outlast the timeout."""
        if not self._inflight:
            return
        tasks = list(self._inflight.values())
        _, pending = await asyncio.wait(tasks, timeout=self._config.drain_timeout)
        for task in pending:
            task.cancel()
        for job_id in sorted(self._held):
            with contextlib.suppress(Exception):
                await self._store.release(job_id, self._clock(), worker=self.name)


def _store_failed(doing: str, error: Exception) -> None:
    """Log a store call that failed: a warning without a traceback when the store is
    briefly away (it is retried), the traceback otherwise; repeats are collapsed by the
    logging setup."""
    if is_transient(error):
        log.warning(
            "store unavailable; will try again",
            extra={"doing": doing, "error": f"{type(error).__name__}: {error}"},
        )
    else:
        log.error(
            "store call failed; will try again",
            exc_info=error,
            extra={"doing": doing, "error": f"{type(error).__name__}: {error}"},
        )


def together_note(job_id: int, riders: list[int]) -> str:
    """What a merged event's record says: the jobs it rode with (``#12, #13``)."""
    others = ", ".join(f"#{rider}" for rider in riders if rider != job_id)
    return f"sent together with {others}"


@dataclass(frozen=True)
class _Run:
    """Consecutive jobs of a line that go together: merged (``kind``) or one alone."""

    jobs: list[Job]
    events: list[Event]
    kind: Kind | None


def _runs(line: list[Job]) -> list[_Run]:
    """The line's runs in order (`partition`); a job whose event no longer reads as one
    goes alone (and fails as it would alone)."""
    events: list[Event | None] = []
    for job in line:
        try:
            events.append(event_from_dict(job.event))
        except ValueError:
            events.append(None)
    runs: list[_Run] = []
    start = 0
    for stop in [*(i for i, event in enumerate(events) if event is None), len(line)]:
        readable = [event for event in events[start:stop] if event is not None]
        for run in partition(readable):
            runs.append(
                _Run(
                    line[start + run.start : start + run.stop],
                    readable[run.start : run.stop],
                    run.kind if len(run) > 1 else None,
                )
            )
        if stop < len(line):
            runs.append(_Run([line[stop]], [], None))
        start = stop + 1
    return runs


def _attempt_record(started: float, outcome: Outcome, decision: Decision) -> Attempt:
    """The history record of one attempt: calls made (no secrets) and Sailthru's answer
    (used by `Finish` and `RetryAt`; a pause or a release records no attempt)."""
    requests = [
        record for lookup in outcome.lookups if (record := lookup.request_record()) is not None
    ]
    requests += [call.to_dict() for call in outcome.calls]
    error = outcome.error
    return Attempt(
        at=started,
        outcome=decision.result,
        requests=requests,
        status=error.status if error else None,
        code=error.code if error else None,
        message=outcome.reason,
    )
