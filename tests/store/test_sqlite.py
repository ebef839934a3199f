"""What only the SQLite store promises: its file, its writer thread, its crash safety."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sailbridge.store.base import JobState
from sailbridge.store.errors import JobNotClaimed, SchemaTooNew, StoreClosed
from sailbridge.store.sqlite import SqliteStore
from sailbridge.store.sqlite.connection import LATEST_VERSION
from sailbridge.store.sqlite.writer import SORT_STEP_EVENTS, SORT_STEP_SECONDS, sort_budget

from .helpers import WINDOW, FakeClock, attempt, jobs_in, new_job


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> SqliteStore:
    store = await SqliteStore.open(tmp_path / "s.db", FakeClock(1_000.0))
    yield store  # type: ignore[misc]
    await store.close()


def test_an_enqueue_that_returned_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from sailbridge.store.base import NewJob
        from sailbridge.store.sqlite import SqliteStore

        async def main():
            store = await SqliteStore.open({str(path)!r})
            for batch in range(20):
                jobs = [NewJob("wk", f"m{{batch}}-{{n}}", {{"n": n}}, "track", f"u{{n}}",
                               (f"u{{n}}",), 1.0) for n in range(50)]
                await store.enqueue(jobs, [], 86400.0, 2.0)
                print(batch, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == -9, run.stderr
    acknowledged = len(run.stdout.split())

    db = sqlite3.connect(path)
    stored = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
    db.close()
    assert acknowledged == 20
    assert stored == 50 * acknowledged


async def test_a_failing_request_does_not_fail_the_others_in_its_group(
    sqlite_store: SqliteStore,
) -> None:
    results = await asyncio.gather(
        sqlite_store.finish(999, JobState.DELIVERED, attempt(1.0), worker="w1"),
        sqlite_store.enqueue([new_job("u1")], [], WINDOW, 1_000.0),
        sqlite_store.finish(998, JobState.DELIVERED, attempt(1.0), worker="w1"),
        return_exceptions=True,
    )

    assert isinstance(results[0], JobNotClaimed)
    assert results[1].accepted == 1  # type: ignore[union-attr]
    assert isinstance(results[2], JobNotClaimed)
    assert (await sqlite_store.counts()).pending == 1


async def test_many_concurrent_enqueues_are_all_committed(sqlite_store: SqliteStore) -> None:
    batches = [[new_job(f"u{b}-{n}") for n in range(20)] for b in range(50)]

    await asyncio.gather(*(sqlite_store.enqueue(batch, [], WINDOW, 1_000.0) for batch in batches))

    assert (await sqlite_store.counts()).pending == 1_000


async def test_a_file_from_before_migrations_keeps_its_memory(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE memory_email (user_key TEXT PRIMARY KEY, email TEXT NOT NULL, "
        "updated_at REAL NOT NULL)"
    )
    db.execute("INSERT INTO memory_email VALUES ('u1', 'a@example.com', 1.0)")
    db.commit()
    db.close()

    async with await SqliteStore.open(path) as store:
        assert await store.migrate() == LATEST_VERSION
        assert await store.email("u1") == "a@example.com"


async def test_a_file_from_a_newer_sailbridge_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with await SqliteStore.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (?, 0)", (LATEST_VERSION + 1,))
    db.commit()
    db.close()

    with pytest.raises(SchemaTooNew):
        await SqliteStore.open(path)


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "closed.db")
    await store.close()

    with pytest.raises(StoreClosed):
        await store.enqueue([new_job("u1")], [], WINDOW, 1_000.0)
    with pytest.raises(StoreClosed):
        await store.counts()


async def test_synchronous_full_can_be_chosen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "full.db", synchronous="FULL")
    try:
        level = await store._writer.call(
            lambda tx: tx.db.execute("PRAGMA synchronous").fetchone()[0]
        )
    finally:
        await store.close()
    assert level == 2  # FULL


async def test_blockers_match_the_lines_after_a_busy_workload(sqlite_store: SqliteStore) -> None:
    """The counter behind flat claiming equals what the lines say, job by job."""
    jobs = [
        new_job(f"u{n % 5}", keys=(f"u{n % 5}", f"a{n % 3}") if n % 4 == 0 else None)
        for n in range(60)
    ]
    await sqlite_store.enqueue(jobs, [], WINDOW, 1_000.0)
    for round_ in range(8):
        for job in await sqlite_store.claim("w1", 3, 60.0, 1_000.0 + round_):
            state = JobState.DEAD if job.id % 3 == 0 else JobState.DELIVERED
            await sqlite_store.finish(job.id, state, attempt(1_000.0), worker="w1")
    await sqlite_store.replay(None, None, 1_010.0)

    rows = await sqlite_store._writer.call(
        lambda tx: tx.db.execute("""
            SELECT j.id, j.blockers, (
                SELECT count(DISTINCT mine.key) FROM job_keys mine JOIN job_keys earlier
                  ON earlier.key = mine.key AND earlier.pos < mine.pos
                WHERE mine.job_id = j.id)
            FROM jobs j WHERE j.state IN ('pending', 'claimed')""").fetchall()
    )
    assert rows
    assert [(job_id, blockers) for job_id, blockers, _ in rows] == [
        (job_id, earlier_keys) for job_id, _, earlier_keys in rows
    ]


def test_an_accept_that_returned_survives_kill_9_before_it_was_sorted(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from sailbridge.store.base import NewJob
        from sailbridge.store.sqlite import SqliteStore

        async def main():
            store = await SqliteStore.open({str(path)!r})
            store._writer._sort = None  # die with everything still in the inbox
            for batch in range(20):
                jobs = [NewJob("wk", f"m{{batch}}-{{n}}", {{"n": n}}, "track", f"u{{n}}",
                               (f"u{{n}}",), 1.0) for n in range(50)]
                await store.accept(jobs, [], 86400.0, 2.0)
                print(batch, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == -9, run.stderr
    assert len(run.stdout.split()) == 20

    db = sqlite3.connect(path)
    in_inbox = db.execute("SELECT sum(events) FROM inbox").fetchone()[0]
    db.close()
    assert in_inbox == 1_000

    async def reopen() -> list[int]:
        async with await SqliteStore.open(path) as store:
            assert (await store.counts()).pending == 1_000
            for _ in range(500):  # the rows a crash left are sorted on start
                if not (await store.counts()).inbox:
                    break
                await asyncio.sleep(0.01)
            pending = await jobs_in(store, JobState.PENDING, limit=2_000)
            return [job.event["n"] for job in pending]

    stored = asyncio.run(reopen())
    assert stored == [n for _batch in range(20) for n in range(50)]


async def _without_background_sorting(store: SqliteStore) -> None:
    """Leave the inbox to the test: only its explicit `_sort` calls move rows."""

    def stop(tx: object) -> None:
        store._writer._sort = None

    await store._writer.call(stop)


async def _sort_step(store: SqliteStore, events: int) -> int:
    outcome = await store._writer.call(lambda tx: store._intake.sort(tx, events))
    return outcome.events


async def test_a_big_inbox_row_is_sorted_in_pieces_exactly_once(sqlite_store: SqliteStore) -> None:
    await _without_background_sorting(sqlite_store)
    jobs = [new_job(f"u{n % 7}", event={"n": n}) for n in range(250)]
    await sqlite_store.accept(jobs[:200], [], WINDOW, 1_000.0)
    await sqlite_store.accept(jobs[200:], [], WINDOW, 1_000.0)

    steps = []
    while (await sqlite_store.counts()).inbox:
        steps.append(await _sort_step(sqlite_store, 64))

    assert steps == [64, 64, 64, 58]
    pending = await jobs_in(sqlite_store, JobState.PENDING, limit=1_000)
    assert [job.event["n"] for job in pending] == list(range(250))
    assert [job.id for job in pending] == sorted(job.id for job in pending)
    rows = await sqlite_store._writer.call(
        lambda tx: tx.db.execute("SELECT count(*) FROM inbox").fetchone()[0]
    )
    assert rows == 0


async def test_reads_see_what_was_just_accepted(sqlite_store: SqliteStore) -> None:
    await sqlite_store.accept([new_job("u1"), new_job("u2", message_id="m")], [], WINDOW, 1_000.0)
    await sqlite_store.accept([new_job("u3", message_id="m")], [], WINDOW, 1_000.0)

    pending = await jobs_in(sqlite_store, JobState.PENDING)
    counts = await sqlite_store.counts()

    assert [job.user_key for job in pending] == ["u1", "u2"]
    assert (counts.pending, counts.inbox, counts.deduplicated) == (2, 0, 1)


async def test_counts_split_out_events_not_sorted_yet(sqlite_store: SqliteStore) -> None:
    await _without_background_sorting(sqlite_store)
    await sqlite_store.enqueue([new_job("u0", received_at=950.0)], [], WINDOW, 1_000.0)
    await sqlite_store.accept(
        [new_job("u1", received_at=800.0), new_job("u2")], [], WINDOW, 1_000.0
    )

    counts = await sqlite_store.counts()

    assert (counts.pending, counts.inbox) == (3, 2)
    assert counts.oldest_pending_at == 800.0


async def test_blockers_match_the_lines_after_accepts_sorted_in_pieces(
    sqlite_store: SqliteStore,
) -> None:
    await _without_background_sorting(sqlite_store)
    for batch in range(6):
        jobs = [
            new_job(f"u{n % 5}", keys=(f"u{n % 5}", f"a{n % 3}") if n % 4 == 0 else None)
            for n in range(batch * 10, batch * 10 + 10)
        ]
        await sqlite_store.accept(jobs, [], WINDOW, 1_000.0)
    while (await sqlite_store.counts()).inbox:
        await _sort_step(sqlite_store, 7)
        for job in await sqlite_store.claim("w1", 2, 60.0, 1_000.0):
            await sqlite_store.finish(job.id, JobState.DELIVERED, attempt(1_000.0), worker="w1")

    rows = await sqlite_store._writer.call(
        lambda tx: tx.db.execute("""
            SELECT j.id, j.blockers, (
                SELECT count(DISTINCT mine.key) FROM job_keys mine JOIN job_keys earlier
                  ON earlier.key = mine.key AND earlier.pos < mine.pos
                WHERE mine.job_id = j.id)
            FROM jobs j WHERE j.state IN ('pending', 'claimed')""").fetchall()
    )
    assert rows
    assert [(job_id, blockers) for job_id, blockers, _ in rows] == [
        (job_id, earlier_keys) for job_id, _, earlier_keys in rows
    ]


async def test_a_claim_sees_events_accepted_just_before_it(sqlite_store: SqliteStore) -> None:
    await sqlite_store.accept([new_job("u1"), new_job("u2")], [], WINDOW, 1_000.0)

    claimed = await sqlite_store.claim("w1", 10, 60.0, 1_000.0)

    assert [job.user_key for job in claimed] == ["u1", "u2"]


def test_a_sort_step_nobody_waits_on_takes_the_most_events() -> None:
    low, high = SORT_STEP_EVENTS
    assert [sort_budget(rate, wide=True) for rate in (0.0, 1_000.0, 1e9)] == [high] * 3
    # otherwise SORT_STEP_SECONDS' worth at the measured rate, within the bounds
    assert sort_budget(0.0, wide=False) == low
    assert sort_budget(100_000.0, wide=False) == int(100_000 * SORT_STEP_SECONDS)
    assert low < sort_budget(100_000.0, wide=False) < high
    assert sort_budget(1e9, wide=False) == high
