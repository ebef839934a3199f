"""What operators see and do: status, dead letters, replay, purge, resume.

Shared by the ``sailbridge status`` / ``sailbridge dlq`` commands and the admin HTTP
API, so both show the same fields and accept the same filters. Views are JSON-ready
dicts; nothing here formats for a terminal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from sailbridge.events import EventType
from sailbridge.store.base import (
    SHOWN_COUNTS,
    Job,
    JobQuery,
    ListState,
    OperatorReads,
    StatusCounts,
)

_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w|week)?s?\s*$", re.IGNORECASE
)
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
    "week": 604800,
}


MAX_JOB_ID: Final = 2**63 - 1
"""Job ids are 64-bit signed integers in both stores."""

MAX_LIST_LIMIT: Final = 10_000
"""The most items one listing returns (admin API and CLI alike)."""


def parse_limit(text: str, maximum: int = MAX_LIST_LIMIT) -> int:
    """``"100"`` → 100: a whole number from 1 to ``maximum``; ValueError otherwise
    (``abc``, ``1e3``, ``-5``, ``0``)."""
    if not re.fullmatch(r"\s*\d{1,9}\s*", text):
        raise ValueError(f"limit must be a whole number from 1 to {maximum}, not {text!r}")
    value = int(text)
    if not 1 <= value <= maximum:
        raise ValueError(f"limit must be from 1 to {maximum}, not {value}")
    return value


def check_job_id(value: object) -> int:
    """A job id as given (an int, or decimal text): positive and within 64 bits."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,30}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        # ValueError, not TypeError: a wrong type here is the client's input (a 400).
        raise ValueError(f"a job id is a positive whole number, not {value!r}")
    if not 1 <= value <= MAX_JOB_ID:
        raise ValueError(f"no job can have id {value} (ids run from 1 to {MAX_JOB_ID})")
    return value


def check_job_ids(values: object) -> list[int]:
    """A non-empty list of job ids, each as `check_job_id` takes it."""
    if not isinstance(values, list) or not values:
        raise ValueError("ids must be a non-empty list of job ids")
    return [check_job_id(value) for value in values]


def storable_text(value: str, what: str) -> str:
    """``value`` if a store can hold and compare it, else a `ValueError` naming ``what``.

    PostgreSQL refuses a NUL character in text (SQLite would store it, so the two stores
    would answer alike only by luck), and a lone surrogate is no UTF-8 at all: an
    operator's filter or form carrying either gets a clear 400, never a 500.
    """
    if "\x00" in value:
        raise ValueError(
            f"{what} contains a NUL character (\\u0000), which is never stored; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (it holds a lone surrogate)") from None
    return value


def check_reason_filter(reason: object) -> str | None:
    """A reason filter as given: ``None`` (no filter) or text to look for. Empty text is
    refused: it would match every dead event, and replaying or listing everything
    must be asked for as such (``all``), not by accident."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValueError(f"reason must be text, not {type(reason).__name__}")
    if not reason.strip():
        raise ValueError(
            "an empty reason matches every dead event; give the text to look "
            "for (or ask for all of them)"
        )
    return storable_text(reason, "the reason")


class ReplayRefusal(Enum):
    """Why a replay cannot go ahead as asked; each caller words it for its own input
    (command-line arguments, a JSON body)."""

    NOTHING_NAMED = "nothing named"
    """No ids, no reason, not all: `Store.replay` with neither filter replays every dead
    event, so replaying everything must be asked for as such, never by omission."""
    IDS_WITH_FILTER = "ids with a filter"
    """Ids together with a reason or all, where the caller takes one or the other."""


def replay_refusal(
    ids: Sequence[int] | None, reason: str | None, everything: bool, *, ids_exclusive: bool
) -> ReplayRefusal | None:
    """Why a replay of ``ids`` (named when not empty), ``reason`` (named when not None;
    `check_reason_filter` refuses an empty one) and ``everything`` cannot go ahead, or
    None when it names what to replay.

    ``ids_exclusive``: the caller takes ids or a filter, not both (the command line
    reports on each id named, which a filter would muddle); the admin API passes both
    to `Store.replay`, which replays the named ids the reason matches.
    """
    filtered = everything or reason is not None
    if not ids and not filtered:
        return ReplayRefusal.NOTHING_NAMED
    if ids and filtered and ids_exclusive:
        return ReplayRefusal.IDS_WITH_FILTER
    return None


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds → ``2026-12-01T21:20:11.837Z`` (ISO 8601, UTC, milliseconds)."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def with_iso_times(view: Mapping[str, Any]) -> dict[str, Any]:
    """A job view with its own time fields (``*_at``, and each history entry's ``at``)
    as `iso_utc` text: the form people read, where the API keeps epoch seconds. The
    event and the requests are left as they are (their ``*_at`` fields are the user's)."""
    shown: dict[str, Any] = {
        key: iso_utc(value) if _is_time_field(key, value) else value for key, value in view.items()
    }
    history = shown.get("history")
    if isinstance(history, list):
        shown["history"] = [
            {**entry, "at": iso_utc(entry.get("at"))} if isinstance(entry, dict) else entry
            for entry in history
        ]
    return shown


def _is_time_field(key: str, value: object) -> bool:
    return key.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(text: str) -> float:
    """``"90"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` → seconds; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"cannot read duration {text!r}; use e.g. 30s, 15m, 12h, 7d")
    unit = (match[2] or "s").lower()
    return float(match[1]) * _UNIT_SECONDS[unit]


def status_view(
    counts: StatusCounts, now: float | None = None, paused_accounts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Status as every surface shows it; ``paused_accounts``: each paused account → why
    (the counts are the whole store's)."""
    now = time.time() if now is None else now
    oldest = counts.oldest_pending_at
    return {
        **{str(shown): getattr(counts, field) for shown, field in SHOWN_COUNTS.items()},
        "deduplicated": counts.deduplicated,
        "not_yet_sorted": counts.inbox,
        "paused": counts.paused_reason is not None,
        "paused_accounts": dict(paused_accounts or {}),
        "paused_reason": counts.paused_reason,
        "oldest_pending_age_seconds": None if oldest is None else round(max(0.0, now - oldest), 3),
    }


def _event_name(job: Job) -> str:
    name = job.event.get("event") if job.event_type == EventType.TRACK else None
    return str(name) if name else job.event_type


def job_summary(job: Job) -> dict[str, Any]:
    """One line's worth: id, what, whose, why, and Sailthru's last answer."""
    last = job.history[-1] if job.history else None
    return {
        "id": job.id,
        "account": job.account,
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
            {
                "at": a.at,
                "outcome": a.outcome,
                "requests": a.requests,
                "status": a.status,
                "code": a.code,
                "message": a.message,
            }
            for a in job.history
        ],
    }


async def dead_jobs(
    store: OperatorReads, limit: int = 100, reason: str | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    """The oldest ``limit`` dead jobs (with ``reason`` in their reason, of ``account``
    when given), every dead job examined: ``dlq list`` must not miss a match the
    console's bounded search would."""
    page = await store.find_jobs(
        JobQuery(
            state=ListState.DEAD,
            reason=reason,
            limit=limit,
            scan=None,
            oldest_first=True,
            account=account,
        )
    )
    return [job_summary(job) for job in page.items]


async def dead_ids_in(
    store: OperatorReads, account: str, ids: Sequence[int] | None, reason: str | None
) -> list[int]:
    """The dead jobs of ``account`` a replay or purge chooses by ``ids`` and/or
    ``reason`` (every dead job of the account examined)."""
    page = await store.find_jobs(
        JobQuery(
            state=ListState.DEAD,
            reason=reason,
            limit=10**9,
            scan=None,
            oldest_first=True,
            account=account,
        )
    )
    chosen = {job.id for job in page.items}
    return [job_id for job_id in ids if job_id in chosen] if ids is not None else sorted(chosen)


async def rejected_events(store: OperatorReads, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "write_key": r.write_key,
            "message_id": r.message_id,
            "reason": r.reason,
            "received_at": r.received_at,
            "raw": r.raw,
        }
        for r in await store.list_rejections(limit)
    ]
