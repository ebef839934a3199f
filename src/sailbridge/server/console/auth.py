"""Who may use the console: a login with the admin token, a signed session, CSRF tokens.

- The login form takes the admin token (``SAILBRIDGE_ADMIN_TOKEN``) once; after that a
  session cookie stands for it. The cookie is signed (itsdangerous, through Starlette's
  `SessionMiddleware`) with a key *derived from the admin token*, so every node that
  shares the token accepts it, and changing the token logs every session out. It holds
  no secret — only "logged in", when, and the session's CSRF token — is HttpOnly,
  ``SameSite=Strict``, scoped to ``/console`` and expires after `SESSION_SECONDS`.
- Every state-changing request (a POST) must carry the session's CSRF token, as the
  form field ``csrf`` or the ``X-CSRF-Token`` header (htmx sends it); the login form has
  one too, so another site cannot log a browser in under its own session.
- Without an admin token the console does not exist: every path answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

SESSION_COOKIE = "sailbridge_console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/console/login"


def session_key(admin_token: str) -> str:
    """The session-signing key: bound to the admin token, never the token itself."""
    return hmac.new(
        admin_token.encode(), b"sailbridge console session v1", hashlib.sha256
    ).hexdigest()


def token_matches(given: str, admin_token: str) -> bool:
    """Constant-time comparison of a login attempt with the admin token."""
    return hmac.compare_digest(given.encode(), admin_token.encode())


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created with the session if it has none yet."""
    session: dict[str, Any] = request.session
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Whether a POST carries this session's CSRF token (field or header)."""
    expected = request.session.get(CSRF_FIELD)
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    return (
        isinstance(expected, str)
        and bool(given)
        and hmac.compare_digest(given.encode(), expected.encode())
    )


def logged_in(request: Request) -> bool:
    return request.session.get("admin") is True


def log_in(request: Request) -> None:
    """Start a fresh session (new CSRF token: nothing from before the login carries over)."""
    request.session.clear()
    request.session.update(
        {"admin": True, "since": time.time(), CSRF_FIELD: secrets.token_urlsafe(32)}
    )


def log_out(request: Request) -> None:
    request.session.clear()


def login_url(next_path: str) -> str:
    return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a console path, never another site."""
    if (
        value
        and value.startswith("/console")
        and not value.startswith("//")
        and "\\" not in value
        and "\n" not in value
        and "\r" not in value
    ):
        return value
    return "/console/"
