"""Rate limits shared by every node on one database.

Sailthru's limits are per account, not per machine: with several nodes, each pacing
itself at the configured rate would together send N times too much. So the slots live
in the database (`SharedSlots`; on PostgreSQL `sailbridge.store.postgres.ratelimit`,
one row per route): a node takes the route's next slots and reserves the one after
them in one atomic statement, on the *database's* clock, then each call sleeps
locally until its slot. Whatever the number of nodes,
slots are ``1 / rate`` apart, and a block (Sailthru said nothing remains, or answered
429) written by one node holds for all, because every later slot is taken after it
and a call that slept until its slot looks at the route's block before it goes.

A node takes one slot per waiting call, for all the calls waiting at that moment in
one statement (while it is in flight, newly waiting calls gather for the next one):
the hot row is written once per group of calls rather than once per call, so the
limiter keeps up with thousands of calls a second while the sum over nodes stays
within the rate. Calls that wake from their slot at the same moment share one look
at the block, as long as it began after they woke.

`SharedRateLimiter` is a `RateLimiter` (same ``acquire``/``observe``/``block``,
``waited_seconds`` and ``on_wait``), so `RateLimitedSender` uses it unchanged. If the
database cannot be reached, it paces this node alone, as the in-process limiter
would, rather than stop delivery (the store is then failing anyway).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sailbridge.clock import Clock
from sailbridge.delivery.ratelimit import (
    DEFAULT_BLOCK_SECONDS,
    PAST_RESET_BLOCK_SECONDS,
    RateLimiter,
)
from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK, DEFAULT_OTHER_LIMIT
from sailbridge.store.errors import StoreError
from sailbridge.store.factory import SharedSlots

log = logging.getLogger("sailbridge.ratelimit")

WARN_EVERY = 60.0
"""Seconds between two warnings that the database is unreachable."""
NO_WAIT = 1e-6
"""A slot this close to now is now (the slot arithmetic is in floats)."""
MAX_SLOTS = 256
"""Most slots one node takes in one statement."""


@dataclass
class _SharedRoute:
    """A route's calls waiting for slots on this node, and its reads in flight."""

    waiters: deque[asyncio.Future[float]] = field(default_factory=deque)
    taking: asyncio.Task[None] | None = None
    look: tuple[float, asyncio.Future[tuple[float, float]]] | None = None
    """The latest read of the route's block: when it began, and its result."""


class SharedRateLimiter(RateLimiter):
    """Per-route pacing whose slots and blocks are shared through the database.

    ``slots`` is the database's side (`sailbridge.wiring` builds it for the store).
    ``clock`` and ``sleep`` serve the local fallback and the waiting; the slots
    themselves are computed with the database's clock, so nodes with skewed clocks
    still agree.
    """

    def __init__(
        self,
        slots: SharedSlots,
        limits_per_second: Mapping[str, float],
        clock: Clock = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
        on_wait: Callable[[str, float], None] = lambda route, seconds: None,
        *,
        max_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK,
    ) -> None:
        super().__init__(limits_per_second, clock, sleep, on_wait, max_block=max_block)
        self._slots = slots
        self._limits_shared = dict(limits_per_second)
        self._sleep_shared = sleep
        self._on_wait_shared = on_wait
        self._writes: dict[str, set[asyncio.Task[None]]] = {}
        self._shared: dict[str, _SharedRoute] = {}
        self._warned_at = float("-inf")

    def _interval(self, route: str) -> float:
        return 1.0 / self._limits_shared.get(route, DEFAULT_OTHER_LIMIT)

    async def acquire(self, route: str) -> None:
        """Wait for this route's next slot among all nodes (and any block in force)."""
        try:
            waited = await self._acquire_shared(route)
        except StoreError as error:
            self._warn(error)
            await super().acquire(route)
            return
        if waited > 0:
            self.waited_seconds[route] = self.waited_seconds.get(route, 0.0) + waited
            self._on_wait_shared(route, waited)

    async def _acquire_shared(self, route: str) -> float:
        waited = 0.0
        while True:
            await self._flush(route)
            delay = await self._slot(route) - time.monotonic()
            if delay <= NO_WAIT:
                return waited
            waited += delay
            await self._sleep_shared(delay)  # type: ignore[misc]
            # A node may have closed the route while we slept (Sailthru said nothing
            # remains): take a fresh slot after the block rather than earn a 429.
            await self._flush(route)
            if not await self._blocked(route):
                return waited

    async def _slot(self, route: str) -> float:
        """This call's slot among all nodes, as a local `time.monotonic` instant."""
        state = self._shared.get(route)
        if state is None:
            state = self._shared[route] = _SharedRoute()
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        state.waiters.append(waiter)
        if state.taking is None or state.taking.done():
            state.taking = asyncio.create_task(self._take_slots(route, state))
        return await waiter

    async def _take_slots(self, route: str, state: _SharedRoute) -> None:
        """Take one slot for each call waiting on ``route``, a group at a time, until
        none is waiting; a database error is handed to every waiting call."""
        interval = self._interval(route)
        while state.waiters:
            group: list[asyncio.Future[float]] = []
            while state.waiters and len(group) < MAX_SLOTS:
                waiter = state.waiters.popleft()
                if not waiter.done():  # not cancelled
                    group.append(waiter)
            if not group:
                continue
            try:
                await self._flush(route)
                first, now = await self._slots.take(route, interval, len(group))
            except BaseException as error:
                for waiter in [*group, *state.waiters]:
                    if not waiter.done():
                        if isinstance(error, Exception):
                            waiter.set_exception(error)
                        else:
                            waiter.cancel()
                state.waiters.clear()
                if isinstance(error, Exception):
                    return
                raise
            base = time.monotonic() + first - now
            for index, waiter in enumerate(group):
                if not waiter.done():
                    waiter.set_result(base + index * interval)

    async def _blocked(self, route: str) -> bool:
        """Whether a block holds ``route`` now, read after this call woke; calls that
        wake together share one read."""
        state = self._shared[route]
        woke = time.monotonic()
        look = state.look
        if look is None or look[0] < woke:
            look = (time.monotonic(), asyncio.ensure_future(self._slots.blocked_until(route)))
            state.look = look
        blocked_until, now = await asyncio.shield(look[1])
        return blocked_until - now > NO_WAIT

    def block(self, route: str, until: float | None) -> None:
        """Hold ``route`` until the epoch second ``until`` (a short pause if unknown, at
        most ``max_block`` seconds on the database's clock), here at once and for every
        node as soon as the write lands (before this node's next `acquire` of the
        route)."""
        super().block(route, until)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: nobody to write it
            return
        task = loop.create_task(self._write_block(route, until))
        writes = self._writes.setdefault(route, set())
        writes.add(task)
        task.add_done_callback(writes.discard)

    async def _write_block(self, route: str, until: float | None) -> None:
        try:
            await self._slots.block(
                route,
                until,
                default_block=DEFAULT_BLOCK_SECONDS,
                past_block=PAST_RESET_BLOCK_SECONDS,
                max_block=self.max_block,
            )
        except StoreError as error:
            self._warn(error)

    async def _flush(self, route: str) -> None:
        """Wait for this node's pending block writes of ``route``."""
        writes = self._writes.get(route)
        if writes:
            await asyncio.gather(*list(writes))

    def _warn(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("shared rate limits unavailable (%s); pacing this node alone", error)
