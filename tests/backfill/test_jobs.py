"""Uploading and polling job files against the sandbox, with records in a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sailbridge.backfill.files import JobFile, JobFileWriter
from sailbridge.backfill.jobs import JobRunner
from sailbridge.backfill.lines import JobKind, JobLine
from sailbridge.sailthru.client import SailthruClient
from sailbridge.sandbox.server import SandboxHandle
from sailbridge.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "sailbridge.db")
    yield opened
    await opened.close()


def job_file(tmp_path: Path, lines: list[dict[str, object]], kind: JobKind = "update") -> JobFile:
    writer = JobFileWriter(tmp_path, 10_000)
    for line in lines:
        writer.add(JobLine(kind, line, {}))
    [written] = writer.close()
    return written


async def run_once(
    sandbox: SandboxHandle, store: SqliteStore, files: list[JobFile], timeout: float = 30.0
) -> list[str]:
    async with aiohttp.ClientSession() as session:
        client = SailthruClient(
            session,
            api_key=sandbox.config.api_key,
            api_secret=sandbox.config.api_secret,
            base_url=sandbox.url,
        )
        runner = JobRunner(client, store, poll_interval=0.02)
        outcomes = await asyncio.wait_for(runner.run(files), timeout)
    return [f"{o.status}{' reused' if o.reused else ''}" for o in outcomes]


async def test_a_job_left_pending_is_polled_again_by_the_next_run_not_uploaded(
    sandbox: SandboxHandle, store: SqliteStore, tmp_path: Path
) -> None:
    users = job_file(tmp_path, [{"email": "ann@example.com"}])
    sandbox.configure(job_delay=60.0)
    with pytest.raises(TimeoutError):
        await run_once(sandbox, store, [users], timeout=1.0)
    record = await store.backfill_file(users.content_hash)
    assert record is not None and record.state == "pending" and record.job_id
    sandbox.configure(job_delay=0.0)

    assert await run_once(sandbox, store, [users]) == ["completed reused"]
    assert len(sandbox.state()["jobs"]) == 1
    record = await store.backfill_file(users.content_hash)
    assert record is not None and record.state == "completed"


async def test_a_failed_job_is_reported_again_but_never_uploaded_again(
    sandbox: SandboxHandle, store: SqliteStore, tmp_path: Path
) -> None:
    sandbox.configure(job_delay=0.0)
    bad = job_file(tmp_path, [{"email": "not-an-email"}])

    assert await run_once(sandbox, store, [bad]) == ["error"]
    assert await run_once(sandbox, store, [bad]) == ["error reused"]

    assert len(sandbox.state()["jobs"]) == 1
    record = await store.backfill_file(bad.content_hash)
    assert record is not None and "Invalid email" in (record.message or "")


async def test_a_refused_upload_is_recorded_without_a_job_and_uploaded_again_later(
    sandbox: SandboxHandle, store: SqliteStore, tmp_path: Path
) -> None:
    sandbox.configure(job_delay=0.0, rate_limits={"POST /job": 0})
    users = job_file(tmp_path, [{"email": "ann@example.com"}])

    refused = await run_once(sandbox, store, [users])
    record = await store.backfill_file(users.content_hash)
    sandbox.configure(rate_limits={"POST /job": 100})
    again = await run_once(sandbox, store, [users])

    assert refused == ["error"] and record is not None and record.job_id is None
    assert again == ["completed"]
