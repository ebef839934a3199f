"""Wrappers around a real store, for the tests that need it to count, stall or fail.

Each wraps the store a test opened (or a live server's, through ``wrap_store``) and
passes every call it does not override straight through, so what is not under test
behaves exactly as the real store does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sailbridge.store.base import EnqueueResult, NewJob, Rejection, Store


class Delegating:
    """The real store; a subclass overrides the calls it changes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class WatchedWrites(Delegating):
    """The real store, whose writes (``enqueue``, ``accept``) first pass `before_write`:
    a subclass counts them there, holds them, or raises to fail them."""

    async def before_write(self, jobs: Sequence[NewJob]) -> None:
        """Called with each write's jobs before the store sees them."""

    async def enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        await self.before_write(jobs)
        result: EnqueueResult = await self.inner.enqueue(jobs, rejections, dedupe_window, now)
        return result

    async def accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int:
        await self.before_write(jobs)
        taken: int = await self.inner.accept(jobs, rejections, dedupe_window, now)
        return taken


class LockedStore(WatchedWrites):
    """A store whose writes fail the way a locked or full SQLite database does."""

    async def before_write(self, jobs: Sequence[NewJob]) -> None:
        raise sqlite3.OperationalError("database is locked")
