"""Per-route use of Sailthru's rate limits over the last minute."""

from __future__ import annotations

from sailbridge.route_usage import RouteUsage
from sailbridge.sailthru.errors import RateLimitInfo


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_calls_and_429s_count_for_one_minute_then_fall_out() -> None:
    clock = Clock(10_000.0)
    usage = RouteUsage(clock)
    usage.record("POST /user", 200, RateLimitInfo(limit=300, remaining=299, reset=10_060))
    clock.now += 30
    usage.record("POST /user", 429, None)
    usage.record("POST /event", 200, None)

    now = usage.snapshot()
    assert (now["POST /user"].calls_last_minute, now["POST /user"].throttled_last_minute) == (2, 1)
    assert now["POST /user"].sailthru == RateLimitInfo(limit=300, remaining=299, reset=10_060)
    assert now["POST /event"].sailthru is None

    clock.now += 45  # the first call is more than a minute old now
    later = usage.snapshot()
    assert (later["POST /user"].calls_last_minute, later["POST /user"].throttled_last_minute) == (
        1,
        1,
    )
    clock.now += 3600  # a second reused by the ring much later starts from zero
    usage.record("POST /user", 200, None)
    assert usage.snapshot()["POST /user"].calls_last_minute == 1


def test_metrics_show_the_limit_and_the_share_used_while_the_window_lasts() -> None:
    clock = Clock(10_000.0)
    usage = RouteUsage(clock)
    usage.record("POST /user", 200, RateLimitInfo(limit=18_000, remaining=13_500, reset=10_060))
    usage.record("POST /event", 200, None)  # no headers: nothing to show

    def samples() -> dict[tuple[str, str], float]:
        return {
            (sample.name, sample.labels["route"]): sample.value
            for family in usage.collect()
            for sample in family.samples
        }

    assert samples() == {
        ("sailbridge_sailthru_rate_limit", "POST /user"): 18_000,
        ("sailbridge_sailthru_rate_limit_used_ratio", "POST /user"): 0.25,
    }
    clock.now = 10_060  # the window has reset: the share is no longer known
    assert samples() == {("sailbridge_sailthru_rate_limit", "POST /user"): 18_000}
