"""The async Sailthru client: one `Call` in, one `SailthruResponse` out, or an error.

It knows the wire (signing, query vs form encoding, the pageview API's Bearer token) and
nothing about events. Rate limiting and retries sit above it, so the same client serves
the one-shot CLI and the queueing service.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import msgspec

from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.errors import (
    CredentialsError,
    RateLimitInfo,
    SailthruError,
    TransportError,
    classify,
    parse_rate_limit,
)
from sailbridge.sailthru.signing import signed_params


@dataclass(frozen=True)
class SailthruResponse:
    """A successful answer: decoded body, rate-limit headers and how long it took."""

    status: int
    body: Any
    rate_limit: RateLimitInfo | None
    seconds: float


class Sender(Protocol):
    """Anything that performs a `Call`: the client, or the client behind a rate limiter."""

    async def send(self, call: Call) -> SailthruResponse: ...


class SailthruClient:
    """Sends `Call`s to Sailthru's REST API (signed) and to its pageview API.

    The session is passed in so its owner decides connection pooling and lifetime;
    the secret stays inside this object and never reaches a message or a record.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        api_secret: str,
        base_url: str = "https://api.sailthru.com",
        pageview_base_url: str = "https://api.sail-track.com",
        customer_id: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._session = session
        self._api_key = api_key
        self._api_secret = api_secret
        self._base_url = base_url.rstrip("/")
        self._pageview_base_url = pageview_base_url.rstrip("/")
        self._customer_id = customer_id
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return f"SailthruClient(base_url={self._base_url!r}, api_key={self._api_key!r})"

    async def send(self, call: Call) -> SailthruResponse:
        """Perform ``call``; raise a `SailthruError` subclass saying what went wrong."""
        if call.api == "pageview":
            return await self._send_pageview(call)
        params = signed_params(self._api_key, self._api_secret, call.params)
        url = self._base_url + call.endpoint
        if call.method == "POST":
            return await self._request(call, url, data=params)
        return await self._request(call, url, params=params)

    async def post_job(
        self,
        job: str,
        params: dict[str, Any],
        file: Path,
        on_bytes: Callable[[int], None] | None = None,
    ) -> SailthruResponse:
        """Start a Job API job (``POST /job``) with ``file`` as its multipart ``file`` part.

        The text parameters are the usual four (``api_key``, ``format``, ``json`` =
        ``{"job": job, **params}``, ``sig``); as in every official client, the file is
        not a parameter and is not signed. ``on_bytes`` is told of each chunk of the
        file as it is read for sending (a progress bar).
        """
        call = Call("POST", "/job", {"job": job, **params})
        form = aiohttp.FormData(default_to_multipart=True)
        for name, value in signed_params(self._api_key, self._api_secret, call.params).items():
            form.add_field(name, value)
        with _ProgressFile(file, on_bytes) as handle:
            form.add_field("file", handle, filename=file.name, content_type="application/json")
            return await self._request(call, self._base_url + call.endpoint, data=form)

    async def job_status(self, job_id: str) -> SailthruResponse:
        """``GET /job`` for ``job_id``: its ``status`` (pending, completed, error) and more."""
        return await self.send(Call("GET", "/job", {"job_id": job_id}))

    async def _send_pageview(self, call: Call) -> SailthruResponse:
        if not self._customer_id:
            raise CredentialsError(
                "no customer id configured for pageview tracking", route=call.route
            )
        return await self._request(
            call,
            self._pageview_base_url + call.endpoint,
            data=msgspec.json.encode(call.params),
            headers={
                "Authorization": f"Bearer {self._customer_id}",
                "Content-Type": "application/json",
            },
        )

    async def _request(self, call: Call, url: str, **kwargs: Any) -> SailthruResponse:
        started = time.perf_counter()
        try:
            async with self._session.request(
                call.method, url, timeout=self._timeout, **kwargs
            ) as response:
                raw = await response.read()
                status = response.status
                rate_limit = parse_rate_limit(response.headers)
        except TimeoutError:
            raise TransportError(
                f"no answer within {self._timeout.total:g} s", route=call.route
            ) from None
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{type(exc).__name__}: {exc}".rstrip(": "), route=call.route
            ) from None
        body = _decode(raw)
        error = classify(call.route, status, body, rate_limit)
        if error is not None:
            raise error
        if call.api == "rest" and not isinstance(body, dict):
            raise TransportError(
                f"HTTP {status} with a body that is not a JSON object",
                route=call.route,
                status=status,
            )
        return SailthruResponse(status, body, rate_limit, time.perf_counter() - started)


class _ProgressFile(io.BufferedReader):
    """A file opened for upload that reports every chunk aiohttp reads from it."""

    def __init__(self, path: Path, on_bytes: Callable[[int], None] | None) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._on_bytes = on_bytes

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._on_bytes is not None and chunk:
            self._on_bytes(len(chunk))
        return chunk


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw.decode("utf-8", errors="replace")


def is_user_not_found(error: SailthruError) -> bool:
    """Sailthru's answer to GET /user for an unknown extid (error 99, HTTP 400)."""
    return error.code == 99 and "not found" in error.message.lower()


__all__ = ["SailthruClient", "SailthruError", "SailthruResponse", "Sender", "is_user_not_found"]
