"""The checks every store makes before its backend's code runs, written once.

Both backends (`sailbridge.store.sqlite.SqliteStore`, `sailbridge.store.postgres.
PostgresStore`) inherit `StoreGuards`: the public methods it defines check their
arguments — nothing to enqueue, a finish to a state that is not final, a claim of no
jobs, a replay of no ids — and call the backend's ``_``-named operation only when
there is work; it is also the async context manager, and `StoreGuards.ready` opens a
store that is closed again if opening fails. A backend holds only its transactions
and queries (as procrastinate's connectors stay small while its manager holds the
logic), so a guard changed here holds for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sailbridge.store.base import (
    FINAL_STATES,
    Attempt,
    EnqueueResult,
    Job,
    JobState,
    NewJob,
    Rejection,
)

if TYPE_CHECKING:
    from sailbridge.store.send_plan import SentJob


class StoreGuards(ABC):
    """The guarded half of `sailbridge.store.base.Store` (see the module docstring)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def ready(self, *steps: Callable[[], Awaitable[object]]) -> Self:
        """Run the steps that open this store (a schema check, migrating) in order;
        if one fails, the store is closed before the error goes on."""
        try:
            for step in steps:
                await step()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        """Store jobs and rejections; ``dedupe_window <= 0`` turns dedupe off."""
        if not jobs and not rejections:
            return EnqueueResult(0, 0, 0)
        return await self._enqueue(jobs, rejections, dedupe_window, now)

    async def accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int:
        if not jobs and not rejections:
            return 0
        return await self._accept(jobs, rejections, dedupe_window, now)

    async def enqueue_sent(
        self, jobs: Sequence[NewJob], now: float, *, force: bool = False
    ) -> list[SentJob]:
        if not jobs:
            return []
        if any(len(job.accounts) != 1 for job in jobs):
            raise ValueError("send queues each event for exactly one account")
        return await self._enqueue_sent(jobs, now, force)

    async def claim(
        self, worker: str, limit: int, lease: float, now: float, *, account: str | None = None
    ) -> list[Job]:
        if limit <= 0:
            return []
        return await self._claim(worker, limit, lease, now, account)

    async def claim_groups(
        self,
        worker: str,
        limit: int,
        lease: float,
        now: float,
        size: int,
        *,
        account: str | None = None,
    ) -> list[list[Job]]:
        if limit <= 0:
            return []
        return await self._claim_groups(worker, limit, lease, now, max(1, size), account)

    async def heartbeat(
        self, worker: str, job_ids: Sequence[int], lease: float, now: float
    ) -> None:
        if job_ids:
            await self._heartbeat(worker, job_ids, lease, now)

    async def finish(
        self,
        job_id: int,
        state: JobState,
        attempt: Attempt,
        reason: str | None = None,
        *,
        worker: str,
    ) -> None:
        final = JobState(state)
        if final not in FINAL_STATES:
            raise ValueError(f"finish needs delivered, skipped or dead, not {final.value!r}")
        await self._finish(job_id, final, attempt, reason, worker)

    async def replay(
        self, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
    ) -> int:
        if job_ids is not None and not job_ids:
            return 0
        return await self._replay(job_ids, reason_contains, now)

    async def purge_dead(
        self,
        job_ids: Sequence[int] | None = None,
        reason_contains: str | None = None,
        *,
        older_than: float | None = None,
    ) -> int:
        """Delete dead jobs and their history: those last updated before ``older_than``
        (rejections from before then go too), or else those chosen as `replay` chooses
        them (every dead job when nothing narrows it); returns how many jobs."""
        if older_than is not None:
            if job_ids is not None or reason_contains is not None:
                raise ValueError("purge dead jobs by age, or by ids and reason, not both")
            return await self._purge_dead_before(older_than)
        if job_ids is not None and not job_ids:
            return 0
        return await self._purge_dead_chosen(job_ids, reason_contains)

    # -- what each backend implements, called only with work to do ---------------------

    @abstractmethod
    async def _enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult: ...

    @abstractmethod
    async def _accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int: ...

    @abstractmethod
    async def _enqueue_sent(
        self, jobs: Sequence[NewJob], now: float, force: bool
    ) -> list[SentJob]: ...

    @abstractmethod
    async def _claim(
        self, worker: str, limit: int, lease: float, now: float, account: str | None
    ) -> list[Job]: ...

    @abstractmethod
    async def _claim_groups(
        self, worker: str, limit: int, lease: float, now: float, size: int, account: str | None
    ) -> list[list[Job]]: ...

    @abstractmethod
    async def _heartbeat(
        self, worker: str, job_ids: Sequence[int], lease: float, now: float
    ) -> None: ...

    @abstractmethod
    async def _finish(
        self, job_id: int, state: JobState, attempt: Attempt, reason: str | None, worker: str
    ) -> None: ...

    @abstractmethod
    async def _replay(
        self, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
    ) -> int: ...

    @abstractmethod
    async def _purge_dead_before(self, older_than: float) -> int: ...

    @abstractmethod
    async def _purge_dead_chosen(
        self, job_ids: Sequence[int] | None, reason_contains: str | None
    ) -> int: ...
