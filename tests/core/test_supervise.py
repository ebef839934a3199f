"""`supervised`: a background task that fails is logged, counted and started again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sailbridge.supervise import RESTARTS, Backoff, supervised


def test_the_backoff_doubles_up_to_its_most() -> None:
    backoff = Backoff(first=0.1, most=0.5)
    delays = []
    delay = None
    for _ in range(5):
        delay = backoff.after(delay)
        delays.append(delay)
    assert delays == [0.1, 0.2, 0.4, 0.5, 0.5]


async def test_a_failing_task_is_restarted_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionError(f"lost the store ({len(runs)})")

    before = RESTARTS["test flaky"]
    with caplog.at_level(logging.ERROR, logger="sailbridge.supervise"):
        await asyncio.wait_for(supervised("test flaky", flaky, Backoff(first=0.01)), 5)
    assert len(runs) == 3  # the third run returned: done
    assert RESTARTS["test flaky"] - before == 2
    failures = [
        record
        for record in caplog.records
        if record.getMessage() == "background task failed; restarting"
    ]
    assert [record.error for record in failures] == [  # type: ignore[attr-defined]
        "ConnectionError: lost the store (1)",
        "ConnectionError: lost the store (2)",
    ]
    assert all(record.task == "test flaky" for record in failures)  # type: ignore[attr-defined]


async def test_cancelling_stops_it_without_a_restart() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    before = RESTARTS["test forever"]
    task = asyncio.create_task(supervised("test forever", forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert RESTARTS["test forever"] == before == 0
