"""A store written by sailbridge before accounts (the code at `BEFORE_ACCOUNTS`, run in
a process of its own) keeps its queue, dead letters, memory and pause as the account
``default`` once this version opens it: a deployment configured the old way changes
nothing. A store written with accounts but before counters per account (the code at
`BEFORE_ACCOUNT_COUNTS`) has its jobs counted by account once this version opens it."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest

from sailbridge.store.base import Attempt, JobState, Result
from sailbridge.store.factory import open_store

from .helpers import jobs_in
from .postgres_server import fresh_database

BEFORE_ACCOUNTS = "23ff201"
"""main before issue 17 (the last commit whose stores know no accounts)."""

BEFORE_ACCOUNT_COUNTS = "2eed9a7"
"""main before status per account (counters for the whole store only)."""

REPO = Path(__file__).resolve().parents[2]

WRITE_WITH_OLD_CODE = """
import asyncio, sys
from sailbridge.mapping.plan import RememberEmail, RememberMerge
from sailbridge.store.base import Attempt, JobState, NewJob
from sailbridge.store.factory import open_store

def job(user, message_id):
    event = {"type": "track", "userId": user, "messageId": message_id, "event": "Old"}
    return NewJob("wk", message_id, event, "track", user, (user,), 900.0)

async def main(database):
    store = await open_store(database)
    await store.enqueue([job("u1", "m1"), job("u1", "m2"), job("u2", "m3")], [],
                        86400.0, 1000.0)
    [first, other] = await store.claim("old", 10, 60.0, 1000.0)
    await store.finish(other.id, JobState.DEAD, Attempt(1001.0, "dead"), "refused",
                       worker="old")
    await store.apply([RememberEmail("u1", "ada@example.com"), RememberMerge("anon", "u1")])
    await store.set_paused("Sailthru refused the API key")
    await store.close()

asyncio.run(main(sys.argv[1]))
"""


WRITE_WITH_ACCOUNTS = """
import asyncio, sys
from sailbridge.store.base import Attempt, JobState, NewJob
from sailbridge.store.factory import open_store

def job(user, accounts):
    event = {"type": "track", "userId": user, "messageId": user, "event": "Old"}
    return NewJob("wk", user, event, "track", user, (user,), 900.0, accounts)

async def main(database):
    store = await open_store(database)
    await store.enqueue([job("u1", ("default", "brand-b")), job("u2", ("brand-b",)),
                         job("u3", ("brand-b",)), job("u4", ("default",))], [], 86400.0, 1000.0)
    claimed = await store.claim("old", 10, 60.0, 1000.0, account="brand-b")
    states = [JobState.DELIVERED, JobState.DEAD]
    for done, state in zip(claimed, states):
        await store.finish(done.id, state, Attempt(1001.0, state.value), "why", worker="old")
    await store.close()

asyncio.run(main(sys.argv[1]))
"""


def unpacked(tmp_path_factory: pytest.TempPathFactory, commit: str) -> Path:
    """The package as it was at ``commit``, unpacked from git."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "src"], check=True, capture_output=True
    ).stdout
    target = tmp_path_factory.mktemp(f"at-{commit}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


@pytest.fixture(scope="module")
def old_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpacked(tmp_path_factory, BEFORE_ACCOUNTS)


@pytest.fixture(scope="module")
def source_with_accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpacked(tmp_path_factory, BEFORE_ACCOUNT_COUNTS)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "old.db")
    else:
        with fresh_database("sailbridge_upgrade") as url:
            yield url


def write_with_old_code(old_source: Path, database: str, script: str = WRITE_WITH_OLD_CODE) -> None:
    subprocess.run(
        [sys.executable, "-c", script, database],
        check=True,
        env={"PYTHONPATH": str(old_source), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


async def test_an_old_store_keeps_everything_as_the_default_account(
    old_source: Path, database: str
) -> None:
    write_with_old_code(old_source, database)

    store = await open_store(database)
    try:
        dead = await jobs_in(store, JobState.DEAD)
        claimed = await jobs_in(store, JobState.CLAIMED)
        pending = await jobs_in(store, JobState.PENDING)
        assert [job.account for job in dead + claimed + pending] == ["default"] * 3
        assert [job.user_key for job in pending] == ["u1"]  # behind u1's claimed job
        assert await store.email("u1") == "ada@example.com"
        assert await store.merged("anon", "u1")
        assert await store.paused_reason() == "Sailthru refused the API key"
        assert (await store.counts()).paused_reason == "Sailthru refused the API key"

        # u1's line survived the upgrade: its second job waits for the first.
        [first] = claimed
        assert await store.claim("new", 10, 60.0, 1_010.0) == []
        await store.finish(
            first.id, JobState.DELIVERED, Attempt(1_011.0, Result.DELIVERED), worker="old"
        )
        [second] = await store.claim("new", 10, 60.0, 1_012.0, account="default")
        assert (second.user_key, second.account) == ("u1", "default")
    finally:
        await store.close()


async def test_a_store_with_accounts_counts_each_accounts_jobs_once_upgraded(
    source_with_accounts: Path, database: str
) -> None:
    write_with_old_code(source_with_accounts, database, WRITE_WITH_ACCOUNTS)

    store = await open_store(database)
    try:
        b = await store.counts("brand-b")
        default, whole = await store.counts("default"), await store.counts()
        assert (b.pending, b.claimed, b.delivered, b.dead) == (0, 1, 1, 1)
        assert (default.pending, default.claimed, default.delivered) == (2, 0, 0)
        assert (whole.pending, whole.claimed, whole.delivered, whole.dead) == (2, 1, 1, 1)

        # and the counters go on per account from there
        [held] = await jobs_in(store, JobState.CLAIMED)
        await store.finish(
            held.id, JobState.DELIVERED, Attempt(1_011.0, Result.DELIVERED), worker="old"
        )
        assert (await store.counts("brand-b")).delivered == 2
        assert (await store.counts("default")).delivered == 0
    finally:
        await store.close()
