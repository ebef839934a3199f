"""The console's pages and actions, mounted at ``/console`` on the serve app.

Server-rendered HTML (Jinja2) that works without JavaScript; htmx, served from
``/console/static``, only refreshes parts in place (the overview every few seconds,
the events table as filters change). Pages read through the store's paged, indexed
listings (`sailbridge.store.base.Store.find_jobs`), so each costs about the same with
ten or a million queued events; actions reuse what the CLI and admin API do (the
store's replay, purge and pause; `explain`'s planning for the event tester).

Every page needs a login (`sailbridge.server.console.auth`); every POST checks the
session's CSRF token first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sailbridge import operations
from sailbridge.events import InvalidEvent, event_from_dict
from sailbridge.explain import DryRunMemory, explain_entries, explain_event
from sailbridge.inputs import read_events
from sailbridge.intake.jobs import job_for
from sailbridge.metrics import Metrics
from sailbridge.server.console import auth, views
from sailbridge.server.console.chart import minute_chart
from sailbridge.settings import Settings
from sailbridge.store.base import JobQuery, ListState, Store

PAGE_SIZE = 50
MAX_FORM_BYTES = 1 << 20
"""Largest form the console reads (the event tester's pasted events)."""
MAX_TESTER_EVENTS = 100
TESTER_WRITE_KEY = "sailbridge-console"
"""The write key jobs sent from the event tester are stored under (shown in history)."""
LOGIN_DELAY = 0.5
"""Seconds a wrong login token waits before its answer, to slow guessing."""
CHART_SECONDS = 3600

Handler = Callable[[Request], Awaitable[Response]]

_PACKAGE = "sailbridge.server.console"
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader(_PACKAGE, "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n

SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'"),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class BadInput(Exception):
    """A console request whose parameters make no sense; answered 400 with the reason."""


@dataclass(frozen=True)
class Console:
    """What the pages need: the store, the settings, this process's metrics."""

    store: Store
    settings: Settings
    metrics: Metrics

    # ---------------------------------------------------------------- rendering

    async def render(self, request: Request, template: str, context: dict[str, Any],
                     status: int = 200) -> Response:
        paused = await self.store.paused_reason() if auth.logged_in(request) else None
        html = _ENV.get_template(template).render(
            request=request, csrf=auth.csrf_token(request), logged_in=auth.logged_in(request),
            flash=request.session.pop("flash") if "flash" in request.session else None,
            paused_reason=paused,
            nav=template.split(".")[0], **context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    # ---------------------------------------------------------------- login

    async def login_form(self, request: Request) -> Response:
        if auth.logged_in(request):
            return _see_other(auth.safe_next(request.query_params.get("next")))
        return await self.render(request, "login.html", {
            "next": auth.safe_next(request.query_params.get("next")), "error": None})

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        next_path = auth.safe_next(form.get("next"))
        if not auth.csrf_ok(request, form):
            return await self.render(request, "login.html", {
                "next": next_path,
                "error": "The login form expired; please enter the token again."}, 403)
        token = self.settings.admin_token
        assert token is not None  # the console is only mounted with a token
        if not auth.token_matches(form.get("token", ""), token.get_secret_value()):
            await asyncio.sleep(LOGIN_DELAY)
            return await self.render(request, "login.html", {
                "next": next_path, "error": "That is not the admin token."}, 401)
        auth.log_in(request)
        return _see_other(next_path)

    async def logout(self, request: Request) -> Response:
        auth.log_out(request)
        return _see_other(auth.LOGIN_PATH)

    # ---------------------------------------------------------------- overview

    async def overview(self, request: Request) -> Response:
        now = time.time()
        counts = await self.store.counts()
        minutes = await self.store.finished_per_minute(now - CHART_SECONDS, now)
        status = operations.status_view(counts, now)
        oldest = status["oldest_pending_age_seconds"]
        return await self.render(request, "overview.html", {
            "status": status,
            "depth": counts.pending + counts.retrying + counts.claimed,
            "oldest": None if oldest is None else views.duration(oldest),
            "chart": minute_chart(minutes, now),
            "routes": self._route_rows(now),
        })

    def _route_rows(self, now: float) -> list[dict[str, Any]]:
        """Each Sailthru route: the configured limit and this minute's use."""
        limits = self.settings.rate_limits_per_second
        usage = self.metrics.route_usage.snapshot()
        rows = []
        for route in sorted(set(limits) | set(usage)):
            use = usage.get(route)
            limit_per_minute = round(limits[route] * 60) if route in limits else None
            headers = use.sailthru if use else None
            rows.append({
                "route": route,
                "limit": limit_per_minute,
                "calls": use.calls_last_minute if use else 0,
                "throttled": use.throttled_last_minute if use else 0,
                "sailthru_limit": headers.limit if headers else None,
                "sailthru_remaining": headers.remaining if headers else None,
                "sailthru_reset": views.when(headers.reset, now) if headers else None,
            })
        return rows

    async def resume(self, request: Request) -> Response:
        if await self.store.paused_reason() is None:
            request.session["flash"] = "Delivery was not paused."
        else:
            await self.store.set_paused(None)
            request.session["flash"] = "Delivery resumed."
        return _see_other("/console/")

    # ---------------------------------------------------------------- events

    async def events(self, request: Request) -> Response:
        now = time.time()
        params = request.query_params
        state_text = _text(params.get("state"))
        before = _cursor(params.get("before"))
        user, event, reason = (_text(params.get(name)) for name in ("user", "event", "reason"))
        filters = {"state": state_text or "", "user": user or "", "event": event or "",
                   "reason": reason or ""}
        if state_text == views.REJECTED:
            rejections = await self.store.find_rejections(reason, before, PAGE_SIZE)
            rows = [views.rejection_row(r, now) for r in rejections.items]
            next_before, searched_to = rejections.next_before, rejections.searched_to
        else:
            state = _state(state_text)
            jobs = await self.store.find_jobs(JobQuery(state=state, user=user, event=event,
                                                       reason=reason, before=before,
                                                       limit=PAGE_SIZE))
            rows = [views.job_row(job, now) for job in jobs.items]
            next_before, searched_to = jobs.next_before, jobs.searched_to
        return await self.render(request, "events.html", {
            "filters": filters, "rows": rows, "rejected": state_text == views.REJECTED,
            "states": [(s.value, views.STATE_LABELS[s]) for s in ListState],
            "next_url": _page_url("/console/events", filters, next_before),
            "first_url": _first_url("/console/events", filters) if before else None,
            "searched_to": searched_to,
        })

    async def event(self, request: Request) -> Response:
        now = time.time()
        job_id = _cursor(request.path_params["job_id"])
        job = await self.store.get_job(job_id or 0)
        if job is None:
            raise HTTPException(404, f"There is no event #{request.path_params['job_id']}.")
        try:
            planned = views.call_views(await explain_event(
                event_from_dict(job.event), self.settings, DryRunMemory(self.store)))
        except InvalidEvent as error:
            planned = {"outcome": "invalid", "reason": str(error), "calls": [], "lookups": []}
        return await self.render(request, "event.html", {
            "job": views.job_page(job, now), "planned": planned})

    async def timeline(self, request: Request) -> Response:
        now = time.time()
        user = _text(request.query_params.get("user"))
        before = _cursor(request.query_params.get("before"))
        entries: list[dict[str, Any]] = []
        next_url = None
        if user is not None:
            page = await self.store.find_jobs(JobQuery(user=user, before=before,
                                                       limit=PAGE_SIZE))
            for job in page.items:
                row = views.job_row(job, now)
                entries.append({"at": job.received_at, "when": row["received"], "job": row,
                                "what": "received", "detail": None})
                for number, attempt in enumerate(job.history, start=1):
                    shown = views.attempt_view(attempt, number, now)
                    entries.append({"at": attempt.at, "when": shown["at"], "job": row,
                                    "what": attempt.outcome, "detail": shown})
            entries.sort(key=lambda entry: (entry["at"], entry["job"]["id"]), reverse=True)
            next_url = _page_url("/console/timeline", {"user": user}, page.next_before)
        return await self.render(request, "timeline.html", {
            "user": user or "", "entries": entries, "next_url": next_url})

    # ---------------------------------------------------------------- dead letters

    async def dead(self, request: Request) -> Response:
        now = time.time()
        reason = _text(request.query_params.get("reason"))
        before = _cursor(request.query_params.get("before"))
        page = await self.store.find_jobs(JobQuery(state=ListState.DEAD, reason=reason,
                                                   before=before, limit=PAGE_SIZE))
        counts = await self.store.counts()
        filters = {"reason": reason or ""}
        return await self.render(request, "dead.html", {
            "rows": [views.job_row(job, now) for job in page.items], "reason": reason or "",
            "total": counts.dead, "searched_to": page.searched_to,
            "next_url": _page_url("/console/dead", filters, page.next_before),
            "first_url": _first_url("/console/dead", filters) if before else None,
        })

    async def dead_confirm(self, request: Request) -> Response:
        """The confirmation step: what a replay or purge would touch, and a button."""
        now = time.time()
        choice = _dead_choice(await _form_lists(request))
        if choice.ids is not None:
            jobs = [job for job_id in choice.ids
                    if (job := await self.store.get_job(job_id)) is not None
                    and views.list_state(job) is ListState.DEAD]
            more = False
        else:
            page = await self.store.find_jobs(JobQuery(state=ListState.DEAD,
                                                       reason=choice.reason, limit=PAGE_SIZE))
            jobs, more = page.items, page.next_before is not None
        return await self.render(request, "dead_confirm.html", {
            "action": choice.action, "ids": choice.ids, "reason": choice.reason,
            "rows": [views.job_row(job, now) for job in jobs], "more": more})

    async def dead_act(self, request: Request) -> Response:
        choice = _dead_choice(await _form_lists(request))
        if choice.action == "replay":
            done = await self.store.replay(choice.ids, choice.reason, time.time())
            verb = "Replayed"
        else:
            done = await self.store.purge_dead_jobs(choice.ids, choice.reason)
            verb = "Purged"
        request.session["flash"] = f"{verb} {done} dead event{'s' if done != 1 else ''}."
        return _see_other("/console/dead")

    # ---------------------------------------------------------------- event tester

    async def tester(self, request: Request) -> Response:
        return await self.render(request, "tester.html", {
            "text": "", "explained": None, "sent": None, "error": None})

    async def test_events(self, request: Request) -> Response:
        form = await _form(request)
        text = form.get("events", "")
        entries = read_events(text)
        error = None
        if not entries:
            error = "Paste a Segment event (JSON), a JSON array, JSON lines or a batch body."
        elif len(entries) > MAX_TESTER_EVENTS:
            error = f"At most {MAX_TESTER_EVENTS} events at a time ({len(entries)} given)."
        if error is not None:
            return await self.render(request, "tester.html", {
                "text": text, "explained": None, "sent": None, "error": error}, 400)
        explained = [views.call_views(view) for view in
                     await explain_entries(entries, self.settings, memory=self.store)]
        sent = None
        if form.get("action") == "send":
            now = time.time()
            events = [entry.event for entry in entries if entry.event is not None]
            result = await self.store.enqueue(
                [job_for(event, TESTER_WRITE_KEY, now) for event in events], [], 0.0, now)
            sent = list(result.job_ids)
        return await self.render(request, "tester.html", {
            "text": text, "explained": explained, "sent": sent, "error": None})


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
        reason = _text((form.get("reason") or [""])[0])
        if reason is None:
            raise BadInput("Type the reason text to select dead events by "
                           "(an empty reason would select every dead event).")
        return _DeadChoice(action, None, reason)
    ids = sorted({_cursor(value) or 0 for value in form.get("ids", [])})
    if not ids or 0 in ids:
        raise BadInput("Tick at least one dead event first.")
    return _DeadChoice(action, ids, None)


# -------------------------------------------------------------------- request helpers


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def _text(value: str | None) -> str | None:
    """A filter's value: ``None`` when absent or blank."""
    value = value.strip() if value is not None else None
    return value or None


def _cursor(value: str | None) -> int | None:
    """A positive id (a cursor, a job id), or `BadInput`."""
    text = _text(value)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise BadInput(f"{text[:40]!r} is not an event id.")
    return int(text)


def _state(value: str | None) -> ListState | None:
    if value is None:
        return None
    try:
        return ListState(value)
    except ValueError:
        names = ", ".join([s.value for s in ListState] + [views.REJECTED])
        raise BadInput(f"Unknown state {value[:40]!r}; choose one of {names}.") from None


def _page_url(path: str, filters: dict[str, str], before: int | None) -> str | None:
    """The link to the page after cursor ``before``; ``None`` when there is none."""
    if before is None:
        return None
    query = {name: value for name, value in filters.items() if value}
    return f"{path}?{urlencode({**query, 'before': str(before)})}"


def _first_url(path: str, filters: dict[str, str]) -> str:
    """The link to a listing's first (newest) page with the same filters."""
    query = {name: value for name, value in filters.items() if value}
    return f"{path}?{urlencode(query)}" if query else path


async def _form_lists(request: Request) -> dict[str, list[str]]:
    """The urlencoded form of a POST, every value of every field (read once, kept)."""
    cached: dict[str, list[str]] | None = request.scope.get("sailbridge.form")
    if cached is None:
        cached = request.scope["sailbridge.form"] = await _read_form(request)
    return cached


async def _read_form(request: Request) -> dict[str, list[str]]:
    if not _is_form(request):
        raise BadInput("The console's forms are sent urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadInput(f"The form is larger than {MAX_FORM_BYTES // 1024} KiB.")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000,
                        strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadInput(f"The form could not be read: {error}") from None


async def _form(request: Request) -> dict[str, str]:
    """The form's fields, the first value of each."""
    return {name: values[0] for name, values in (await _form_lists(request)).items()}


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip() == "application/x-www-form-urlencoded"


# -------------------------------------------------------------------- guards


def _page(handler: Handler) -> Handler:
    """A page for logged-in operators; others go to the login form and come back."""

    async def page(request: Request) -> Response:
        if not auth.logged_in(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"hx-redirect": auth.login_url(target)})
            return _see_other(auth.login_url(target))
        return await handler(request)

    return page


def _action(console: Console, handler: Handler) -> Handler:
    """A state-changing POST: logged in, and carrying the session's CSRF token."""

    async def action(request: Request) -> Response:
        if not auth.logged_in(request):
            return await _refuse(console, request, 401,
                                 "Log in first: this action needs an operator session.")
        form = await _form(request) if _is_form(request) else {}
        if not auth.csrf_ok(request, form):
            return await _refuse(console, request, 403,
                                 "This form did not come from this console session "
                                 "(its CSRF token is missing or wrong). Reload the page "
                                 "and try again.")
        return await handler(request)

    return action


async def _refuse(console: Console, request: Request, status: int, message: str) -> Response:
    return await console.render(request, "error.html", {"status": status, "message": message},
                                status)


class _SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every console response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


# -------------------------------------------------------------------- assembly


def console_routes(store: Store, settings: Settings, metrics: Metrics) -> list[BaseRoute]:
    """``/console`` and below: the console when an admin token is set, else 404s."""
    if settings.admin_token is None:
        return [Route("/console", _disabled, methods=["GET", "POST"]),
                Mount("/console", app=request_response(_disabled))]
    console = Console(store, settings, metrics)

    def page(handler: Handler) -> Handler:
        return _page(handler)

    def action(handler: Handler) -> Handler:
        return _action(console, handler)

    routes: list[BaseRoute] = [
        Route("/", page(console.overview), methods=["GET"]),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),  # checks its own CSRF
        Route("/logout", action(console.logout), methods=["POST"]),
        Route("/resume", action(console.resume), methods=["POST"]),
        Route("/events", page(console.events), methods=["GET"]),
        Route("/events/{job_id}", page(console.event), methods=["GET"]),
        Route("/timeline", page(console.timeline), methods=["GET"]),
        Route("/dead", page(console.dead), methods=["GET"]),
        Route("/dead/confirm", action(console.dead_confirm), methods=["POST"]),
        Route("/dead/act", action(console.dead_act), methods=["POST"]),
        Route("/tester", page(console.tester), methods=["GET"]),
        Route("/tester", action(console.test_events), methods=["POST"]),
        Mount("/static", app=StaticFiles(
            directory=str(resources.files(_PACKAGE).joinpath("static")))),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if exc.detail != "Not Found" else (
            "There is no such page in the console.")
        return await _refuse(console, request, exc.status_code, message)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return await _refuse(console, request, 400, str(exc))

    token = settings.admin_token.get_secret_value()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(SessionMiddleware, secret_key=auth.session_key(token),
                       session_cookie=auth.SESSION_COOKIE, max_age=auth.SESSION_SECONDS,
                       path="/console", same_site="strict"),
        ],
        exception_handlers={HTTPException: http_error, BadInput: bad_input},
    )
    async def to_overview(request: Request) -> Response:
        return _see_other("/console/")

    return [Route("/console", to_overview), Mount("/console", app=app)]


async def _disabled(request: Request) -> Response:
    """The console without an admin token: it does not exist."""
    return HTMLResponse(
        "<!doctype html><title>Not found</title><p>Not found. The console is off: set "
        "SAILBRIDGE_ADMIN_TOKEN to turn it on.</p>", status_code=404)
