"""What operators see and do: status, dead letters, replay, purge, resume.

Shared by the ``sailbridge status`` / ``sailbridge dlq`` commands and the admin HTTP
API, so both show the same fields and accept the same filters. Views are JSON-ready
dicts; nothing here formats for a terminal.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sailbridge.store.base import Job, JobState, StatusCounts, Store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w|week)?s?\s*$",
                       re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400,
                 "day": 86400, "w": 604800, "week": 604800}


def parse_duration(text: str) -> float:
    """``"90"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` → seconds; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"cannot read duration {text!r}; use e.g. 30s, 15m, 12h, 7d")
    unit = (match[2] or "s").lower()
    return float(match[1]) * _UNIT_SECONDS[unit]


def status_view(counts: StatusCounts, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    oldest = counts.oldest_pending_at
    return {
        "pending": counts.pending,
        "retrying": counts.retrying,
        "in_flight": counts.claimed,
        "delivered": counts.delivered,
        "skipped": counts.skipped,
        "rejected": counts.rejected,
        "dead": counts.dead,
        "deduplicated": counts.deduplicated,
        "not_yet_sorted": counts.inbox,
        "paused": counts.paused_reason is not None,
        "paused_reason": counts.paused_reason,
        "oldest_pending_age_seconds": None if oldest is None else round(max(0.0, now - oldest), 3),
    }


def _event_name(job: Job) -> str:
    name = job.event.get("event") if job.event_type == "track" else None
    return str(name) if name else job.event_type


def job_summary(job: Job) -> dict[str, Any]:
    """One line's worth: id, what, whose, why, and Sailthru's last answer."""
    last = job.history[-1] if job.history else None
    return {
        "id": job.id,
        "state": job.state.value,
        "type": job.event_type,
        "event": _event_name(job),
        "user": job.user_key,
        "message_id": job.message_id,
        "attempts": job.attempts,
        "reason": job.reason,
        "sailthru_code": last.code if last else None,
        "sailthru_message": last.message if last else None,
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Everything about a job: the event as received and every attempt's requests."""
    return {
        **job_summary(job),
        "write_key": job.write_key,
        "received_at": job.received_at,
        "first_attempt_at": job.first_attempt_at,
        "available_at": job.available_at,
        "event_json": job.event,
        "history": [
            {"at": a.at, "outcome": a.outcome, "requests": a.requests, "status": a.status,
             "code": a.code, "message": a.message}
            for a in job.history
        ],
    }


async def dead_jobs(store: Store, limit: int = 100, reason: str | None = None) -> list[dict[str, Any]]:
    return [job_summary(job) for job in await store.list_jobs(JobState.DEAD, limit, reason)]


async def rejected_events(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {"write_key": r.write_key, "message_id": r.message_id, "reason": r.reason,
         "received_at": r.received_at, "raw": r.raw}
        for r in await store.list_rejections(limit)
    ]
