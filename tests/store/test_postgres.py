"""What only the PostgreSQL store promises: several nodes on one database.

Each "node" here is its own `PostgresStore` with its own connection pool, as separate
machines would have; the killed node is a real process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import AsyncIterator

import psycopg
import pytest

from sailbridge.delivery.ratelimit import RateLimiter
from sailbridge.delivery.shared_ratelimit import SharedRateLimiter
from sailbridge.store.base import JobState
from sailbridge.store.errors import JobNotClaimed, SchemaTooNew, StoreClosed
from sailbridge.store.factory import open_store
from sailbridge.store.postgres import PostgresStore
from sailbridge.store.postgres.connection import LATEST_VERSION
from sailbridge.store.sql import migrations
from sailbridge.wiring import rate_limiter

from .conftest import fresh_database
from .helpers import WINDOW, FakeClock, attempt, jobs_in, new_job


@pytest.fixture
async def nodes(postgres_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three nodes sharing the (emptied) test database."""
    opened = [
        await PostgresStore.open(postgres_url, FakeClock(1_000.0), max_size=6) for _ in range(3)
    ]
    yield opened
    for node in opened:
        await node.close()


async def lines_disagreeing_with_blockers(url: str) -> list[tuple[int, int, int]]:
    """Unfinished jobs whose ``blockers`` differs from what the lines say."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("""
            SELECT j.id, j.blockers, (
                SELECT count(DISTINCT mine.key) FROM job_keys mine JOIN job_keys earlier
                  ON earlier.key = mine.key AND earlier.pos < mine.pos
                WHERE mine.job_id = j.id)::int AS earlier_keys
            FROM jobs j WHERE j.state IN ('pending', 'claimed')""")
        return [row for row in await cursor.fetchall() if row[1] != row[2]]


async def test_nodes_claiming_at_once_never_share_a_job_or_a_user(
    nodes: list[PostgresStore],
) -> None:
    jobs = [new_job(f"u{n % 23}") for n in range(600)]
    await asyncio.gather(
        *(
            nodes[n % 3].enqueue(jobs[start : start + 40], [], WINDOW, 1_000.0)
            for n, start in enumerate(range(0, len(jobs), 40))
        )
    )
    held: dict[str, int] = {}
    claimed_order: dict[str, list[int]] = defaultdict(list)
    delivered: list[int] = []
    rng = random.Random(11)

    async def worker(node: PostgresStore, name: str) -> None:
        idle = 0
        while idle < 30:
            claimed = await node.claim(name, 5, 60.0, 1_000.0)
            idle = 0 if claimed else idle + 1
            for job in claimed:
                assert job.user_key not in held, f"{job.user_key} claimed twice at once"
                held[job.user_key] = job.id
                claimed_order[job.user_key].append(job.id)
            await asyncio.sleep(rng.random() / 500)
            for job in claimed:
                del held[job.user_key]
                await node.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker=name)
                delivered.append(job.id)
            if not claimed:
                await asyncio.sleep(0.002)

    await asyncio.gather(
        *(worker(node, f"{n}-w{k}") for n, node in enumerate(nodes) for k in range(3))
    )

    assert len(delivered) == len(set(delivered)) == 600
    assert all(ids == sorted(ids) for ids in claimed_order.values())
    counts = await nodes[0].counts()
    assert (counts.delivered, counts.pending, counts.claimed) == (600, 0, 0)


async def test_enqueues_and_finishes_racing_on_several_nodes_keep_every_line_whole(
    nodes: list[PostgresStore], postgres_url: str
) -> None:
    """Nodes enqueue for the same few users while others finish their jobs: nobody is
    left waiting behind a job that is gone, and each user's jobs go out in line order."""
    users = [f"u{n}" for n in range(6)] + ["anon1", "anon2"]
    rng = random.Random(5)
    producing = True
    claimed_order: dict[str, list[int]] = defaultdict(list)

    async def producer(node: PostgresStore) -> None:
        for _ in range(40):
            batch = []
            for _ in range(rng.randint(1, 6)):
                user = rng.choice(users[:6])
                keys = (user, rng.choice(users[6:])) if rng.random() < 0.2 else (user,)
                batch.append(new_job(user, keys=keys))
            await node.enqueue(batch, [], WINDOW, 1_000.0)
            await asyncio.sleep(rng.random() / 1000)

    async def finisher(node: PostgresStore, name: str, drain: bool) -> None:
        idle = 0
        while (producing and not drain) or (drain and idle < 30):
            claimed = await node.claim(name, 3, 60.0, 1_010.0 if drain else 1_000.0)
            idle = 0 if claimed else idle + 1
            for job in claimed:
                if not drain:
                    claimed_order[job.user_key].append(job.id)
                state = rng.choice([JobState.DELIVERED, JobState.DELIVERED, JobState.DEAD])
                await node.finish(job.id, state, attempt(1_001.0), "why", worker=name)
            await asyncio.sleep(0.001)

    async def produce() -> None:
        nonlocal producing
        await asyncio.gather(producer(nodes[0]), producer(nodes[1]))
        producing = False

    await asyncio.gather(produce(), finisher(nodes[1], "a", False), finisher(nodes[2], "b", False))
    assert await lines_disagreeing_with_blockers(postgres_url) == []
    await nodes[2].replay(None, None, 1_002.0)
    await asyncio.gather(finisher(nodes[0], "c", True), finisher(nodes[2], "d", True))

    counts = await nodes[0].counts()
    assert await lines_disagreeing_with_blockers(postgres_url) == []
    assert (counts.pending, counts.retrying, counts.claimed) == (0, 0, 0)
    assert sum(len(ids) for ids in claimed_order.values()) > 0
    assert all(ids == sorted(ids) for ids in claimed_order.values())


async def test_a_users_line_follows_commit_order_across_nodes(nodes: list[PostgresStore]) -> None:
    """Two nodes enqueueing for one user at once: the line is in the order the
    enqueues committed, and every job after the first waits."""
    results = await asyncio.gather(
        *(
            nodes[n % 2].enqueue([new_job("u1") for _ in range(5)], [], WINDOW, 1_000.0)
            for n in range(20)
        )
    )

    ids = [job_id for result in results for job_id in result.job_ids]
    order = []
    while True:
        claimed = await nodes[2].claim("w", 10, 60.0, 1_000.0)
        if not claimed:
            break
        assert len(claimed) == 1
        order.append(claimed[0].id)
        await nodes[2].finish(claimed[0].id, JobState.DELIVERED, attempt(1_001.0), worker="w")

    assert order == sorted(ids)
    # Each enqueue's jobs are contiguous in the line: batches do not interleave.
    batches = {job_id: n for n, result in enumerate(results) for job_id in result.job_ids}
    runs = [batches[job_id] for job_id in order]
    assert sum(1 for a, b in itertools.pairwise(runs) if a != b) == len(results) - 1


async def test_the_same_message_on_several_nodes_at_once_is_stored_once(
    nodes: list[PostgresStore],
) -> None:
    batch = [new_job(f"u{n}", message_id=f"m{n}") for n in range(200)]

    async def send(node: PostgresStore, seed: int) -> int:
        shuffled = random.Random(seed).sample(batch, len(batch))
        return (await node.enqueue(shuffled, [], WINDOW, 1_000.0)).accepted

    accepted = await asyncio.gather(*(send(nodes[n % 3], n) for n in range(6)))

    assert sum(accepted) == 200
    assert (await nodes[0].counts()).pending == 200


async def test_a_killed_nodes_jobs_go_to_another_node_after_the_lease(postgres_url: str) -> None:
    async with await PostgresStore.open(postgres_url) as survivor:
        await survivor.enqueue(
            [new_job(f"u{n}") for n in range(3)] + [new_job(f"u{n}") for n in range(3)],
            [],
            WINDOW,
            time.time(),
        )
        script = textwrap.dedent(f"""
            import asyncio, os, signal, time
            from sailbridge.store.postgres import PostgresStore

            async def main():
                store = await PostgresStore.open({postgres_url!r})
                jobs = await store.claim("doomed", 10, 1.0, time.time())
                print(" ".join(str(job.id) for job in jobs), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

            asyncio.run(main())
        """)
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == -9, run.stderr
        taken = sorted(int(job_id) for job_id in run.stdout.split())
        assert len(taken) == 3

        assert await survivor.claim("w2", 10, 30.0, time.time()) == []
        await asyncio.sleep(1.1)
        again = await survivor.claim("w2", 10, 30.0, time.time())

        assert sorted(job.id for job in again) == taken
        for job in again:
            await survivor.finish(job.id, JobState.DELIVERED, attempt(time.time()), worker="w2")
        assert len(await survivor.claim("w2", 10, 30.0, time.time())) == 3


async def test_a_slow_node_keeps_its_lease_by_heartbeat(nodes: list[PostgresStore]) -> None:
    slow, other = nodes[0], nodes[1]
    await slow.enqueue([new_job("u1")], [], WINDOW, 1_000.0)
    [held] = await slow.claim("slow", 10, 30.0, 1_000.0)

    for now in (1_020.0, 1_040.0, 1_060.0):
        await slow.heartbeat("slow", [held.id], 30.0, now)
        assert await other.claim("other", 10, 30.0, now + 5) == []

    await slow.finish(held.id, JobState.DELIVERED, attempt(1_070.0), worker="slow")
    assert (await other.get_job(held.id)).state is JobState.DELIVERED  # type: ignore[union-attr]


async def test_finishes_arriving_together_are_settled_as_one_group_job_by_job(
    nodes: list[PostgresStore], postgres_url: str
) -> None:
    """Concurrent finishes share a commit; each still gets its own answer, and every
    line moves on as if they had been settled one at a time."""
    store = nodes[0]
    jobs = [new_job(f"u{n % 6}", keys=(f"u{n % 6}", "a1") if n == 7 else None) for n in range(24)]
    await store.enqueue(jobs, [], WINDOW, 1_000.0)
    mine = await store.claim("w1", 4, 60.0, 1_000.0)
    theirs = await store.claim("w2", 2, 60.0, 1_000.0)
    pending = (await jobs_in(store, JobState.PENDING, limit=1))[0].id
    states = [JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD, JobState.DELIVERED]

    results = await asyncio.gather(
        *(
            store.finish(job.id, state, attempt(1_001.0), "why", worker="w1")
            for job, state in zip(mine, states, strict=True)
        ),
        store.finish(theirs[0].id, JobState.DELIVERED, attempt(1_001.0), worker="w2"),
        store.finish(theirs[1].id, JobState.DELIVERED, attempt(1_001.0), worker="w1"),
        store.finish(mine[0].id, JobState.DELIVERED, attempt(1_002.0), worker="w1"),
        store.finish(pending, JobState.DELIVERED, attempt(1_001.0), worker="w1"),
        store.finish(99_999, JobState.DELIVERED, attempt(1_001.0), worker="w1"),
        return_exceptions=True,
    )

    assert results[:5] == [None] * 5
    refused = results[5:]
    assert all(isinstance(error, JobNotClaimed) for error in refused), refused
    assert [(e.state, e.owner) for e in refused] == [  # type: ignore[union-attr]
        ("claimed", "w2"),
        ("delivered", None),
        ("pending", None),
        (None, None),
    ]
    for job, state in zip(mine, states, strict=True):
        settled = await store.get_job(job.id)
        assert settled is not None and settled.state is state and len(settled.history) == 1
    counts = await store.counts()
    assert (counts.delivered, counts.skipped, counts.dead, counts.claimed) == (3, 1, 1, 1)
    assert await lines_disagreeing_with_blockers(postgres_url) == []
    # The users of the five settled jobs have their next jobs ready; the user of the
    # job w2 still holds has not.
    following = {job.user_key for job in await store.claim("w3", 100, 60.0, 1_003.0)}
    assert following >= {job.user_key for job in [*mine, theirs[0]]}
    assert theirs[1].user_key not in following


async def test_pause_memory_and_dead_letters_are_shared_by_every_node(
    nodes: list[PostgresStore],
) -> None:
    from sailbridge.mapping.plan import RememberCart, RememberEmail

    first, second = nodes[0], nodes[1]
    await first.set_paused("Sailthru error 3: invalid API key")
    await first.apply([RememberEmail("u1", "a@example.com"), RememberCart("u1", ())])
    await first.enqueue([new_job("u9")], [], WINDOW, 1_000.0)
    [job] = await first.claim("w1", 1, 60.0, 1_000.0)
    await first.finish(job.id, JobState.DEAD, attempt(1_001.0, "dead"), "bad", worker="w1")

    assert await second.paused_reason() == "Sailthru error 3: invalid API key"
    assert await second.email("u1") == "a@example.com"
    remembered = await second.cart("u1", 60.0)
    assert remembered is not None and remembered.items == ()
    assert [dead.id for dead in await jobs_in(second, JobState.DEAD)] == [job.id]
    assert await second.replay(None, None, 1_002.0) == 1
    assert (await first.counts()).pending == 1


async def test_nodes_starting_together_migrate_once() -> None:
    with fresh_database("sailbridge_test_migrate") as url:
        stores = await asyncio.gather(*(PostgresStore.open(url, max_size=2) for _ in range(5)))
        try:
            versions = await asyncio.gather(*(store.migrate() for store in stores))
        finally:
            for store in stores:
                await store.close()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            rows = await (await conn.execute("SELECT version FROM schema_version")).fetchall()

    assert versions == [LATEST_VERSION] * 5
    # each shipped migration once (numbers may have gaps: branches take their own)
    assert sorted(row[0] for row in rows) == [version for version, _, _ in migrations("postgres")]


async def test_a_database_from_a_newer_sailbridge_is_refused(postgres_url: str) -> None:
    async with await PostgresStore.open(postgres_url):
        pass
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO schema_version VALUES (%s, 0)", (LATEST_VERSION + 1,))
    try:
        with pytest.raises(SchemaTooNew):
            await PostgresStore.open(postgres_url)
    finally:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute("DELETE FROM schema_version WHERE version > %s", (LATEST_VERSION,))


async def test_a_closed_store_refuses_calls(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url)
    await store.close()

    with pytest.raises(StoreClosed):
        await store.enqueue([new_job("u1")], [], WINDOW, 1_000.0)
    with pytest.raises(StoreClosed):
        await store.counts()


async def test_blockers_match_the_lines_after_a_busy_workload(
    nodes: list[PostgresStore], postgres_url: str
) -> None:
    """The counter behind flat claiming equals what the lines say, job by job."""
    store = nodes[0]
    jobs = [
        new_job(f"u{n % 5}", keys=(f"u{n % 5}", f"a{n % 3}") if n % 4 == 0 else None)
        for n in range(60)
    ]
    await store.enqueue(jobs, [], WINDOW, 1_000.0)
    for round_ in range(8):
        for job in await nodes[round_ % 3].claim("w1", 3, 60.0, 1_000.0 + round_):
            state = JobState.DEAD if job.id % 3 == 0 else JobState.DELIVERED
            await nodes[(round_ + 1) % 3].finish(job.id, state, attempt(1_000.0), worker="w1")
    await store.replay(None, None, 1_010.0)

    assert await lines_disagreeing_with_blockers(postgres_url) == []


async def test_purge_finished_forgets_the_lines_of_idle_users(
    nodes: list[PostgresStore], postgres_url: str
) -> None:
    store = nodes[0]
    await store.enqueue([new_job("idle"), new_job("busy"), new_job("busy")], [], WINDOW, 1_000.0)
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        await store.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")

    await store.purge_finished(older_than=2_000.0)

    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        rows = await (await conn.execute("SELECT key FROM lines ORDER BY key")).fetchall()
    assert rows == [("busy",)]
    [last] = await store.claim("w1", 10, 60.0, 1_002.0)
    assert last.user_key == "busy"


async def test_a_postgresql_url_opens_the_shared_store_and_limiter(
    postgres_url: str, tmp_path: object
) -> None:
    store = await open_store(postgres_url)
    try:
        assert isinstance(store, PostgresStore)
        async with rate_limiter(postgres_url, {"POST user": 40.0}) as limiter:
            assert isinstance(limiter, SharedRateLimiter)
    finally:
        await store.close()


async def test_an_embedded_store_gets_the_in_process_limiter(tmp_path: object) -> None:
    from pathlib import Path

    database = str(Path(str(tmp_path)) / "s.db")
    async with await open_store(database), rate_limiter(database, {"POST user": 40.0}) as limiter:
        assert type(limiter) is RateLimiter
