"""The delivery worker's claim loop: which lines to deliver, when, and in how many slots.

One worker per process runs up to ``concurrency`` deliveries at once, for every
account: each account has its own sender stack and mapping options (`AccountDelivery`),
its own pause, and at most its fair share of the slots (`sailbridge.delivery.fairness`),
so one account's bad credentials, 429 storm or outage never slows another's delivery.
Ordering is the store's job (it never hands out two jobs of one user in one account),
pacing is the rate limiter's, and delivering a claimed line and carrying out what each
job's outcome means is `sailbridge.delivery.lines.LineDelivery`'s: this module only
claims, hands lines out, keeps their leases alive and drains.

While an account's delivery is paused one job of it at a time probes Sailthru, at
most once per ``pause_probe_interval``, and the first success resumes its delivery.

With coalescing on (``WorkerConfig.group_size`` above 1) the worker claims *lines*:
each job with the user's consecutive ready jobs behind it (`Store.claim_groups`; at
light load a line is one job, so nothing waits). A line holds one slot however many
jobs it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sailbridge.clock import Clock
from sailbridge.delivery.fairness import claim_limits
from sailbridge.delivery.lines import AccountDelivery, Claimant, LineDelivery
from sailbridge.delivery.observers import DeliveryObserver
from sailbridge.delivery.pauses import Pauses
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.delivery.stall import DeliveryFacts, Progress
from sailbridge.delivery.store_failures import store_failed
from sailbridge.store.base import Job, Store
from sailbridge.supervise import supervised

REFILL_WAIT = 0.005
"""While nearly every slot is busy, how long to let deliveries end before claiming more."""


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
        self._config = config
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
        self._claim_start = 0
        self._refill = max(1, config.concurrency // 4)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._rate_limited = rate_limited
        self.progress = Progress()
        self._pauses = Pauses(
            store,
            self._accounts,
            self.progress,
            probe_interval=config.pause_probe_interval,
            clock=clock,
        )
        self._lines = LineDelivery(
            store,
            self._accounts,
            policy,
            Claimant(
                self.name,
                config.lease,
                self._held,
                self._pauses,
                self.progress,
                self._calls_done,
            ),
            cart_ttl=cart_ttl,
            observer=observer or DeliveryObserver(),
            clock=clock,
        )

    def facts(self) -> DeliveryFacts:
        """What readiness judges delivery by (`sailbridge.delivery.stall.judge`)."""
        return DeliveryFacts(
            running=self.progress.running,
            idle_for=time.monotonic() - self.progress.moved_at,
            work_ready=self.progress.work_ready or bool(self._inflight),
            paused=bool(self._pauses.seen) and self._pauses.seen >= set(self._accounts),
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
            paused = await self._pauses.current()
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
                next_probe = min(self._pauses.probe_at.get(account, 0.0) for account in paused)
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
            if in_flight.get(account) or self._clock() < self._pauses.probe_at.get(account, 0.0):
                continue
            self._pauses.probe_at[account] = self._clock() + self._config.pause_probe_interval
            jobs += await self._claim(1, account, probing=True) or []
        return jobs

    def _in_flight_by_account(self) -> Counter[str]:
        """Deliveries under way per account (those being committed no longer count)."""
        return Counter(
            account for job_id, account in self._account_of.items() if job_id not in self._settling
        )

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
            store_failed("claiming jobs", error)
            self.progress.work_ready = True  # cannot tell; presume there is
            return None

    def _start(self, line: list[Job]) -> None:
        self._held.update(job.id for job in line)
        self._account_of[line[0].id] = line[0].account
        self._inflight[line[0].id] = asyncio.create_task(self._delivering(line))

    async def _delivering(self, line: list[Job]) -> None:
        """One slot's delivery; its end frees the slot and wakes the claim loop (the
        user's next job may be ready now)."""
        try:
            await self._lines.deliver(line)
        finally:
            self._inflight.pop(line[0].id, None)
            self._account_of.pop(line[0].id, None)
            self._settling.discard(line[0].id)
            self._wake.set()

    def _calls_done(self, job_id: int) -> None:
        """Sailthru is done with a lone job that finished: its slot may take the next job
        while the outcome is committed (the job stays leased, and heartbeated, until then)."""
        if len(self._settling) < self._config.concurrency:
            self._settling.add(job_id)
            self._wake.set()

    async def _sleep_or_wake(self, delay: float) -> None:
        """Until `wake` (or a delivery ended) since the last look, at most ``delay``."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        self._wake.clear()

    async def _sleep_unless_stopped(self, delay: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

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
                    store_failed("extending leases", error)

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
