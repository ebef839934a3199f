"""A random mix of operations checked step by step against a tiny model of the queue.

The model is the contract in a few lines: every ordering key has a line of unfinished
jobs (arrival order; a replayed job joins the back); a claim returns exactly the
jobs that head all their lines and are due, plus claimed jobs whose lease expired.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from sailbridge.store.base import JobState, Store

from .helpers import WINDOW, attempt, jobs_in, new_job

USERS = ["u1", "u2", "u3", "u4", "u5", "anon1", "anon2"]


@dataclass
class ModelJob:
    keys: tuple[str, ...]
    state: str = "pending"
    attempts: int = 0
    available_at: float = 0.0
    lease_until: float = 0.0
    owner: str = ""


@dataclass
class Model:
    jobs: dict[int, ModelJob] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def join(self, job_id: int) -> None:
        for key in self.jobs[job_id].keys:
            self.lines.setdefault(key, []).append(job_id)

    def leave(self, job_id: int) -> None:
        for key in self.jobs[job_id].keys:
            self.lines[key].remove(job_id)

    def claimable(self, now: float) -> set[int]:
        return {
            job_id
            for job_id, job in self.jobs.items()
            if (
                job.state == "pending"
                and job.available_at <= now
                and all(self.lines[key][0] == job_id for key in job.keys)
            )
            or (job.state == "claimed" and job.lease_until < now)
        }

    def held(self) -> list[int]:
        return [job_id for job_id, job in self.jobs.items() if job.state == "claimed"]

    def count(self, state: str, retrying: bool | None = None) -> int:
        return sum(
            1
            for job in self.jobs.values()
            if job.state == state and (retrying is None or (job.attempts > 0) == retrying)
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_store_behaves_like_the_model(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    model = Model()
    now = 1_000.0
    for _step in range(150):
        now += rng.choice([0.0, 1.0, 3.0, 12.0])
        action = rng.choices(["enqueue", "claim", "settle", "replay"], [3, 3, 4, 1])[0]
        if action == "enqueue":
            batch = []
            for _ in range(rng.randint(1, 4)):
                user = rng.choice(USERS[:5])
                keys = (user, rng.choice(USERS[5:])) if rng.random() < 0.2 else (user,)
                batch.append(new_job(user, keys=keys))
            await store.enqueue(batch, [], WINDOW, now)
            pending = await jobs_in(store, JobState.PENDING, limit=10_000)
            new_ids = sorted(job.id for job in pending if job.id not in model.jobs)
            assert len(new_ids) == len(batch)
            for job_id, job in zip(new_ids, batch, strict=True):
                model.jobs[job_id] = ModelJob(
                    tuple(dict.fromkeys(job.ordering_keys)), available_at=now
                )
                model.join(job_id)
        elif action == "claim":
            worker, lease = rng.choice(["w1", "w2"]), rng.choice([5.0, 20.0])
            expected = model.claimable(now)
            claimed = await store.claim(worker, 1_000, lease, now)
            assert {job.id for job in claimed} == expected
            for job in claimed:
                held = model.jobs[job.id]
                held.state, held.owner, held.lease_until = "claimed", worker, now + lease
        elif action == "settle" and model.held():
            job_id = rng.choice(model.held())
            job = model.jobs[job_id]
            how = rng.choice(["delivered", "skipped", "dead", "retry", "release"])
            if how == "retry":
                at = now + rng.choice([0.0, 5.0])
                await store.retry_at(job_id, at, attempt(now, "retry"), worker=job.owner)
                job.state, job.attempts, job.available_at = "pending", job.attempts + 1, at
            elif how == "release":
                await store.release(job_id, now, worker=job.owner)
                job.state, job.available_at = "pending", now
            else:
                await store.finish(job_id, JobState(how), attempt(now, how), how, worker=job.owner)
                job.state = how
                job.attempts += 1
                model.leave(job_id)
        elif action == "replay":
            dead = [job_id for job_id, job in model.jobs.items() if job.state == "dead"]
            chosen = sorted(rng.sample(dead, k=min(len(dead), 2)))
            assert await store.replay(chosen, None, now) == len(chosen)
            for job_id in chosen:
                model.jobs[job_id] = ModelJob(model.jobs[job_id].keys, available_at=now)
                model.join(job_id)

        counts = await store.counts()
        assert (counts.pending, counts.retrying, counts.claimed) == (
            model.count("pending", False),
            model.count("pending", True),
            model.count("claimed"),
        )
        assert (counts.delivered, counts.skipped, counts.dead) == (
            model.count("delivered"),
            model.count("skipped"),
            model.count("dead"),
        )
