"""The sandbox over HTTP: Sailthru's REST API, the pageview API, and an inspection API.

Request path of a REST call: route known? → envelope and signature (`wire`) → rate
limit → injected faults → the account operation. Rejections before the rate limit do
not count against it; everything after does. A faulted call never reaches the account,
so it changes nothing. Every REST answer carries the ``X-Rate-Limit-*`` headers.

The pageview API (``POST /v1/track/event/pageview``) takes a JSON body and a Bearer
customer id, no signature. It is rate-limited only when ``rate_limits`` lists its route,
gets no injected faults, and answers errors in Sailthru's ``{"error", "errormsg"}``
shape (HTTP 401, error 3, for the customer id; HTTP 400 for the body). ``userIdKey``
defaults to ``extid``; an unknown user gets a new profile, as with POST /event.

``/_sandbox/*`` is the inspection and control API, without authentication: it is a
test fixture, never to be exposed beyond the machine.

Dropping a connection: under uvicorn the transport of the connection is closed before
anything is written, so the client sees the connection end with no answer at all
(``ServerDisconnectedError`` in aiohttp, ``ConnectionError`` in requests). Under any
other server the answer is started and abandoned, which makes the server cut it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sailbridge.clock import Clock
from sailbridge.sandbox.config import PAGEVIEW_ROUTE, ConfigError, SandboxConfig
from sailbridge.sandbox.errors import (
    INTERNAL_ERROR,
    INVALID_API_KEY,
    OTHER,
    RATE_LIMITED,
    ApiError,
    invalid,
    missing,
)
from sailbridge.sandbox.faults import FaultOutcome
from sailbridge.sandbox.profile import KEY_TYPES
from sailbridge.sandbox.runtime import Sandbox, UnknownRoute
from sailbridge.sandbox.wire import authenticate, form_params

CLOSE_CONNECTION: Final = "sailbridge.sandbox.close_connection"
"""Scope key holding a callable that closes the client connection, when the server allows."""

DROP_WAIT_SECONDS: Final = 5.0


class JSONResponse(Response):
    """JSON encoded with msgspec: fast, and exact about ints versus floats."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


class DroppedConnection(Response):
    """No answer: the connection is closed under the client's feet."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        close = scope.get(CLOSE_CONNECTION)
        if close is not None:
            close()
            # Return only once the server has noticed, so it does not answer 500 instead.
            async with asyncio.timeout(DROP_WAIT_SECONDS):
                while (await receive())["type"] != "http.disconnect":
                    pass
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]}
        )


class SandboxApp(Starlette):
    """Starlette that tells its endpoints how to close the connection they serve."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            closer = _connection_closer(send)
            if closer is not None:
                scope[CLOSE_CONNECTION] = closer
        await super().__call__(scope, receive, send)


def _connection_closer(send: Send) -> Callable[[], None] | None:
    # uvicorn's ``send`` is a method of the request cycle, which holds the transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    close = getattr(transport, "close", None)
    return close if callable(close) else None


def create_app(config: SandboxConfig | None = None, *, clock: Clock = time.time) -> Starlette:
    """A sandbox app; its `Sandbox` is ``app.state.sandbox``."""
    app = SandboxApp(
        routes=[
            Route("/_sandbox/state", inspect_state, methods=["GET"]),
            Route("/_sandbox/users/{ident:path}", inspect_user, methods=["GET"]),
            Route("/_sandbox/requests", inspect_requests, methods=["GET"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
            Route("/_sandbox/config", show_config, methods=["GET"]),
            Route("/_sandbox/config", change_config, methods=["POST"]),
            Route("/v1/track/event/pageview", pageview, methods=["POST"]),
            Route("/{endpoint}", rest_call, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.sandbox = Sandbox(config or SandboxConfig(), clock)
    return app


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _error(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


# -- Sailthru REST API ---------------------------------------------------------------


async def rest_call(request: Request) -> Response:
    sandbox = _sandbox(request)
    method = request.method
    endpoint = "/" + request.path_params["endpoint"]
    route = f"{method} {endpoint}"
    raw, upload = await _request_params(request)
    record = partial(
        sandbox.recorder.record,
        method=method,
        endpoint=endpoint,
        api_key=raw.get("api_key"),
        params=_loggable(raw),
    )
    config = sandbox.config

    try:
        sandbox.operation(method, endpoint)
    except UnknownRoute as unknown:
        error = ApiError(OTHER, str(unknown), status=unknown.status)
        record(status=error.status, error=error.code, errormsg=error.message)
        return _error(error)

    limit = config.limit_for(route)
    assert limit is not None, "REST routes are always rate-limited"
    window = config.rate_limit_window
    try:
        call = authenticate(raw, config.api_key, config.api_secret)
    except ApiError as error:
        record(status=error.status, error=error.code, errormsg=error.message)
        return _error(error, sandbox.limiter.peek(route, limit, window).headers())

    rate = sandbox.limiter.hit(route, limit, window)
    headers = rate.headers()
    if not rate.allowed or sandbox.faults.throttled(config):
        limited = ApiError(RATE_LIMITED, "Too many requests", status=429)
        record(status=429, error=limited.code, errormsg=limited.message)
        return _error(limited, headers)

    plan = sandbox.faults.plan(config)
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if plan.outcome is FaultOutcome.DROP:
        record(status=None, fault=plan.outcome.value, delay=plan.delay)
        return DroppedConnection()
    if plan.outcome in (FaultOutcome.ERROR_500, FaultOutcome.ERROR_200):
        status = 500 if plan.outcome is FaultOutcome.ERROR_500 else 200
        internal = ApiError(INTERNAL_ERROR, "Internal error", status=status)
        record(
            status=status,
            error=internal.code,
            errormsg=internal.message,
            fault=plan.outcome.value,
            delay=plan.delay,
        )
        return _error(internal, headers)

    try:
        if upload is not None and route == "POST /job":
            body = sandbox.submit_job(call.params, *upload)
            asyncio.get_running_loop().call_later(config.job_delay, sandbox.jobs.run_due)
        else:
            body = sandbox.perform(method, endpoint, call.params)
    except ApiError as error:
        record(status=error.status, error=error.code, errormsg=error.message, delay=plan.delay)
        return _error(error, headers)
    record(status=200, delay=plan.delay)
    return JSONResponse(body, headers=headers)


async def _request_params(request: Request) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    """The text parameters of a call, and the ``file`` part of a multipart POST (its
    bytes and name). A multipart body's text fields are all parameters, as Sailthru
    signs them: a stray field breaks the signature."""
    if request.method != "POST":
        return dict(request.query_params), None
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return form_params(await request.body()), None
    form = await request.form()
    raw: dict[str, str] = {}
    upload: tuple[bytes, str] | None = None
    for name, value in form.multi_items():
        if isinstance(value, str):
            raw[name] = value
        elif name == "file":
            upload = (await value.read(), value.filename or "file")
    await form.close()
    return raw, upload


def _loggable(raw: dict[str, str]) -> Any:
    """The call's decoded ``json`` parameter for the log (the raw text if it is not JSON)."""
    text = raw.get("json")
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


# -- pageview API --------------------------------------------------------------------


async def pageview(request: Request) -> Response:
    sandbox = _sandbox(request)
    config = sandbox.config
    raw = await request.body()
    try:
        body: Any = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        body = raw.decode("utf-8", errors="replace")
    record = partial(
        sandbox.recorder.record,
        method="POST",
        endpoint=PAGEVIEW_ROUTE.split(" ", 1)[1],
        api_key=None,
        params=body,
    )

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != config.customer_id:
        error = ApiError(
            INVALID_API_KEY,
            "Invalid or missing customer id (Authorization: Bearer <customerId>)",
            status=401,
        )
        record(status=401, error=error.code, errormsg=error.message)
        return _error(error)

    headers: dict[str, str] = {}
    limit = config.limit_for(PAGEVIEW_ROUTE)
    if limit is not None:
        rate = sandbox.limiter.hit(PAGEVIEW_ROUTE, limit, config.rate_limit_window)
        headers = rate.headers()
        if not rate.allowed:
            error = ApiError(RATE_LIMITED, "Too many requests", status=429)
            record(status=429, error=error.code, errormsg=error.message)
            return _error(error, headers)

    try:
        key, ident, url, tags = _pageview_fields(body)
        sandbox.account.record_pageview(key, ident, url, tags)
    except ApiError as error:
        record(status=error.status, error=error.code, errormsg=error.message)
        return _error(error, headers)
    record(status=200)
    return JSONResponse({"ok": True}, headers=headers)


def _pageview_fields(body: Any) -> tuple[str, str, str, list[str]]:
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object")
    for name in ("userIdValue", "url"):
        if body.get(name) is None or body.get(name) == "":
            raise missing(name)
    key = body.get("userIdKey", "extid")
    if key not in KEY_TYPES:
        raise invalid(f"Unsupported userIdKey: {key!r}")
    ident = body["userIdValue"]
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        raise invalid("userIdValue must be a string")
    url = body["url"]
    if not isinstance(url, str):
        raise invalid("url must be a string")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise invalid("tags must be an array of strings")
    return key, str(ident), url, tags


# -- inspection and control ----------------------------------------------------------


async def inspect_state(request: Request) -> Response:
    return JSONResponse(_sandbox(request).snapshot())


async def inspect_user(request: Request) -> Response:
    key = request.query_params.get("key", "extid")
    if key not in KEY_TYPES:
        return JSONResponse(
            {"error": f"key must be one of {', '.join(KEY_TYPES)}"}, status_code=400
        )
    ident = request.path_params["ident"]
    profile = _sandbox(request).account.find(key, ident)
    if profile is None:
        return JSONResponse({"error": f"no profile with {key} {ident}"}, status_code=404)
    return JSONResponse(profile.inspect())


async def inspect_requests(request: Request) -> Response:
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError:
        return JSONResponse({"error": "since must be an integer"}, status_code=400)
    return JSONResponse({"requests": _sandbox(request).recorder.entries(since)})


async def reset(request: Request) -> Response:
    restore = request.query_params.get("config", "").lower() in {"1", "true", "yes"}
    _sandbox(request).reset(config=restore)
    return JSONResponse({"ok": True})


async def show_config(request: Request) -> Response:
    return JSONResponse({"config": _sandbox(request).config.public()})


async def change_config(request: Request) -> Response:
    try:
        changes = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        return JSONResponse({"error": f"invalid JSON: {exc}"}, status_code=400)
    if not isinstance(changes, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    try:
        config = _sandbox(request).configure(changes)
    except (ConfigError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"config": config.public()})
