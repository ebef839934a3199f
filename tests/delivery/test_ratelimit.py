"""Per-route pacing: configured spacing, Sailthru's headers and 429 blocks (clock injected)."""

import asyncio

from sailbridge.delivery.ratelimit import PAST_RESET_BLOCK_SECONDS, RateLimiter, block_target
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK


class FakeTime:
    """A clock that advances only when the limiter sleeps, to check its arithmetic."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)  # let other tasks run "during" the sleep, as a real one would
        self.now += seconds


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_calls_on_one_route_are_spaced_at_the_configured_rate() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /event": 4}, clock=time.clock, sleep=time.sleep)

    async def five() -> None:
        for _ in range(5):
            await limiter.acquire("POST /event")

    run(five())
    assert time.now == 1_001.0  # five calls at 4/s: the fifth at +1 s


def test_one_throttled_route_does_not_delay_another() -> None:
    time = FakeTime()
    limiter = RateLimiter(
        {"POST /purchase": 1, "POST /user": 300}, clock=time.clock, sleep=time.sleep
    )
    limiter.block("POST /purchase", until=1_060)

    run(limiter.acquire("POST /user"))
    assert time.slept == []


def test_zero_remaining_blocks_the_route_until_reset() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /user": 300}, clock=time.clock, sleep=time.sleep)
    limiter.observe("POST /user", RateLimitInfo(limit=300, remaining=0, reset=1_030))
    run(limiter.acquire("POST /user"))
    assert time.now == 1_030
    assert limiter.waited_seconds["POST /user"] == 30


def test_remaining_headroom_does_not_block() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /user": 300}, clock=time.clock, sleep=time.sleep)
    limiter.observe("POST /user", RateLimitInfo(limit=300, remaining=5, reset=1_030))
    run(limiter.acquire("POST /user"))
    assert time.slept == []


def test_nothing_remaining_in_a_window_that_already_ended_does_not_block() -> None:
    # The answer to the last call of a window arrived after the window rolled over:
    # the new window has its full allowance, so there is nothing to wait for.
    time = FakeTime()
    limiter = RateLimiter({"POST /event": 300}, clock=time.clock, sleep=time.sleep)
    limiter.observe("POST /event", RateLimitInfo(limit=300, remaining=0, reset=1_000))
    run(limiter.acquire("POST /event"))
    assert time.slept == []


def test_a_429_whose_reset_already_passed_pauses_only_for_clock_skew() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /event": 300}, clock=time.clock, sleep=time.sleep)
    limiter.block("POST /event", until=999.0)
    run(limiter.acquire("POST /event"))
    assert 0 < time.now - 1_000 <= 0.1


def test_block_without_reset_pauses_briefly() -> None:
    time = FakeTime()
    limiter = RateLimiter({"GET /user": 300}, clock=time.clock, sleep=time.sleep)
    limiter.block("GET /user", until=None)
    run(limiter.acquire("GET /user"))
    assert 0 < time.now - 1_000 <= 1.0


def test_a_block_set_while_a_call_waits_for_its_slot_defers_that_call() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /event": 10}, clock=time.clock, sleep=time.sleep)

    async def scenario() -> None:
        await limiter.acquire("POST /event")  # slot at 1000.0
        waiting = asyncio.create_task(limiter.acquire("POST /event"))  # slot at 1000.1
        await asyncio.sleep(0)
        limiter.block("POST /event", until=1_002)  # Sailthru: nothing left until 1002
        await waiting

    run(scenario())
    assert time.now >= 1_002


def test_a_429_whose_reset_is_an_hour_ahead_holds_the_route_only_the_longest_block() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /event": 300}, clock=time.clock, sleep=time.sleep)
    limiter.block("POST /event", until=1_000 + 3600)
    run(limiter.acquire("POST /event"))
    assert time.now == 1_000 + DEFAULT_MAX_RATE_LIMIT_BLOCK


def test_nothing_remaining_until_an_hour_ahead_holds_the_route_only_the_longest_block() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /user": 300}, clock=time.clock, sleep=time.sleep, max_block=5.0)
    limiter.observe("POST /user", RateLimitInfo(limit=300, remaining=0, reset=1_000 + 3600))
    run(limiter.acquire("POST /user"))
    assert time.now == 1_005.0
    assert limiter.waited_seconds["POST /user"] == 5.0


def test_a_reset_within_the_longest_block_is_honoured_exactly() -> None:
    time = FakeTime()
    limiter = RateLimiter({"POST /user": 300}, clock=time.clock, sleep=time.sleep, max_block=5.0)
    limiter.block("POST /user", until=1_004)
    run(limiter.acquire("POST /user"))
    assert time.now == 1_004


def test_block_targets_are_capped_whatever_their_kind() -> None:
    assert block_target(1_000 + 3600, now=1_000, max_block=60) == 1_060
    assert block_target(1_030, now=1_000, max_block=60) == 1_030
    assert block_target(None, now=1_000, max_block=0.5) == 1_000.5  # cap below the default
    assert block_target(999, now=1_000, max_block=60) == 1_000 + PAST_RESET_BLOCK_SECONDS
