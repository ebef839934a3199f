"""`judge`: when readiness calls delivery stalled, over every combination of its facts."""

from __future__ import annotations

import itertools

import pytest

from sailbridge.delivery.stall import NOT_RUNNING, STALLED, DeliveryFacts, judge


def facts(
    *,
    running: bool = True,
    idle_for: float = 0.0,
    work_ready: bool = True,
    paused: bool = False,
    rate_limited: bool = False,
) -> DeliveryFacts:
    return DeliveryFacts(
        running=running,
        idle_for=idle_for,
        work_ready=work_ready,
        paused=paused,
        rate_limited=rate_limited,
    )


@pytest.mark.parametrize(
    ("work_ready", "paused", "rate_limited", "idle_for"),
    list(itertools.product([True, False], [True, False], [True, False], [0.0, 10.0, 1000.0])),
)
def test_a_worker_that_is_not_running_is_always_reported(
    work_ready: bool, paused: bool, rate_limited: bool, idle_for: float
) -> None:
    stall = judge(
        facts(
            running=False,
            work_ready=work_ready,
            paused=paused,
            rate_limited=rate_limited,
            idle_for=idle_for,
        ),
        stall_after=60,
    )
    assert stall is not None and stall.code == NOT_RUNNING
    assert "not running" in stall.message


@pytest.mark.parametrize(
    ("work_ready", "paused", "rate_limited", "idle_for", "stalled"),
    [
        (work_ready, paused, limited, idle, work_ready and not paused and not limited and idle > 60)
        for work_ready, paused, limited, idle in itertools.product(
            [True, False], [True, False], [True, False], [0.0, 59.9, 60.0, 60.1, 1e6]
        )
    ],
)
def test_running_it_is_stalled_only_when_idle_too_long_with_work_it_may_do(
    work_ready: bool, paused: bool, rate_limited: bool, idle_for: float, stalled: bool
) -> None:
    stall = judge(
        facts(work_ready=work_ready, paused=paused, rate_limited=rate_limited, idle_for=idle_for),
        stall_after=60,
    )
    if stalled:
        assert stall is not None and stall.code == STALLED
        assert f"{idle_for:.0f} s" in stall.message
        assert "SAILBRIDGE_DELIVERY_STALL_AFTER" in stall.message
    else:
        assert stall is None


def test_a_stall_after_of_zero_turns_the_idle_check_off_but_not_the_running_one() -> None:
    assert judge(facts(idle_for=1e9), stall_after=0) is None
    stall = judge(facts(running=False), stall_after=0)
    assert stall is not None and stall.code == NOT_RUNNING
