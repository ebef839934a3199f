"""What one delivery attempt means for its job: a pure decision the worker carries out.

This mirrors the mapping's model (`sailbridge.mapping.plan`): the mapping says what to
send and the executor sends it; here `decide` says what the attempt's outcome means for
the job, and the worker's line delivery (`sailbridge.delivery.lines`) does the store and
pause I/O. All the rules are in this one function:

- delivered or skipped → `Finish` (a success also ends a pause: the worker resumes);
- a mapping failure (no Sailthru error), a permanent Sailthru error, or any Sailthru
  error not classified as one of the below → `Finish` dead at once, with the reason;
- bad credentials (`CredentialsError`) → `Pause` delivery for every node; the job goes
  back untouched and waits for the fix;
- a 429 that outlasted the call's resend budget (`RateLimitedError`) → `Release`: back
  to the queue untouched, when the route's block ends. A 429 is Sailthru asking us to
  slow down, not a failure of the event, so it counts no attempt, grows no backoff and
  spends none of the retry window; rate limits delay events, they never kill them;
- any other retryable error (5xx, error 9, timeouts, dropped connections) → `RetryAt`
  after a full-jitter backoff, or `Finish` dead once the retry window is spent.

The decision is a value, so the rules are tested without a store, a network or a clock
(``tests/delivery/test_decide.py``). The one impurity is the backoff's random draw,
which comes from the policy's seeded-or-not ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

from sailbridge.delivery.executor import Outcome
from sailbridge.delivery.ratelimit import block_target
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.sailthru.errors import CredentialsError, RateLimitedError, RetryableError
from sailbridge.store.base import Job, JobState, Result


@dataclass(frozen=True)
class Finish:
    """The job is done: delivered, skipped (by design) or dead, ``reason`` saying why."""

    result: Literal[Result.DELIVERED, Result.SKIPPED, Result.DEAD]
    reason: str | None = None

    @property
    def state(self) -> JobState:
        """The job's final state, spelled as its result."""
        return JobState(self.result.value)


@dataclass(frozen=True)
class RetryAt:
    """A failed attempt: back to the queue, tried again at ``at`` (epoch seconds)."""

    at: float
    reason: str | None
    result: ClassVar[Literal[Result.RETRY]] = Result.RETRY


@dataclass(frozen=True)
class Pause:
    """Sailthru refused the credentials: pause delivery (``reason`` is shown to the
    operator) and put the job back untouched; every call would fail alike until fixed."""

    reason: str
    result: ClassVar[Literal[Result.PAUSED]] = Result.PAUSED


@dataclass(frozen=True)
class Release:
    """Back to the queue untouched (not an attempt), available again at ``at``."""

    at: float
    reason: str
    result: ClassVar[Literal[Result.RELEASED]] = Result.RELEASED


Decision: TypeAlias = Finish | RetryAt | Pause | Release


def decide(
    job: Job, outcome: Outcome, policy: RetryPolicy, now: float, *, started: float | None = None
) -> Decision:
    """What ``outcome`` (the attempt on ``job`` that just ended) means for the job.

    ``now`` is when the attempt ended (epoch seconds); ``started`` when it began, which
    is where the retry window of a job failing for the first time starts (``now`` when
    not given). ``job`` is the job as claimed, before this attempt.
    """
    if outcome.status == Result.DELIVERED:
        return Finish(Result.DELIVERED)
    if outcome.status == Result.SKIPPED:
        return Finish(Result.SKIPPED, outcome.reason)
    error = outcome.error
    if isinstance(error, CredentialsError):
        return Pause(
            f"Sailthru refused the credentials on {error.route}: {error.message}"
            + (f" (error {error.code})" if error.code is not None else "")
        )
    if isinstance(error, RateLimitedError):
        return Release(
            block_target(error.reset_at, now, policy.max_rate_limit_block),
            f"Sailthru kept answering 429 on {error.route}: {error.message}",
        )
    if isinstance(error, RetryableError):
        failures = job.attempts + 1
        first = job.first_attempt_at or (now if started is None else started)
        retry_at = policy.next_attempt_at(first, now, failures)
        if retry_at is not None:
            return RetryAt(retry_at, outcome.reason)
        return Finish(
            Result.DEAD,
            f"gave up after {failures} attempts over the retry window: {outcome.reason}",
        )
    return Finish(Result.DEAD, outcome.reason)
