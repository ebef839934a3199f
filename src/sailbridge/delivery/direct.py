"""Deliver a list of events straight to Sailthru, in order, with retries: ``sailbridge send``.

No queue: the events are in a file the user can send again, so this path only needs
order, pacing, retries of transient failures within the retry window, and an honest
account of each event's outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from sailbridge.events import Event
from sailbridge.executor import Outcome, deliver_event
from sailbridge.delivery.ratelimit import RateLimitedSender, RateLimiter
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.sailthru.client import SailthruClient
from sailbridge.sailthru.errors import CredentialsError, RetryableError
from sailbridge.settings import Settings
from sailbridge.store.memory import Memory, SqliteMemory


@dataclass
class Attempted:
    """An event's final outcome and how many attempts it took."""

    event: Event
    outcome: Outcome
    attempts: int


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.retry_min_delay, settings.retry_max_delay, settings.retry_window)


@asynccontextmanager
async def sailthru_sender(settings: Settings) -> AsyncIterator[RateLimitedSender]:
    """A rate-limited sender over one pooled HTTP session, closed on exit."""
    api_key, api_secret = settings.credentials()
    async with aiohttp.ClientSession() as session:
        client = SailthruClient(
            session,
            api_key=api_key,
            api_secret=api_secret,
            base_url=settings.sailthru_base_url,
            pageview_base_url=settings.pageview_base_url,
            customer_id=settings.customer_id,
            timeout=settings.request_timeout,
        )
        yield RateLimitedSender(client, RateLimiter(settings.rate_limits_per_second))


async def deliver_with_retries(
    event: Event,
    settings: Settings,
    memory: Memory,
    sender: RateLimitedSender,
    policy: RetryPolicy,
) -> Attempted:
    """Deliver one event, retrying retryable failures until the policy's window ends."""
    first = time.time()
    options = settings.mapping_options()
    attempts = 0
    while True:
        attempts += 1
        outcome = await deliver_event(event, options, memory, sender, settings.cart_memory_ttl)
        if not isinstance(outcome.error, RetryableError):
            return Attempted(event, outcome, attempts)
        retry_at = policy.next_attempt_at(first, time.time(), attempts)
        if retry_at is None:
            return Attempted(event, outcome, attempts)
        await asyncio.sleep(max(0.0, retry_at - time.time()))


async def deliver_all(
    events: Sequence[Event],
    settings: Settings,
    on_done: Callable[[Attempted], None] = lambda _: None,
) -> list[Attempted]:
    """Deliver ``events`` one after another; stop early if Sailthru refuses credentials.

    Events after a credential refusal are reported as failed without a call, since
    every one of them would be refused the same way.
    """
    memory = SqliteMemory(settings.database)
    results: list[Attempted] = []
    try:
        async with sailthru_sender(settings) as sender:
            policy = retry_policy(settings)
            refused: CredentialsError | None = None
            for event in events:
                if refused is not None:
                    outcome = Outcome("failed", f"not sent: {refused.message}", error=refused)
                    attempted = Attempted(event, outcome, 0)
                else:
                    attempted = await deliver_with_retries(event, settings, memory, sender,
                                                           policy)
                    if isinstance(attempted.outcome.error, CredentialsError):
                        refused = attempted.outcome.error
                results.append(attempted)
                on_done(attempted)
    finally:
        memory.close()
    return results
