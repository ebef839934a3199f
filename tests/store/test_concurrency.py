"""Concurrent claimers share the queue without ever sharing a job or a user."""

from __future__ import annotations

import asyncio
import random

from sailbridge.store.base import JobState, Store

from .helpers import WINDOW, attempt, new_job


async def test_concurrent_claimers_never_get_the_same_job_or_two_jobs_of_one_user(
    store: Store,
) -> None:
    jobs = [new_job(f"u{n % 17}") for n in range(300)]
    for start in range(0, len(jobs), 50):
        await store.enqueue(jobs[start : start + 50], [], WINDOW, 1_000.0)
    held: dict[str, int] = {}  # user -> job id, across every worker
    delivered: list[int] = []
    rng = random.Random(7)

    async def worker(name: str) -> None:
        idle = 0
        while idle < 20:
            claimed = await store.claim(name, 4, 60.0, 1_000.0)
            idle = 0 if claimed else idle + 1
            for job in claimed:
                assert job.user_key not in held, f"{job.user_key} claimed twice at once"
                held[job.user_key] = job.id
            await asyncio.sleep(rng.random() / 1000)
            for job in claimed:
                del held[job.user_key]
                await store.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker=name)
                delivered.append(job.id)
            if not claimed:
                await asyncio.sleep(0.001)

    await asyncio.gather(*(worker(f"w{n}") for n in range(4)))

    assert len(delivered) == len(set(delivered)) == 300
    assert (await store.counts()).delivered == 300
