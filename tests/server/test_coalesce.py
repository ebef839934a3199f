"""Concurrent requests share store calls, yet each fails only for its own reasons."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from sailbridge.server.coalesce import AcceptCoalescer
from sailbridge.store.base import JobState, NewJob, Rejection
from sailbridge.store.sqlite import SqliteStore

from ..store.helpers import jobs_in
from .stores import WatchedWrites


class CountingStore(WatchedWrites):
    """The real store, counting calls and refusing any call holding a "poison" job."""

    def __init__(self, inner: SqliteStore) -> None:
        super().__init__(inner)
        self.calls: list[int] = []

    async def before_write(self, jobs: Sequence[NewJob]) -> None:
        self.calls.append(len(jobs))
        if any(job.message_id == "poison" for job in jobs):
            raise ValueError("cannot store this one")


def job(message_id: str) -> NewJob:
    return NewJob(
        "wk", message_id, {"type": "track", "userId": "u", "event": "E"}, "track", "u", ("u",), 1.0
    )


async def test_requests_waiting_together_go_in_one_store_call(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "q.db") as real:
        store = CountingStore(real)
        coalescer = AcceptCoalescer(store, 86400, max_calls=1)  # type: ignore[arg-type]
        await asyncio.gather(*(coalescer.accept([job(f"m{n}")], [], 1.0) for n in range(20)))
        assert sum(store.calls) == 20
        assert len(store.calls) < 20
        assert len(await jobs_in(real, JobState.PENDING, limit=100)) == 20


async def test_a_request_the_store_refuses_fails_alone(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "q.db") as real:
        store = CountingStore(real)
        coalescer = AcceptCoalescer(store, 86400, max_calls=1)  # type: ignore[arg-type]
        outcomes = await asyncio.gather(
            *(coalescer.accept([job(name)], [], 1.0) for name in ("a", "poison", "b", "c")),
            return_exceptions=True,
        )
        assert [type(outcome) for outcome in outcomes] == [
            type(None),
            ValueError,
            type(None),
            type(None),
        ]
        stored = await jobs_in(real, JobState.PENDING, limit=100)
        assert sorted(stored_job.message_id or "" for stored_job in stored) == ["a", "b", "c"]


@pytest.mark.parametrize("max_calls", [1, 3])
async def test_no_more_than_max_calls_run_at_once(tmp_path: Path, max_calls: int) -> None:
    running = peak = 0

    class SlowStore:
        async def accept(
            self,
            jobs: Sequence[NewJob],
            rejections: Sequence[Rejection],
            dedupe_window: float,
            now: float,
        ) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return len(jobs)

    coalescer = AcceptCoalescer(SlowStore(), 86400, max_calls=max_calls)  # type: ignore[arg-type]
    await asyncio.gather(*(coalescer.accept([job(f"m{n}")], [], 1.0) for n in range(50)))
    assert peak == max_calls
