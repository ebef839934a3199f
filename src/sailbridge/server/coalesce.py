"""Concurrent ingest requests joined into one ``Store.accept`` call.

Every store call has a fixed cost (a hand-off to the SQLite writer thread and a
savepoint, or a round trip to PostgreSQL) that dwarfs storing one event, and
single-event requests (``/v1/track``) arrive one event at a time. So while a store
call is in flight, the requests that come in wait together and go in the next call:
under load calls grow, when idle a request goes alone and at once. Each request is
still answered only after the call holding its events returned.

If a joined call fails, each request in it is retried alone, so one request the
store cannot take (a poison value) fails by itself instead of taking its neighbours
down with it on every retry.

`Store.accept` makes the events durable now; the store sorts them into the queue a
moment later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sailbridge.futures import settle
from sailbridge.store.base import NewJob, Queue, Rejection


@dataclass
class _Waiting:
    jobs: Sequence[NewJob]
    rejections: Sequence[Rejection]
    now: float
    done: asyncio.Future[None]


class AcceptCoalescer:
    """Runs at most ``max_calls`` `Store.accept` calls at once, each with all requests waiting."""

    def __init__(self, store: Queue, dedupe_window: float, max_calls: int = 2) -> None:
        self.store = store
        self.dedupe_window = dedupe_window
        self.max_calls = max(1, max_calls)
        self._queue: list[_Waiting] = []
        self._calls = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(
        self, jobs: Sequence[NewJob], rejections: Sequence[Rejection], now: float
    ) -> None:
        """Take these jobs and rejections durably; raises what the store raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(jobs, rejections, now, done))
        if self._calls < self.max_calls:
            self._start()
        await done

    def _start(self) -> None:
        group, self._queue = self._queue, []
        self._calls += 1
        task = asyncio.create_task(self._call(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                await self._one(group[0])
            else:
                await self._joined(group)
        finally:
            self._calls -= 1
            if self._queue and self._calls < self.max_calls:
                self._start()

    async def _joined(self, group: list[_Waiting]) -> None:
        jobs = [job for waiting in group for job in waiting.jobs]
        rejections = [rejection for waiting in group for rejection in waiting.rejections]
        try:
            await self._store_call(jobs, rejections, max(waiting.now for waiting in group))
        except Exception:
            for waiting in group:
                await self._one(waiting)
            return
        for waiting in group:
            settle(waiting.done, None)

    async def _store_call(
        self, jobs: Sequence[NewJob], rejections: Sequence[Rejection], now: float
    ) -> None:
        await self.store.accept(jobs, rejections, self.dedupe_window, now)

    async def _one(self, waiting: _Waiting) -> None:
        try:
            await self._store_call(waiting.jobs, waiting.rejections, waiting.now)
        except Exception as exc:
            settle(waiting.done, None, exc)
            return
        settle(waiting.done, None)
