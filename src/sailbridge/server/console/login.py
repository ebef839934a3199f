"""The login form, logging in with the admin token, and logging out.

The form carries a CSRF token like every other one (so another site cannot log a
browser in under its own session); a wrong token waits `LOGIN_DELAY` before its
answer, to slow guessing.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from sailbridge.server.console import auth
from sailbridge.server.console.forms import form
from sailbridge.server.console.rendering import Console, see_other

LOGIN_DELAY = 0.5
"""Seconds a wrong login token waits before its answer, to slow guessing."""


async def login_form(console: Console, request: Request) -> Response:
    """The form; an operator already logged in goes straight on to ``next``."""
    if auth.logged_in(request):
        return see_other(auth.safe_next(request.query_params.get("next")))
    return await console.render(
        request,
        "login.html",
        {"next": auth.safe_next(request.query_params.get("next")), "error": None},
    )


async def login(console: Console, request: Request) -> Response:
    """Check the form's CSRF token, then the admin token; on success go on to ``next``."""
    fields = await form(request)
    next_path = auth.safe_next(fields.get("next"))
    if not auth.csrf_ok(request, fields):
        return await console.render(
            request,
            "login.html",
            {"next": next_path, "error": "The login form expired; please enter the token again."},
            403,
        )
    token = console.settings.admin_token
    assert token is not None  # the console is only mounted with a token
    if not auth.token_matches(fields.get("token", ""), token.get_secret_value()):
        await asyncio.sleep(LOGIN_DELAY)
        return await console.render(
            request, "login.html", {"next": next_path, "error": "That is not the admin token."}, 401
        )
    auth.log_in(request)
    return see_other(next_path)


async def logout(console: Console, request: Request) -> Response:
    """End the session and show the login form."""
    auth.log_out(request)
    return see_other(auth.LOGIN_PATH)
