"""Every `Sender` wrapper, in the order they stack around Sailthru's client.

The worker holds one `Sender`; what happens on the way to Sailthru is a stack of
wrappers around `sailbridge.sailthru.client.SailthruClient`, kept together here (as
httpx keeps its transports together) so the whole path of a call reads in one file:

    RateLimitedSender  →  MeasuredSender  →  SailthruClient
    (paces, absorbs 429s)  (latency, status)   (signs, sends)

`sailbridge.wiring.account_senders` builds one stack per account; the limiter under
`RateLimitedSender` is the in-process `RateLimiter` or, on PostgreSQL, the shared one.
"""

from __future__ import annotations

import time

from sailbridge.delivery.ratelimit import RateLimiter
from sailbridge.metrics import Metrics
from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.client import SailthruResponse, Sender
from sailbridge.sailthru.errors import RateLimitedError, SailthruError
from sailbridge.settings import DEFAULT_RATE_LIMIT_RESENDS
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import route_key


class RateLimitedSender:
    """A `Sender` that paces calls through a `RateLimiter` and absorbs 429s.

    A 429 is Sailthru asking us to slow down, not a failure of the event: the route is
    blocked until the reset (at most the limiter's ``max_block``) and the same call is
    sent again, up to ``resends`` times (`RetryPolicy.rate_limit_resends`). Then the
    `RateLimitedError` is passed on, and the worker's `decide` releases the job to the
    queue untouched — it is not counted as a failed attempt.
    """

    def __init__(
        self,
        client: Sender,
        limiter: RateLimiter,
        resends: int = DEFAULT_RATE_LIMIT_RESENDS,
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self._client = client
        self._limiter = limiter
        self._resends = resends
        self._account = account
        self.waiting = 0
        """Calls waiting for their route's rate limit (or its 429 block) right now."""

    async def send(self, call: Call) -> SailthruResponse:
        # One limiter for every account, keyed by (account, route): Sailthru's limits
        # are per account, so one account's 429s never hold another's routes.
        route = route_key(self._account, call.route)
        for attempt in range(self._resends + 1):
            self.waiting += 1
            try:
                await self._limiter.acquire(route)
            finally:
                self.waiting -= 1
            try:
                response = await self._client.send(call)
            except RateLimitedError as error:
                self._limiter.block(route, error.reset_at)
                if attempt == self._resends:
                    raise
                continue
            self._limiter.observe(route, response.rate_limit)
            return response
        raise AssertionError("unreachable")


class MeasuredSender:
    """Records each Sailthru call's latency and status in the metrics."""

    def __init__(self, inner: Sender, metrics: Metrics, *, account: str = DEFAULT_ACCOUNT) -> None:
        self._inner = inner
        self._metrics = metrics
        self._account = account

    async def send(self, call: Call) -> SailthruResponse:
        started = time.perf_counter()
        try:
            response = await self._inner.send(call)
        except SailthruError as error:
            self._metrics.observe_sailthru_call(
                call.route,
                time.perf_counter() - started,
                error.status,
                error.rate_limit,
                self._account,
            )
            raise
        self._metrics.observe_sailthru_call(
            call.route,
            time.perf_counter() - started,
            response.status,
            response.rate_limit,
            self._account,
        )
        return response
