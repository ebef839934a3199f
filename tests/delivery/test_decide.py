"""`decide`: what each attempt's outcome means for its job — every rule, every edge.

Pure: a job, an outcome, a policy and a time in; a decision out. The errors are made
by the real classifier (`sailbridge.sailthru.errors.classify`) from the HTTP answers
Sailthru gives, so a change of classification shows up here as a change of decision.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sailbridge.delivery.decide import Decision, Finish, Pause, Release, RetryAt, decide
from sailbridge.delivery.executor import Outcome
from sailbridge.delivery.ratelimit import DEFAULT_BLOCK_SECONDS, PAST_RESET_BLOCK_SECONDS
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.errors import (
    CredentialsError,
    PermanentError,
    RateLimitedError,
    RateLimitInfo,
    RetryableError,
    SailthruError,
    TransportError,
    classify,
)
from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK
from sailbridge.store.base import FINAL_STATES, Job, JobState, Result

NOW = 10_000.0
ROUTE = "POST /user"


class HighestDraw(random.Random):
    """Jitter that always draws the ceiling, so the backoff arithmetic is exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class LowestDraw(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def policy(**fields: Any) -> RetryPolicy:
    values: dict[str, Any] = {
        "min_delay": 10.0,
        "max_delay": 300.0,
        "window": 3600.0,
        "rng": HighestDraw(),
    }
    return RetryPolicy(**{**values, **fields})


def job(attempts: int = 0, first_attempt_at: float | None = None) -> Job:
    return Job(
        id=1,
        write_key="wk",
        message_id="m-1",
        event={"type": "identify"},
        event_type="identify",
        user_key="u1",
        ordering_keys=("u1",),
        state=JobState.CLAIMED,
        attempts=attempts,
        received_at=NOW - 100,
        first_attempt_at=first_attempt_at,
        available_at=NOW - 100,
    )


def failed(error: SailthruError | None, reason: str | None = None) -> Outcome:
    return Outcome(
        Result.FAILED, reason if reason is not None or error is None else error.message, error=error
    )


def answer(status: int, body: Any = None, reset: int | None = None) -> SailthruError:
    """The error the client raises for this HTTP answer on ``ROUTE``."""
    info = RateLimitInfo(limit=300, remaining=0, reset=reset) if reset is not None else None
    error = classify(ROUTE, status, body if body is not None else {}, info)
    assert error is not None, "a success, not an error"
    return error


# ---------------------------------------------------------------- successes


def test_a_delivered_event_finishes_delivered() -> None:
    outcome = Outcome(Result.DELIVERED, calls=[Call("POST", "/user", {"id": "u1"})])
    assert decide(job(), outcome, policy(), NOW) == Finish(Result.DELIVERED)


def test_a_delivery_after_failures_finishes_delivered_whatever_the_window() -> None:
    late = job(attempts=9, first_attempt_at=NOW - 10 * 3600)
    assert decide(late, Outcome(Result.DELIVERED), policy(), NOW) == Finish(Result.DELIVERED)


def test_a_skipped_event_finishes_skipped_with_its_reason() -> None:
    outcome = Outcome(Result.SKIPPED, "group calls are not sent to Sailthru")
    assert decide(job(), outcome, policy(), NOW) == Finish(
        Result.SKIPPED, "group calls are not sent to Sailthru"
    )


# ---------------------------------------------------------------- never deliverable


def test_a_mapping_failure_is_dead_at_once_with_its_reason() -> None:
    outcome = failed(None, "Nothing to remove from Incomplete Cart for this user.")
    assert decide(job(), outcome, policy(), NOW) == Finish(
        Result.DEAD, "Nothing to remove from Incomplete Cart for this user."
    )


def test_an_event_that_no_longer_reads_is_dead_like_a_mapping_failure() -> None:
    # What the worker reports for a stored event an older model wrote.
    outcome = failed(None, "unknown event type 'screenview'")
    assert decide(job(attempts=2, first_attempt_at=NOW - 60), outcome, policy(), NOW) == Finish(
        Result.DEAD, "unknown event type 'screenview'"
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": 11, "errormsg": "Invalid email"}),
        (400, {"error": 99, "errormsg": "User not found with extid: x"}),
        (200, {"error": 14, "errormsg": "Unknown template"}),  # an error at HTTP 200
        (400, {"error": 2, "errormsg": "Missing required parameter"}),
        (404, "Not Found"),
        (413, None),
    ],
)
def test_a_permanent_error_is_dead_at_once_with_sailthrus_message(status: int, body: Any) -> None:
    error = answer(status, body)
    assert isinstance(error, PermanentError)
    decision = decide(job(), failed(error), policy(), NOW)
    assert decision == Finish(Result.DEAD, error.message)


def test_a_permanent_error_is_dead_at_once_even_with_retry_window_left() -> None:
    error = answer(400, {"error": 11, "errormsg": "Invalid email"})
    assert decide(
        job(attempts=1, first_attempt_at=NOW - 5), failed(error), policy(), NOW
    ) == Finish(Result.DEAD, "Invalid email")


def test_an_unclassified_sailthru_error_is_dead_not_retried() -> None:
    error = SailthruError("something odd", route=ROUTE, status=302)
    assert decide(job(), failed(error), policy(), NOW) == Finish(Result.DEAD, "something odd")


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (401, {"error": 5, "errormsg": "Invalid signature"}, " (error 5)"),
        (200, {"error": 3, "errormsg": "Invalid API key"}, " (error 3)"),
        (400, {"error": 4, "errormsg": "Your IP is not allowed"}, " (error 4)"),
        (401, "Unauthorized", ""),
    ],
)
def test_refused_credentials_pause_delivery_and_name_the_route(
    status: int, body: Any, shown: str
) -> None:
    error = answer(status, body)
    assert isinstance(error, CredentialsError)
    decision = decide(job(), failed(error), policy(), NOW)
    assert decision == Pause(f"Sailthru refused the credentials on {ROUTE}: {error.message}{shown}")


def test_refused_credentials_pause_even_when_the_retry_window_is_spent() -> None:
    # A pause is not an attempt: the job waits for the fix, it does not die of it.
    error = answer(401, {"error": 5, "errormsg": "Invalid signature"})
    spent = job(attempts=30, first_attempt_at=NOW - 10 * 3600)
    assert isinstance(decide(spent, failed(error), policy(), NOW), Pause)


# ---------------------------------------------------------------- 429: not a failure


def test_an_exhausted_429_budget_releases_the_job_until_the_reset() -> None:
    error = answer(429, {"error": 43, "errormsg": "Too many requests"}, reset=int(NOW) + 20)
    assert isinstance(error, RateLimitedError)
    decision = decide(job(), failed(error), policy(), NOW)
    assert decision == Release(
        NOW + 20, f"Sailthru kept answering 429 on {ROUTE}: Too many requests"
    )


def test_error_43_at_http_200_is_a_rate_limit_too() -> None:
    error = answer(200, {"error": 43, "errormsg": "Rate limit"}, reset=int(NOW) + 5)
    assert isinstance(decide(job(), failed(error), policy(), NOW), Release)


def test_an_exhausted_429_budget_is_never_a_counted_attempt_nor_a_retry() -> None:
    # RateLimitedError subclasses RetryableError; the rule for it must come first.
    error = answer(429, reset=int(NOW) + 20)
    assert isinstance(error, RetryableError)
    decision = decide(job(attempts=3, first_attempt_at=NOW - 600), failed(error), policy(), NOW)
    assert isinstance(decision, Release)
    assert decision.result is Result.RELEASED


def test_rate_limits_never_kill_a_job_even_past_the_retry_window() -> None:
    error = answer(429, reset=int(NOW) + 20)
    spent = job(attempts=12, first_attempt_at=NOW - 5 * 3600)
    assert decide(spent, failed(error), policy(window=3600), NOW) == Release(
        NOW + 20, f"Sailthru kept answering 429 on {ROUTE}: HTTP 429"
    )


def test_a_reset_an_hour_ahead_holds_the_job_only_for_the_longest_block() -> None:
    error = answer(429, reset=int(NOW) + 3600)
    assert decide(job(), failed(error), policy(), NOW) == Release(
        NOW + DEFAULT_MAX_RATE_LIMIT_BLOCK, f"Sailthru kept answering 429 on {ROUTE}: HTTP 429"
    )
    short = decide(job(), failed(error), policy(max_rate_limit_block=2.5), NOW)
    assert isinstance(short, Release) and short.at == NOW + 2.5


def test_a_reset_exactly_at_the_longest_block_is_kept() -> None:
    error = answer(429, reset=int(NOW) + 65)
    decision = decide(job(), failed(error), policy(max_rate_limit_block=65.0), NOW)
    assert isinstance(decision, Release) and decision.at == NOW + 65


def test_a_429_without_a_reset_releases_for_the_short_default_block() -> None:
    error = answer(429)
    decision = decide(job(), failed(error), policy(), NOW)
    assert isinstance(decision, Release) and decision.at == NOW + DEFAULT_BLOCK_SECONDS


def test_a_429_whose_reset_passed_releases_at_once_but_for_clock_skew() -> None:
    error = answer(429, reset=int(NOW) - 3)
    decision = decide(job(), failed(error), policy(), NOW)
    assert isinstance(decision, Release) and decision.at == NOW + PAST_RESET_BLOCK_SECONDS


# ---------------------------------------------------------------- retryable failures


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": 9, "errormsg": "Internal error"}),
        (200, {"error": 9, "errormsg": "Internal error"}),  # error 9 at HTTP 200
        (503, "Service Unavailable"),
        (502, None),
        (408, None),
    ],
)
def test_a_retryable_error_retries_after_the_first_backoff_step(status: int, body: Any) -> None:
    error = answer(status, body)
    assert type(error) is RetryableError
    assert decide(job(), failed(error), policy(), NOW) == RetryAt(NOW + 10, error.message)


def test_a_dropped_connection_or_timeout_is_retried() -> None:
    error = TransportError("timed out after 30 s", route=ROUTE)
    assert decide(job(), failed(error), policy(), NOW) == RetryAt(NOW + 10, "timed out after 30 s")


def test_a_failed_lookup_is_decided_like_a_failed_call() -> None:
    error = answer(500, {"error": 9, "errormsg": "Internal error"})
    outcome = Outcome(Result.FAILED, error.message, calls=[], error=error)
    assert isinstance(decide(job(), outcome, policy(), NOW), RetryAt)


@pytest.mark.parametrize(
    ("attempts", "ceiling"), [(0, 10), (1, 20), (2, 40), (3, 80), (4, 160), (5, 300), (20, 300)]
)
def test_the_backoff_doubles_with_each_counted_attempt_up_to_the_max(
    attempts: int, ceiling: float
) -> None:
    error = answer(500)
    decision = decide(
        job(attempts=attempts, first_attempt_at=NOW - 1),
        failed(error),
        policy(window=10 * 3600),
        NOW,
    )
    assert decision == RetryAt(NOW + ceiling, "HTTP 500")


def test_the_backoff_never_draws_below_a_tenth_of_the_minimum() -> None:
    decision = decide(job(), failed(answer(500)), policy(rng=LowestDraw()), NOW)
    assert decision == RetryAt(NOW + 1.0, "HTTP 500")


def test_the_backoff_is_jittered_between_a_tenth_of_the_minimum_and_the_ceiling() -> None:
    jittered = policy(rng=random.Random(3))
    ats = []
    for _ in range(200):
        decision = decide(
            job(attempts=3, first_attempt_at=NOW - 1), failed(answer(500)), jittered, NOW
        )
        assert isinstance(decision, RetryAt)
        ats.append(decision.at)
    assert all(NOW + 1 <= at <= NOW + 80 for at in ats)
    assert len({round(at, 3) for at in ats}) > 150


# ---------------------------------------------------------------- retry window edges


def test_a_retry_landing_exactly_at_the_end_of_the_window_is_made() -> None:
    # window 100 s from the first attempt at NOW - 90; the next try at NOW + 10 = its end.
    decision = decide(
        job(attempts=1, first_attempt_at=NOW - 90),
        failed(answer(500)),
        policy(min_delay=5, window=100),
        NOW,
    )
    assert decision == RetryAt(NOW + 10, "HTTP 500")


def test_a_retry_landing_just_past_the_window_gives_up_naming_the_attempts() -> None:
    decision = decide(
        job(attempts=1, first_attempt_at=NOW - 90.001),
        failed(answer(500)),
        policy(min_delay=5, window=100),
        NOW,
    )
    assert decision == Finish(
        Result.DEAD, "gave up after 2 attempts over the retry window: HTTP 500"
    )


def test_a_window_spent_long_ago_gives_up_at_the_next_failure() -> None:
    error = answer(503, {"error": 9, "errormsg": "Internal error"})
    decision = decide(
        job(attempts=7, first_attempt_at=NOW - 5 * 3600),
        failed(error),
        policy(window=4 * 3600),
        NOW,
    )
    assert decision == Finish(
        Result.DEAD, "gave up after 8 attempts over the retry window: Internal error"
    )


def test_the_first_failures_window_starts_when_its_attempt_began() -> None:
    # A 95 s first attempt in a 100 s window: counted from its start the next try
    # (10 s later) falls outside it; counted from its end it would not.
    slow = policy(window=100)
    assert decide(job(), failed(answer(500)), slow, NOW, started=NOW - 95) == Finish(
        Result.DEAD, "gave up after 1 attempts over the retry window: HTTP 500"
    )
    assert decide(job(), failed(answer(500)), slow, NOW) == RetryAt(NOW + 10, "HTTP 500")


def test_a_job_already_failing_keeps_its_first_attempt_as_the_window_start() -> None:
    decision = decide(
        job(attempts=1, first_attempt_at=NOW - 50),
        failed(answer(500)),
        policy(window=100),
        NOW,
        started=NOW - 1,
    )
    assert decision == RetryAt(NOW + 20, "HTTP 500")


def test_a_window_shorter_than_the_first_backoff_gives_up_at_once() -> None:
    decision = decide(job(), failed(answer(500)), policy(window=5), NOW)
    assert decision == Finish(
        Result.DEAD, "gave up after 1 attempts over the retry window: HTTP 500"
    )


# ---------------------------------------------------------------- one vocabulary


def test_each_decision_says_what_the_attempt_came_to() -> None:
    decisions: list[Decision] = [
        Finish(Result.DELIVERED),
        Finish(Result.SKIPPED, "x"),
        Finish(Result.DEAD, "x"),
        RetryAt(1.0, "x"),
        Pause("x"),
        Release(1.0, "x"),
    ]
    assert [d.result for d in decisions] == [
        Result.DELIVERED,
        Result.SKIPPED,
        Result.DEAD,
        Result.RETRY,
        Result.PAUSED,
        Result.RELEASED,
    ]


def test_a_finished_jobs_state_is_its_result() -> None:
    assert {
        Finish(result).state for result in (Result.DELIVERED, Result.SKIPPED, Result.DEAD)
    } == FINAL_STATES
    assert {Result(state.value) for state in FINAL_STATES} == {
        Result.DELIVERED,
        Result.SKIPPED,
        Result.DEAD,
    }


def test_results_keep_the_words_stored_before_them() -> None:
    # Histories written before the enum existed hold these strings; they must read back.
    assert [Result(word) for word in ("delivered", "skipped", "retry", "dead")] == [
        Result.DELIVERED,
        Result.SKIPPED,
        Result.RETRY,
        Result.DEAD,
    ]
    assert [
        JobState(word) for word in ("pending", "claimed", "delivered", "skipped", "dead")
    ] == list(JobState)
