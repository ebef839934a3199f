"""The events pages: the filtered listing, one event with what delivering it would
do now, and one user's timeline of events and attempts.

Listings read through the store's paged, indexed queries (`Store.find_jobs`), so a
page costs about the same with ten or a million queued events.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from sailbridge.events import InvalidEvent, event_from_dict
from sailbridge.explain import DryRunMemory, explain_event
from sailbridge.server.console import views
from sailbridge.server.console.forms import (
    PAGE_SIZE,
    cursor,
    first_url,
    list_state,
    page_url,
    text,
)
from sailbridge.server.console.rendering import Console
from sailbridge.store.base import REJECTED, JobQuery, ListState
from sailbridge.store.memory import AccountMemory


async def events(console: Console, request: Request) -> Response:
    """Events by state (or the rejections), user, event name and reason, newest first."""
    now = time.time()
    params = request.query_params
    state_text = text(params.get("state"))
    before = cursor(params.get("before"))
    user, event, reason = (text(params.get(name)) for name in ("user", "event", "reason"))
    account = console.chosen_account(request)
    filters = {
        "state": state_text or "",
        "user": user or "",
        "event": event or "",
        "reason": reason or "",
        "account": account or "",
    }
    if state_text == REJECTED:
        rejections = await console.store.find_rejections(reason, before, PAGE_SIZE)
        rows = [views.rejection_row(r, now) for r in rejections.items]
        next_before, searched_to = rejections.next_before, rejections.searched_to
    else:
        state = list_state(state_text)
        jobs = await console.store.find_jobs(
            JobQuery(
                state=state,
                user=user,
                event=event,
                reason=reason,
                before=before,
                limit=PAGE_SIZE,
                account=account,
            )
        )
        rows = [views.job_row(job, now) for job in jobs.items]
        next_before, searched_to = jobs.next_before, jobs.searched_to
    return await console.render(
        request,
        "events.html",
        {
            "filters": filters,
            "rows": rows,
            "rejected": state_text == REJECTED,
            "states": [(s.value, views.STATE_LABELS[s]) for s in ListState],
            "next_url": page_url("/console/events", filters, next_before),
            "first_url": first_url("/console/events", filters) if before else None,
            "searched_to": searched_to,
        },
    )


async def event(console: Console, request: Request) -> Response:
    """One event: its history, and the calls delivering it now would make (`explain`)."""
    now = time.time()
    job_id = cursor(request.path_params["job_id"])
    job = await console.store.get_job(job_id or 0)
    if job is None:
        raise HTTPException(404, f"There is no event #{request.path_params['job_id']}.")
    try:
        planned = views.call_views(
            await explain_event(
                event_from_dict(job.event),
                console.settings,
                DryRunMemory(AccountMemory(console.store, job.account)),
                write_key=job.write_key,
                account=job.account,
            )
        )
    except InvalidEvent as error:
        planned = {"outcome": "invalid", "reason": str(error), "calls": [], "lookups": []}
    except KeyError:  # its account is no longer in the settings
        planned = {
            "outcome": "invalid",
            "calls": [],
            "lookups": [],
            "reason": f"the account {job.account!r} is not configured any more",
        }
    return await console.render(
        request, "event.html", {"job": views.job_page(job, now), "planned": planned}
    )


async def timeline(console: Console, request: Request) -> Response:
    """One user's events and every attempt at them, newest first."""
    now = time.time()
    user = text(request.query_params.get("user"))
    before = cursor(request.query_params.get("before"))
    entries: list[dict[str, Any]] = []
    next_url = None
    if user is not None:
        page = await console.store.find_jobs(JobQuery(user=user, before=before, limit=PAGE_SIZE))
        for job in page.items:
            row = views.job_row(job, now)
            entries.append(
                {
                    "at": job.received_at,
                    "when": row["received"],
                    "job": row,
                    "what": "received",
                    "detail": None,
                }
            )
            for number, attempt in enumerate(job.history, start=1):
                shown = views.attempt_view(attempt, number, now)
                entries.append(
                    {
                        "at": attempt.at,
                        "when": shown["at"],
                        "job": row,
                        "what": attempt.outcome,
                        "detail": shown,
                    }
                )
        entries.sort(key=lambda entry: (entry["at"], entry["job"]["id"]), reverse=True)
        next_url = page_url("/console/timeline", {"user": user}, page.next_before)
    return await console.render(
        request, "timeline.html", {"user": user or "", "entries": entries, "next_url": next_url}
    )
