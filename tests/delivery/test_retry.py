"""Retry delays: exponential with full jitter, capped, inside a window."""

import random

from sailbridge.delivery.retry import RetryPolicy


def test_ceiling_doubles_from_min_to_max() -> None:
    policy = RetryPolicy(min_delay=10, max_delay=300, window=3600)
    assert [policy.ceiling(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_delays_are_jittered_below_the_ceiling() -> None:
    policy = RetryPolicy(min_delay=10, max_delay=300, window=3600, rng=random.Random(1))
    delays = [policy.delay(4) for _ in range(200)]
    assert all(1 <= d <= 80 for d in delays)
    assert len({round(d, 3) for d in delays}) > 150


def test_no_retry_after_the_window() -> None:
    policy = RetryPolicy(min_delay=10, max_delay=300, window=100, rng=random.Random(2))
    assert policy.next_attempt_at(first_attempt_at=0, now=10, failures=1) is not None
    assert policy.next_attempt_at(first_attempt_at=0, now=101, failures=1) is None
