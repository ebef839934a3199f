"""What a job's history keeps of one attempt: a pure step.

The record is built from the executor's `Outcome` and the decision it led to, after the
calls are made and before the store is written, so it is the one place that chooses
what an attempt leaves behind (the calls' records, which never hold a secret, and
Sailthru's answer).
"""

from __future__ import annotations

from sailbridge.delivery.decide import Decision
from sailbridge.delivery.executor import Outcome
from sailbridge.store.base import Attempt


def attempt_record(started: float, outcome: Outcome, decision: Decision) -> Attempt:
    """The history record of one attempt: calls made (no secrets) and Sailthru's answer
    (used by `Finish` and `RetryAt`; a pause or a release records no attempt)."""
    requests = [
        record for lookup in outcome.lookups if (record := lookup.request_record()) is not None
    ]
    requests += [call.to_dict() for call in outcome.calls]
    error = outcome.error
    return Attempt(
        at=started,
        outcome=decision.result,
        requests=requests,
        status=error.status if error else None,
        code=error.code if error else None,
        message=outcome.reason,
    )


def together_note(job_id: int, riders: list[int]) -> str:
    """What a merged event's record says: the jobs it rode with (``#12, #13``)."""
    others = ", ".join(f"#{rider}" for rider in riders if rider != job_id)
    return f"sent together with {others}"
