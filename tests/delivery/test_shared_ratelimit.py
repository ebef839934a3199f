"""Rate limits shared through PostgreSQL: several nodes together stay within them.

Each limiter has its own pool, as separate nodes would; they meet only in the database.
Real time: the limiter sleeps for real, on the database's clock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from sailbridge.delivery.senders import RateLimitedSender
from sailbridge.delivery.shared_ratelimit import SharedRateLimiter
from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.client import SailthruResponse
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.postgres.connection import open_pool
from sailbridge.store.postgres.ratelimit import PostgresSlots
from tests.store.postgres_server import (  # noqa: F401 - fixtures, registered by being imported
    postgres_database,
    postgres_url,
)


@pytest.fixture
async def pools(postgres_url: str) -> AsyncIterator[list[AsyncConnectionPool]]:
    """Two nodes' limiter pools on the migrated test database."""
    await (await PostgresStore.open(postgres_url)).close()  # the schema, rate_limits too
    opened = [await open_pool(postgres_url, max_size=8) for _ in range(2)]
    yield opened
    for pool in opened:
        await pool.close()


@pytest.fixture
def route() -> str:
    return f"POST user-{uuid.uuid4().hex[:6]}"  # a route no other test has used


async def test_nodes_together_stay_within_the_limit(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    limiters = [SharedRateLimiter(PostgresSlots(pool), {route: 50.0}) for pool in pools]
    began = time.time()
    deadline = began + 2.0
    granted: list[float] = []

    async def caller(limiter: SharedRateLimiter) -> None:
        while time.time() < deadline:
            await limiter.acquire(route)
            granted.append(time.time())

    await asyncio.gather(*(caller(limiter) for limiter in limiters for _ in range(6)))

    within = [at for at in granted if at < deadline]
    assert len(within) <= 2.0 * 50 + 1
    assert len(within) >= 2.0 * 50 * 0.8  # and the limit is actually used, not starved
    assert all(limiter.waited_seconds.get(route, 0) > 0 for limiter in limiters)


async def test_a_block_seen_by_one_node_holds_for_the_others(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    waits: list[float] = []
    first = SharedRateLimiter(PostgresSlots(pools[0]), {route: 100.0})
    second = SharedRateLimiter(
        PostgresSlots(pools[1]), {route: 100.0}, on_wait=lambda r, seconds: waits.append(seconds)
    )
    await second.acquire(route)

    first.block(route, time.time() + 0.6)
    await first._flush(route)
    began = time.monotonic()
    await second.acquire(route)

    assert time.monotonic() - began >= 0.45
    assert waits and waits[0] >= 0.45


async def test_nothing_remaining_on_one_node_closes_the_route_for_all(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    first, second = (SharedRateLimiter(PostgresSlots(pool), {route: 100.0}) for pool in pools)

    first.observe(route, RateLimitInfo(limit=40, remaining=0, reset=int(time.time()) + 2))
    await first._flush(route)
    began = time.monotonic()
    await second.acquire(route)

    assert time.monotonic() - began >= 0.9


async def test_a_429_whose_reset_already_passed_holds_every_node_only_briefly(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    first, second = (SharedRateLimiter(PostgresSlots(pool), {route: 100.0}) for pool in pools)
    await second.acquire(route)

    first.block(route, time.time() - 1)  # the window rolled over before the answer came
    await first._flush(route)
    began = time.monotonic()
    await second.acquire(route)

    assert 0.02 <= time.monotonic() - began < 0.5


async def test_many_calls_waiting_on_one_node_share_the_slots_fairly(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    limiter = SharedRateLimiter(PostgresSlots(pools[0]), {route: 200.0})
    granted: list[float] = []

    async def call() -> None:
        await limiter.acquire(route)
        granted.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(call() for _ in range(60)))

    assert len(granted) == 60
    assert time.monotonic() - began >= 59 / 200.0 - 0.02  # one slot each, 5 ms apart
    gaps = [b - a for a, b in zip(sorted(granted), sorted(granted)[1:], strict=False)]
    assert sum(gaps) / len(gaps) >= 0.8 / 200.0


async def test_a_block_set_while_a_call_waits_defers_it(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    first, second = (SharedRateLimiter(PostgresSlots(pool), {route: 2.0}) for pool in pools)
    await second.acquire(route)  # takes the free slot; the next is 0.5 s away
    began = time.monotonic()
    waiting = asyncio.create_task(second.acquire(route))
    await asyncio.sleep(0.2)

    first.block(route, None)  # a 429 without a reset: about one second
    await waiting

    assert time.monotonic() - began >= 1.1


async def test_without_the_database_a_node_paces_itself(postgres_url: str, route: str) -> None:
    pool = await open_pool(postgres_url)
    limiter = SharedRateLimiter(PostgresSlots(pool), {route: 10.0})
    await pool.close()

    began = time.monotonic()
    for _ in range(3):
        await limiter.acquire(route)

    assert 0.15 <= time.monotonic() - began < 1.0


class _ThrottledOnce:
    """A sender that answers 429 once, then succeeds."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, call: Call) -> SailthruResponse:
        from sailbridge.sailthru.errors import RateLimitedError

        self.calls += 1
        if self.calls == 1:
            raise RateLimitedError(
                "Too Many Requests", route=call.route, status=429, reset_at=time.time() + 0.5
            )
        return SailthruResponse(status=200, body={"ok": True}, rate_limit=None, seconds=0.0)


async def test_the_rate_limited_sender_uses_it_unchanged(
    pools: list[AsyncConnectionPool], route: str
) -> None:
    call = Call("POST", f"user-{route}", {"id": "u1"})
    limiter = SharedRateLimiter(PostgresSlots(pools[0]), {call.route: 100.0})
    client = _ThrottledOnce()
    sender = RateLimitedSender(client, limiter)
    began = time.monotonic()

    await sender.send(call)

    assert client.calls == 2  # the 429 was absorbed and the call sent again
    assert time.monotonic() - began >= 0.4


@pytest.mark.parametrize("signal", ["429", "nothing remaining"])
async def test_a_reset_an_hour_ahead_holds_every_node_only_the_longest_block(
    pools: list[AsyncConnectionPool], route: str, signal: str
) -> None:
    first, second = (
        SharedRateLimiter(PostgresSlots(pool), {route: 100.0}, max_block=0.5) for pool in pools
    )
    await second.acquire(route)

    reset = int(time.time()) + 3600  # far past Sailthru's minute window
    if signal == "429":
        first.block(route, reset)
    else:
        first.observe(route, RateLimitInfo(limit=40, remaining=0, reset=reset))
    await first._flush(route)
    began = time.monotonic()
    await second.acquire(route)

    assert 0.35 <= time.monotonic() - began < 1.5
