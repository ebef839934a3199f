"""The worker against the sandbox: each decision carried out in a real store.

Real HTTP to the sandbox Sailthru, a real SQLite file or PostgreSQL database, the
real client, rate limiter and 429-absorbing sender; the worker runs its own loop and
the tests watch the store. Time is real, with a policy scaled down to fractions of a
second so that backoffs, windows and rate-limit blocks happen within a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sailbridge.delivery.executor import Outcome
from sailbridge.delivery.lines import single_account
from sailbridge.delivery.observers import DeliveryObserver
from sailbridge.delivery.ratelimit import RateLimiter
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.delivery.senders import RateLimitedSender
from sailbridge.delivery.worker import Worker, WorkerConfig
from sailbridge.events import event_from_dict
from sailbridge.mapping import ordering_keys
from sailbridge.mapping.options import MappingOptions
from sailbridge.sailthru.client import SailthruClient
from sailbridge.sandbox.server import SandboxHandle
from sailbridge.settings import DEFAULT_RATE_LIMITS
from sailbridge.store.base import FINAL_STATES, Job, JobState, NewJob, Result, Store
from sailbridge.store.factory import is_postgres_url
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.sqlite import SqliteStore
from sailbridge.wiring import rate_limiter
from tests.store.postgres_server import (  # noqa: F401 - fixture, registered by import
    empty_database,
    postgres_database,
)

FAR_WINDOW = 10_000_000.0
"""A sandbox rate-limit window of ~115 days: its X-Rate-Limit-Reset is far ahead (unless
the next boundary happens to be near, which `far_reset` rules out)."""
BLOCK = 0.3
"""The policy's longest rate-limit block in these tests."""


class HighestDraw(random.Random):
    """Backoffs at their ceiling, so the retry window arithmetic is exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


POLICY = RetryPolicy(
    min_delay=0.2,
    max_delay=1.0,
    window=0.5,
    rate_limit_resends=2,
    max_rate_limit_block=BLOCK,
    rng=HighestDraw(),
)
CONFIG = WorkerConfig(
    concurrency=4,
    lease=5.0,
    idle_poll=0.01,
    max_idle_poll=0.05,
    pause_probe_interval=0.2,
    drain_timeout=5.0,
)


@dataclass
class Seen(DeliveryObserver):
    """What the worker reported, attempt by attempt."""

    results: list[tuple[int, Result]] = field(default_factory=list)

    def outcome(self, job: Job, outcome: Outcome, result: Result, seconds: float) -> None:
        self.results.append((job.id, result))


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the store lives: a SQLite file, or an emptied PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "sailbridge.db")
    url: str = request.getfixturevalue("postgres_database")
    await empty_database(url)
    return url


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    opened: Store
    if is_postgres_url(database):
        opened = await PostgresStore.open(database, max_size=4)
    else:
        opened = await SqliteStore.open(database)
    yield opened
    await opened.close()


@dataclass
class Rig:
    """A worker's parts: the store, a sender stack like the service's, an observer."""

    sandbox: SandboxHandle
    database: str
    store: Store
    session: aiohttp.ClientSession
    resources: contextlib.AsyncExitStack
    default_limiter: RateLimiter
    seen: Seen = field(default_factory=Seen)

    def sender(
        self, secret: str | None = None, limiter: RateLimiter | None = None
    ) -> RateLimitedSender:
        client = SailthruClient(
            self.session,
            api_key=self.sandbox.config.api_key,
            api_secret=secret or self.sandbox.config.api_secret,
            base_url=self.sandbox.url,
            pageview_base_url=self.sandbox.url,
            customer_id=self.sandbox.config.customer_id,
            timeout=5.0,
        )
        return RateLimitedSender(client, limiter or self.default_limiter, POLICY.rate_limit_resends)

    async def limiter(self, max_block: float = POLICY.max_rate_limit_block) -> RateLimiter:
        """The limiter the service would pick for this store (shared on PostgreSQL)."""
        return await self.resources.enter_async_context(
            rate_limiter(self.database, DEFAULT_RATE_LIMITS, max_block=max_block)
        )

    def worker(self, sender: RateLimitedSender, policy: RetryPolicy = POLICY) -> Worker:
        return Worker(
            self.store,
            single_account(sender, MappingOptions()),
            policy,
            cart_ttl=600,
            config=CONFIG,
            observer=self.seen,
        )

    async def enqueue(self, *raws: dict[str, Any]) -> list[int]:
        now = time.time()
        jobs = []
        for raw in raws:
            event = event_from_dict(raw)
            jobs.append(
                NewJob(
                    write_key="wk",
                    message_id=event.message_id,
                    event=raw,
                    event_type=event.type,
                    user_key=event.user_key or "",
                    ordering_keys=ordering_keys(event),
                    received_at=now,
                )
            )
        result = await self.store.enqueue(jobs, [], 0.0, now)
        return list(result.job_ids)

    async def job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        assert job is not None
        return job


@pytest.fixture
async def rig(sandbox: SandboxHandle, database: str, store: Store) -> AsyncIterator[Rig]:
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as resources:
        limiter = await resources.enter_async_context(
            rate_limiter(database, DEFAULT_RATE_LIMITS, max_block=POLICY.max_rate_limit_block)
        )
        yield Rig(sandbox, database, store, session, resources, limiter)


async def running(worker: Worker, until: Callable[[], Any], timeout: float = 10.0) -> None:
    """Run ``worker`` until the async predicate ``until`` holds, then stop it."""
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + timeout
        while not await until():
            assert time.monotonic() < deadline, "the worker did not get there in time"
            assert not task.done(), "the worker stopped on its own"
            await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await task


def identify(user: str, email: str | None = None) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "messageId": f"m-{user}",
        "traits": {"email": email or f"{user}@example.com"},
    }


def finished(rig: Rig, job_id: int) -> Callable[[], Any]:
    async def check() -> bool:
        return (await rig.job(job_id)).state in FINAL_STATES

    return check


def far_reset(sandbox: SandboxHandle) -> None:
    """The sandbox's next boundary of ``FAR_WINDOW`` is hours ahead (else the test could
    not tell a capped block from an honoured reset)."""
    assert FAR_WINDOW - time.time() % FAR_WINDOW > 7200


# ---------------------------------------------------------------- finish


async def test_a_delivered_event_finishes_with_one_recorded_attempt(rig: Rig) -> None:
    [job_id] = await rig.enqueue(identify("ann"))
    await running(rig.worker(rig.sender()), finished(rig, job_id))

    job = await rig.job(job_id)
    assert (job.state, job.attempts, job.reason) == (JobState.DELIVERED, 1, None)
    assert [a.outcome for a in job.history] == [Result.DELIVERED]
    assert job.history[0].requests[0]["endpoint"] == "/user"
    assert rig.seen.results == [(job_id, Result.DELIVERED)]
    assert rig.sandbox.user("ann") is not None


async def test_a_skipped_event_finishes_skipped_with_the_reason(rig: Rig) -> None:
    [job_id] = await rig.enqueue(
        {"type": "group", "userId": "ann", "groupId": "g1", "messageId": "m-group"}
    )
    await running(rig.worker(rig.sender()), finished(rig, job_id))

    job = await rig.job(job_id)
    assert job.state is JobState.SKIPPED and job.reason
    assert [a.outcome for a in job.history] == [Result.SKIPPED]
    assert rig.seen.results == [(job_id, Result.SKIPPED)]


async def test_a_permanent_error_is_dead_at_once_with_sailthrus_answer(rig: Rig) -> None:
    [job_id] = await rig.enqueue(identify("ann", email="ann-at-example"))
    await running(rig.worker(rig.sender()), finished(rig, job_id))

    job = await rig.job(job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 1)
    assert [a.outcome for a in job.history] == [Result.DEAD]
    assert job.history[0].code == 11 and job.reason == job.history[0].message
    assert rig.seen.results == [(job_id, Result.DEAD)]


async def test_a_stored_event_that_no_longer_reads_is_dead_with_the_reason(rig: Rig) -> None:
    now = time.time()
    result = await rig.store.enqueue(
        [
            NewJob(
                write_key="wk",
                message_id="m-old",
                event={"type": "screenview", "userId": "ann"},
                event_type="screenview",
                user_key="ann",
                ordering_keys=("ann",),
                received_at=now,
            )
        ],
        [],
        0.0,
        now,
    )
    [job_id] = result.job_ids
    await running(rig.worker(rig.sender()), finished(rig, job_id))

    job = await rig.job(job_id)
    assert job.state is JobState.DEAD and job.reason
    assert [a.outcome for a in job.history] == [Result.DEAD]
    assert rig.sandbox.requests() == []


# ---------------------------------------------------------------- retry, then dead


async def test_a_retryable_error_is_retried_then_dead_when_the_window_is_spent(rig: Rig) -> None:
    rig.sandbox.configure(fail_rate=1.0)
    [job_id] = await rig.enqueue(identify("ann"))
    # First failure: back off 1 s, inside the 1.9 s window (if the call took under
    # 0.9 s); second: 2 s more would end past it, so it gives up, naming the attempts.
    policy = RetryPolicy(min_delay=1.0, max_delay=10.0, window=1.9, rng=HighestDraw())
    await running(rig.worker(rig.sender(), policy), finished(rig, job_id))

    job = await rig.job(job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 2)
    assert [a.outcome for a in job.history] == [Result.RETRY, Result.DEAD]
    assert job.reason is not None
    assert job.reason.startswith("gave up after 2 attempts over the retry window: ")
    assert job.first_attempt_at == job.history[0].at
    assert job.history[1].at - job.history[0].at >= 1.0  # the backoff was waited out
    assert rig.seen.results == [(job_id, Result.RETRY), (job_id, Result.DEAD)]


async def test_a_retried_job_goes_back_to_the_queue_counting_the_attempt(rig: Rig) -> None:
    rig.sandbox.configure(fail_rate=1.0)
    [job_id] = await rig.enqueue(identify("ann"))

    async def retried() -> bool:
        return (await rig.job(job_id)).attempts == 1

    await running(rig.worker(rig.sender()), retried)
    job = await rig.job(job_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 1)
    assert job.available_at == pytest.approx(job.history[0].at + 0.2, abs=0.5)
    assert job.history[0].status in (500, 200) and job.history[0].outcome is Result.RETRY


# ---------------------------------------------------------------- pause


async def test_refused_credentials_pause_then_the_right_ones_resume(rig: Rig) -> None:
    [job_id] = await rig.enqueue(identify("ann"))

    async def paused() -> bool:
        return await rig.store.paused_reason() is not None

    await running(rig.worker(rig.sender(secret="wrong")), paused)
    reason = await rig.store.paused_reason()
    assert reason is not None and "refused the credentials on POST /user" in reason
    job = await rig.job(job_id)
    assert (job.state, job.attempts, job.history) == (JobState.PENDING, 0, [])
    assert rig.seen.results == [(job_id, Result.PAUSED)]

    await running(rig.worker(rig.sender()), finished(rig, job_id))
    assert (await rig.job(job_id)).state is JobState.DELIVERED
    assert await rig.store.paused_reason() is None


# ---------------------------------------------------------------- 429s


async def test_an_exhausted_429_budget_releases_the_job_without_counting_it(rig: Rig) -> None:
    far_reset(rig.sandbox)
    rig.sandbox.configure(rate_limits={"POST /user": 0}, rate_limit_window=FAR_WINDOW)
    [job_id] = await rig.enqueue(identify("ann"))
    began = time.time()

    async def released() -> bool:
        return bool(rig.seen.results)

    await running(rig.worker(rig.sender()), released)
    elapsed = time.time() - began
    job = await rig.job(job_id)
    assert rig.seen.results == [(job_id, Result.RELEASED)]
    assert (job.state, job.attempts, job.first_attempt_at, job.history) == (
        JobState.PENDING,
        0,
        None,
        [],
    )
    # Sent once and resent twice, each after a block capped at 0.3 s, though every
    # 429 said the window resets months from now; the job waits out one more block.
    throttled = [r for r in rig.sandbox.requests() if r["status"] == 429]
    assert len(throttled) == 1 + POLICY.rate_limit_resends
    assert elapsed < 5.0
    assert began < job.available_at <= time.time() + BLOCK + 0.05

    # Once Sailthru has room again, the released job is delivered within a block.
    rig.sandbox.configure(rate_limits={"POST /user": 100})
    await running(rig.worker(rig.sender()), finished(rig, job_id), timeout=5.0)
    job = await rig.job(job_id)
    assert (job.state, job.attempts) == (JobState.DELIVERED, 1)
    assert [a.outcome for a in job.history] == [Result.DELIVERED]


async def test_nothing_remaining_with_a_reset_far_ahead_holds_the_route_one_block(rig: Rig) -> None:
    far_reset(rig.sandbox)
    rig.sandbox.configure(rate_limits={"POST /user": 1}, rate_limit_window=FAR_WINDOW)
    limiter = await rig.limiter(max_block=2.0)  # long enough to outlast restarting the worker
    sender = rig.sender(limiter=limiter)
    [first] = await rig.enqueue(identify("ann"))
    await running(rig.worker(sender), finished(rig, first))
    answer = rig.sandbox.requests()[-1]
    assert answer["status"] == 200  # the one call the window allows: nothing remains

    rig.sandbox.configure(rate_limits={"POST /user": 100})
    [second] = await rig.enqueue(identify("bob"))
    began = time.monotonic()
    await running(rig.worker(sender), finished(rig, second), timeout=6.0)

    # The route waited out the rest of a 2 s block, not the months to the reset.
    assert (await rig.job(second)).state is JobState.DELIVERED
    assert 0.5 <= limiter.waited_seconds["POST /user"] <= 2.05
    assert time.monotonic() - began < 4.0
    assert not [r for r in rig.sandbox.requests() if r["status"] == 429]
