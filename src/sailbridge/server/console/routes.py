"""The console's wiring, mounted at ``/console`` on the serve app: which page answers
which path, who may reach it, and the app around them (session, security headers,
error pages).

Server-rendered HTML (Jinja2) that works without JavaScript; htmx, served from
``/console/static``, only refreshes parts in place (the overview every few seconds,
the events table as filters change). The pages live by what they show (`overview`,
`events`, `dead`, `tester`, `login`); actions reuse what the CLI and admin API do (the
store's replay, purge and pause; `explain`'s planning for the event tester).

Every page needs a login (`sailbridge.server.console.auth`); every POST checks the
session's CSRF token first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sailbridge.delivery.stall import Stall
from sailbridge.metrics import Metrics
from sailbridge.server.console import auth, dead, events, login, overview, tester
from sailbridge.server.console.forms import BadInput, form, is_form
from sailbridge.server.console.rendering import PACKAGE, Console, Page, see_other
from sailbridge.settings import Settings
from sailbridge.store.base import OperatorStore

Handler = Callable[[Request], Awaitable[Response]]

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


# -------------------------------------------------------------------- guards


def _open(console: Console, handler: Page) -> Handler:
    """A page anyone may reach (the login form checks its own CSRF token)."""

    async def open_page(request: Request) -> Response:
        return await handler(console, request)

    return open_page


def _page(console: Console, handler: Page) -> Handler:
    """A page for logged-in operators; others go to the login form and come back."""

    async def page(request: Request) -> Response:
        if not auth.logged_in(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"hx-redirect": auth.login_url(target)})
            return see_other(auth.login_url(target))
        return await handler(console, request)

    return page


def _action(console: Console, handler: Page) -> Handler:
    """A state-changing POST: logged in, and carrying the session's CSRF token."""

    async def action(request: Request) -> Response:
        if not auth.logged_in(request):
            return await console.refuse(
                request, 401, "Log in first: this action needs an operator session."
            )
        fields = await form(request) if is_form(request) else {}
        if not auth.csrf_ok(request, fields):
            return await console.refuse(
                request,
                403,
                "This form did not come from this console session "
                "(its CSRF token is missing or wrong). Reload the page "
                "and try again.",
            )
        return await handler(console, request)

    return action


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


def console_routes(
    store: OperatorStore,
    settings: Settings,
    metrics: Metrics,
    delivery: Callable[[], Stall | None] = lambda: None,
) -> list[BaseRoute]:
    """``/console`` and below: the console when an admin token is set, else 404s;
    ``delivery`` says whether this node's delivery is stalled (as readiness does)."""
    if settings.admin_token is None:
        return [
            Route("/console", _disabled, methods=["GET", "POST"]),
            Mount("/console", app=request_response(_disabled)),
        ]
    console = Console(store, settings, metrics, delivery)

    def page(handler: Page) -> Handler:
        return _page(console, handler)

    def action(handler: Page) -> Handler:
        return _action(console, handler)

    routes: list[BaseRoute] = [
        Route("/", page(overview.overview), methods=["GET"]),
        Route("/login", _open(console, login.login_form), methods=["GET"]),
        Route("/login", _open(console, login.login), methods=["POST"]),  # checks its own CSRF
        Route("/logout", action(login.logout), methods=["POST"]),
        Route("/resume", action(overview.resume), methods=["POST"]),
        Route("/events", page(events.events), methods=["GET"]),
        Route("/events/{job_id}", page(events.event), methods=["GET"]),
        Route("/timeline", page(events.timeline), methods=["GET"]),
        Route("/dead", page(dead.dead), methods=["GET"]),
        Route("/dead/confirm", action(dead.dead_confirm), methods=["POST"]),
        Route("/dead/act", action(dead.dead_act), methods=["POST"]),
        Route("/tester", page(tester.tester), methods=["GET"]),
        Route("/tester", action(tester.test_events), methods=["POST"]),
        Mount(
            "/static", app=StaticFiles(directory=str(resources.files(PACKAGE).joinpath("static")))
        ),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = (
            exc.detail if exc.detail != "Not Found" else ("There is no such page in the console.")
        )
        return await console.refuse(request, exc.status_code, message)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return await console.refuse(request, 400, str(exc))

    token = settings.admin_token.get_secret_value()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=auth.session_key(token),
                session_cookie=auth.SESSION_COOKIE,
                max_age=auth.SESSION_SECONDS,
                path="/console",
                same_site="strict",
            ),
        ],
        exception_handlers={HTTPException: http_error, BadInput: bad_input},
    )

    async def to_overview(request: Request) -> Response:
        return see_other("/console/")

    return [Route("/console", to_overview), Mount("/console", app=app)]


async def _disabled(request: Request) -> Response:
    """The console without an admin token: it does not exist."""
    return HTMLResponse(
        "<!doctype html><title>Not found</title><p>Not found. The console is off: set "
        "SAILBRIDGE_ADMIN_TOKEN to turn it on.</p>",
        status_code=404,
    )
