"""The dead letters: the listing, and replaying or purging them in two steps (what
would be touched and a button, then the action), by hand-ticked ids or by reason.

The actions are the store's own (`Store.replay`, `Store.purge_dead`), the same
the CLI and the admin API use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from sailbridge.server.console import views
from sailbridge.server.console.forms import (
    PAGE_SIZE,
    BadInput,
    cursor,
    first_url,
    form_lists,
    page_url,
    text,
)
from sailbridge.server.console.rendering import Console, see_other
from sailbridge.store.base import JobQuery, ListState


async def dead(console: Console, request: Request) -> Response:
    """The dead events, newest first, optionally those whose reason matches."""
    now = time.time()
    reason = text(request.query_params.get("reason"))
    before = cursor(request.query_params.get("before"))
    account = console.chosen_account(request)
    page = await console.store.find_jobs(
        JobQuery(
            state=ListState.DEAD,
            reason=reason,
            before=before,
            limit=PAGE_SIZE,
            account=account,
        )
    )
    counts = await console.store.counts(account)
    filters = {"reason": reason or ""}
    return await console.render(
        request,
        "dead.html",
        {
            "rows": [views.job_row(job, now) for job in page.items],
            "reason": reason or "",
            "total": counts.dead,
            "searched_to": page.searched_to,
            "next_url": page_url("/console/dead", filters, page.next_before),
            "first_url": first_url("/console/dead", filters) if before else None,
        },
    )


async def dead_confirm(console: Console, request: Request) -> Response:
    """The confirmation step: what a replay or purge would touch, and a button."""
    now = time.time()
    choice = _dead_choice(await form_lists(request))
    if choice.ids is not None:
        jobs = [
            job
            for job_id in choice.ids
            if (job := await console.store.get_job(job_id)) is not None
            and views.list_state(job) is ListState.DEAD
        ]
        more = False
    else:
        page = await console.store.find_jobs(
            JobQuery(state=ListState.DEAD, reason=choice.reason, limit=PAGE_SIZE)
        )
        jobs, more = page.items, page.next_before is not None
    return await console.render(
        request,
        "dead_confirm.html",
        {
            "action": choice.action,
            "ids": choice.ids,
            "reason": choice.reason,
            "rows": [views.job_row(job, now) for job in jobs],
            "more": more,
        },
    )


async def dead_act(console: Console, request: Request) -> Response:
    """Replay or purge what the confirmation showed; say how many."""
    choice = _dead_choice(await form_lists(request))
    if choice.action == "replay":
        done = await console.store.replay(choice.ids, choice.reason, time.time())
        verb = "Replayed"
    else:
        done = await console.store.purge_dead(choice.ids, choice.reason)
        verb = "Purged"
    request.session["flash"] = f"{verb} {done} dead event{'s' if done != 1 else ''}."
    return see_other("/console/dead")


@dataclass(frozen=True)
class _DeadChoice:
    action: str
    ids: list[int] | None
    reason: str | None


def _dead_choice(form: dict[str, list[str]]) -> _DeadChoice:
    """Replay or purge, of the dead events ticked by hand or of those matching a reason."""
    action = (form.get("action") or [""])[0]
    if action not in ("replay", "purge"):
        raise BadInput("Choose Replay or Purge.")
    scope = (form.get("scope") or ["selected"])[0]
    if scope == "reason":
        reason = text((form.get("reason") or [""])[0])
        if reason is None:
            raise BadInput(
                "Type the reason text to select dead events by "
                "(an empty reason would select every dead event)."
            )
        return _DeadChoice(action, None, reason)
    ids = sorted({cursor(value) or 0 for value in form.get("ids", [])})
    if not ids or 0 in ids:
        raise BadInput("Tick at least one dead event first.")
    return _DeadChoice(action, ids, None)
