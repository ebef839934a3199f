"""The admin HTTP API: status, dead letters, replay, purge, resume — behind a token.

The same views as ``sailbridge status`` and ``sailbridge dlq`` (`sailbridge.operations`).
Without ``SAILBRIDGE_ADMIN_TOKEN`` the admin API is off and says so: an operator API
open to anyone who can reach the ingest port would let them replay or purge events.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sailbridge import operations
from sailbridge.events import InvalidEvent
from sailbridge.forget import FORGET_WRITE_KEY, deletion_event
from sailbridge.intake.jobs import job_for
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.settings.rate_limits import DEFAULT_RATE_LIMITS
from sailbridge.status import Limits, read_status, status_json
from sailbridge.store.base import OperatorStore

Handler = Callable[[Request], Awaitable[Response]]


def _json(content: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(content), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"code": code, "message": message}, status)


def _guarded(token: str | None, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if token is None:
            return _error(
                404,
                "admin_disabled",
                "the admin API is off; set SAILBRIDGE_ADMIN_TOKEN to enable it",
            )
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            return _error(401, "unauthorized", "send Authorization: Bearer <admin token>")
        return await handler(request)

    return guarded


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        # ValueError, not TypeError: `_bad_input_is_400` turns it into the client's 400
        raise ValueError("the body must be a JSON object")
    return decoded


def _bad_input_is_400(handler: Handler) -> Handler:
    """A `ValueError` from reading the request (a bad limit, id or body) is the
    client's mistake: 400 with the reason, never a 500."""

    async def checked(request: Request) -> Response:
        try:
            return await handler(request)
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))

    return checked


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; expected {', '.join(sorted(allowed))}")


def admin_routes(
    store: OperatorStore,
    token: str | None,
    prefix: str = "/admin",
    on_enqueued: Callable[[Any], None] = lambda app: None,
    accounts: Sequence[str] = (DEFAULT_ACCOUNT,),
    limits: Limits | None = None,
) -> list[Route]:
    """Routes under ``prefix``; every one requires ``Authorization: Bearer <token>``.
    ``on_enqueued(app)`` wakes a worker in this process after a route queued a job.
    ``accounts`` are the configured accounts: an ``account`` parameter (query or body)
    narrows a route to one of them. ``limits``: each account's rate limits, for the
    drain times in ``/status`` (the defaults when not given)."""
    drain_limits = limits or Limits({name: dict(DEFAULT_RATE_LIMITS) for name in accounts})

    def account_of(given: Any) -> str | None:
        if given is None:
            return None
        if given not in accounts:
            raise ValueError(f"unknown account {given!r}; one of {', '.join(accounts)}")
        return str(given)

    async def status(request: Request) -> Response:
        account = account_of(request.query_params.get("account"))
        return _json(status_json(await read_status(store, drain_limits, account)))

    async def dlq_list(request: Request) -> Response:
        limit = operations.parse_limit(request.query_params.get("limit", "100"))
        reason = operations.check_reason_filter(request.query_params.get("reason"))
        account = account_of(request.query_params.get("account"))
        return _json({"dead": await operations.dead_jobs(store, limit, reason, account)})

    async def dlq_show(request: Request) -> Response:
        job_id = operations.check_job_id(request.path_params["job_id"])
        job = await store.get_job(job_id)
        if job is None:
            return _error(404, "not_found", f"no job {job_id}")
        return _json(operations.job_detail(job))

    async def dlq_replay(request: Request) -> Response:
        body = await _body(request)
        _only(body, {"ids", "reason", "all", "account"})
        account = account_of(body.get("account"))
        everything = body.get("all", False)
        if not isinstance(everything, bool):
            raise ValueError("all must be true or false")
        ids = None if body.get("ids") is None else operations.check_job_ids(body["ids"])
        reason = operations.check_reason_filter(body.get("reason"))
        if operations.replay_refusal(ids, reason, everything, ids_exclusive=False) is not None:
            raise ValueError(
                'name what to replay: {"ids": [...]}, {"reason": "text"} or {"all": true}'
            )
        if account is not None:  # the dead jobs chosen, of that account only
            ids = await operations.dead_ids_in(store, account, ids, reason)
        replayed = await store.replay(ids, reason, time.time()) if ids != [] else 0
        return _json({"replayed": replayed})

    async def dlq_purge(request: Request) -> Response:
        body = await _body(request)
        _only(body, {"older_than", "ids"})
        if ("ids" in body) == ("older_than" in body):
            raise ValueError('send {"older_than": "7d"} or {"ids": [...]}')
        if "ids" in body:
            purged = await store.purge_dead(operations.check_job_ids(body["ids"]))
        else:
            older_than = operations.parse_duration(str(body["older_than"]))
            purged = await store.purge_dead(older_than=time.time() - older_than)
        return _json({"purged": purged})

    async def rejected(request: Request) -> Response:
        limit = operations.parse_limit(request.query_params.get("limit", "100"))
        return _json({"rejected": await operations.rejected_events(store, limit)})

    async def resume(request: Request) -> Response:
        body = await _body(request)
        _only(body, {"account"})
        account = account_of(body.get("account"))
        for name in await store.paused_accounts():
            if account in (None, name):
                await store.set_paused(None, name)
        return _json({"paused": False})

    async def forget(request: Request) -> Response:
        """Queue the deletion of a user (``sailbridge forget`` over HTTP); 202 with the
        job id, whose state says when Sailthru deleted them and sailbridge forgot them
        (the job is gone then: it forgets itself)."""
        try:
            body = await _body(request)
            chosen = account_of(body.get("account"))
        except ValueError as exc:
            return _error(400, "invalid_body", str(exc))
        user_id = body.get("user_id")
        if not isinstance(user_id, str):
            return _error(400, "invalid_body", 'send {"user_id": "<the userId to forget>"}')
        try:
            event = deletion_event(operations.storable_text(user_id, "user_id"))
        except (InvalidEvent, ValueError) as exc:
            return _error(400, "invalid_body", str(exc))
        now = time.time()
        job = msgspec.structs.replace(
            job_for(event, FORGET_WRITE_KEY, now, identity=None),
            accounts=(chosen,) if chosen else tuple(accounts),
        )
        queued = await store.enqueue([job], [], 0.0, now)
        on_enqueued(request.app)
        return _json({"queued": queued.job_ids[0], "jobs": list(queued.job_ids)}, 202)

    table: list[tuple[str, Handler, list[str]]] = [
        ("/status", status, ["GET"]),
        ("/dlq", dlq_list, ["GET"]),
        ("/dlq/replay", dlq_replay, ["POST"]),
        ("/dlq/purge", dlq_purge, ["POST"]),
        ("/dlq/{job_id:int}", dlq_show, ["GET"]),
        ("/rejected", rejected, ["GET"]),
        ("/resume", resume, ["POST"]),
        ("/forget", forget, ["POST"]),
    ]
    return [
        Route(prefix + path, _guarded(token, _bad_input_is_400(handler)), methods=methods)
        for path, handler, methods in table
    ]
