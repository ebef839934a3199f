"""Background work that never dies silently: each failure logged with its cause, counted,
and the work started again after a backoff.

A long-running task or thread (the delivery worker, its heartbeat, the housekeeping, the
queue log, the SQLite writer's rounds) that ended on an exception used to end for good,
with its traceback shown only at shutdown: delivery stopped while ingest kept answering
200. Everything that runs in the background goes through here instead:

- `supervised` runs a coroutine function again after it raised, with exponential
  backoff (reset once a run has lasted `HEALTHY_AFTER` seconds);
- `record_failure` is the same bookkeeping for a thread's loop, which retries by
  itself (`sailbridge.store.sqlite.writer`);
- `RESTARTS` counts the restarts per task for the whole process; ``/metrics`` exports
  it as ``sailbridge_background_task_restarts_total{task=...}``.

Identical repeated log lines are collapsed by the logging setup (`sailbridge.logs`), so
a task failing every second during an outage writes a line now and then with a count,
not one traceback per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("sailbridge.supervise")

RESTARTS: Counter[str] = Counter()
"""Restarts per background task since the process started (read by the metrics)."""

HEALTHY_AFTER = 30.0
"""Seconds a run must last for the next failure to start the backoff from the beginning."""


@dataclass(frozen=True)
class Backoff:
    """Seconds before a restart: ``first``, doubling up to ``most``."""

    first: float = 0.1
    most: float = 10.0

    def after(self, delay: float | None) -> float:
        """The delay after one of ``delay`` (``None``: the first failure)."""
        return self.first if delay is None else min(delay * 2, self.most)


def record_failure(task: str, error: BaseException, retry_in: float) -> None:
    """Log one failure of ``task`` with its cause and count its restart."""
    RESTARTS[task] += 1
    log.error(
        "background task failed; restarting",
        exc_info=error,
        extra={
            "task": task,
            "error": f"{type(error).__name__}: {error}",
            "retry_in": round(retry_in, 3),
        },
    )


async def supervised(
    task: str, run: Callable[[], Awaitable[None]], backoff: Backoff = Backoff()
) -> None:
    """Await ``run()`` until it returns; after each exception, record it and start it
    again once the backoff has passed. Cancellation ends it (that is how it stops)."""
    RESTARTS[task] += 0  # shown as 0 from the start, so an alert sees the first one
    delay: float | None = None
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except Exception as error:
            if time.monotonic() - started >= HEALTHY_AFTER:
                delay = None
            delay = backoff.after(delay)
            record_failure(task, error, delay)
        await asyncio.sleep(delay)
