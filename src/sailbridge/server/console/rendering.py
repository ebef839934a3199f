"""How the console answers: its pages rendered from the Jinja2 templates, refusals
shown as an error page, and redirects after a form.

`Console` is what every page needs (the store, the settings, this process's metrics);
the pages are functions of it and the request (`overview`, `events`, `dead`, `tester`,
`login`), so each group of pages lives in its own module and `routes` binds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sailbridge.delivery.stall import Stall
from sailbridge.metrics import Metrics
from sailbridge.server.console import auth, views
from sailbridge.settings import Settings
from sailbridge.store.accounts import pause_summary
from sailbridge.store.base import OperatorStore

PACKAGE = "sailbridge.server.console"
"""Where the templates and static files are (package data)."""

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader(PACKAGE, "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n
_ENV.filters["job_links"] = views.job_links


@dataclass(frozen=True)
class Console:
    """What the pages need: the store, the settings, this process's metrics."""

    store: OperatorStore
    settings: Settings
    metrics: Metrics
    delivery: Callable[[], Stall | None] = lambda: None
    """Whether this node's delivery is stalled (what readiness says); never on a node
    that does not deliver."""

    async def render(
        self, request: Request, template: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """``template`` with ``context`` and what the layout shows on every page (the
        login state, the CSRF token, a flash message, which accounts are paused, the
        accounts to choose from and the one chosen)."""
        paused = (
            pause_summary(await self.store.paused_accounts()) if auth.logged_in(request) else None
        )
        html = _ENV.get_template(template).render(
            request=request,
            csrf=auth.csrf_token(request),
            logged_in=auth.logged_in(request),
            flash=request.session.pop("flash") if "flash" in request.session else None,
            paused_reason=paused,
            accounts=self.accounts,
            account=self.chosen_account(request) or "",
            nav=template.split(".")[0],
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    @property
    def accounts(self) -> tuple[str, ...]:
        """The configured accounts (the selector shows when there are several)."""
        return self.settings.deployment().names

    def chosen_account(self, request: Request) -> str | None:
        """The account the request's ``account`` parameter names, if it is one."""
        given = request.query_params.get("account")
        return given if given in self.accounts else None

    async def refuse(self, request: Request, status: int, message: str) -> Response:
        """The error page, with ``status`` and the reason in words."""
        return await self.render(
            request, "error.html", {"status": status, "message": message}, status
        )


Page = Callable[[Console, Request], Awaitable[Response]]
"""A console page or action: it answers ``request`` from what the `Console` holds."""


def see_other(path: str) -> Response:
    """The redirect after a form (303, so the browser follows with a GET)."""
    return RedirectResponse(path, status_code=303)
