"""What the console's templates show, shaped from store records: pure functions.

Times are shown as UTC wall time plus how long ago; JSON is pretty-printed for
reading. Nothing here can add a secret: jobs and attempts never hold one (see
`sailbridge.store.base.Attempt`), and planned calls come from `explain`, which
describes the signature instead of computing it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from sailbridge import operations
from sailbridge.render import duration
from sailbridge.store.base import Attempt, Job, ListState, Rejection
from sailbridge.store.base import list_state as store_list_state

STATE_LABELS = {
    ListState.PENDING: "Pending",
    ListState.RETRYING: "Retrying",
    ListState.IN_FLIGHT: "In flight",
    ListState.DELIVERED: "Delivered",
    ListState.SKIPPED: "Skipped",
    ListState.DEAD: "Dead",
}


@dataclass(frozen=True)
class When:
    """A moment as the console prints it."""

    iso: str  # machine-readable, for <time datetime>
    text: str  # "2026-12-01 21:14:03 UTC"
    ago: str  # "3 min ago", "in 20 s"
    precise: str  # "21:14:03.482", to tell apart what happened in one second


def when(moment: float | None, now: float) -> When | None:
    if moment is None:
        return None
    stamp = datetime.fromtimestamp(moment, UTC)
    delta = now - moment
    ago = (
        f"{duration(delta)} ago"
        if delta >= 0.5
        else ("now" if delta > -0.5 else f"in {duration(-delta)}")
    )
    return When(
        stamp.isoformat(timespec="seconds"),
        stamp.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ago,
        stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}",
    )


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def list_state(job: Job) -> ListState:
    """The job's state as the console lists it (pending split into pending/retrying)."""
    return store_list_state(job.state, job.attempts)


def job_row(job: Job, now: float) -> dict[str, Any]:
    """One row of an events table."""
    summary = operations.job_summary(job)
    last = job.history[-1] if job.history else None
    state = list_state(job)
    return {
        **summary,
        "state": state.value,
        "state_label": STATE_LABELS[state],
        "received": when(job.received_at, now),
        "last_attempt": when(last.at if last else None, now),
        "next_attempt": when(job.available_at, now) if state is ListState.RETRYING else None,
    }


def rejection_row(rejection: Rejection, now: float) -> dict[str, Any]:
    return {
        "id": rejection.id,
        "message_id": rejection.message_id,
        "reason": rejection.reason,
        "received": when(rejection.received_at, now),
        "raw": rejection.raw,
    }


def attempt_view(attempt: Attempt, number: int, now: float) -> dict[str, Any]:
    """One attempt: when, how it ended, each request with its answer."""
    requests = []
    for index, request in enumerate(attempt.requests):
        is_last = index == len(attempt.requests) - 1
        answer = request.get("answer")
        if answer is None and is_last and attempt.outcome != "delivered":
            answer_text = _error_text(attempt)
        elif answer is None:
            answer_text = "ok"
        else:
            answer_text = pretty(answer)
        requests.append(
            {
                "method": request.get("method"),
                "endpoint": request.get("endpoint"),
                "api": request.get("api"),
                "params": pretty(request.get("params", {})),
                "answer": answer_text,
                "failed": is_last
                and attempt.outcome not in ("delivered", "skipped")
                and answer is None,
            }
        )
    return {
        "number": number,
        "at": when(attempt.at, now),
        "outcome": attempt.outcome,
        "status": attempt.status,
        "code": attempt.code,
        "message": attempt.message,
        "requests": requests,
    }


def _error_text(attempt: Attempt) -> str:
    parts = [
        f"HTTP {attempt.status}" if attempt.status else None,
        f"Sailthru error {attempt.code}" if attempt.code is not None else None,
        attempt.message,
    ]
    return " · ".join(part for part in parts if part) or "no answer"


def job_page(job: Job, now: float) -> dict[str, Any]:
    """Everything the event page shows about a stored job."""
    return {
        **job_row(job, now),
        "ordering_keys": list(job.ordering_keys),
        "first_attempt": when(job.first_attempt_at, now),
        "available": when(job.available_at, now),
        "event_json": pretty(job.event),
        "attempts_view": [
            attempt_view(attempt, n, now) for n, attempt in enumerate(job.history, start=1)
        ],
    }


def call_views(explained: dict[str, Any]) -> dict[str, Any]:
    """An `explain_event` result with its calls' parameters pretty-printed."""
    calls = [
        {**call, "params_text": pretty(call.get("params", {}))}
        for call in explained.get("calls", [])
    ]
    lookups = [
        {**lookup, "params_text": pretty(lookup["call"]["params"]) if "call" in lookup else None}
        for lookup in explained.get("lookups", [])
    ]
    return {**explained, "calls": calls, "lookups": lookups}


_JOB_REFERENCE = re.compile(r"#(\d+)")


def job_links(text: str) -> Markup:
    """``sent together with #12, #13`` with each ``#id`` a link to that event's page:
    the events a merged call delivered point at each other (the rest escaped)."""
    escaped = str(escape(text))
    return Markup(_JOB_REFERENCE.sub(r'<a href="/console/events/\1">#\1</a>', escaped))
