"""Finishes committed in groups: the PostgreSQL store's answer to many workers settling
jobs in the same moment.

A durable commit costs the database mostly the same whatever it holds, so finishes
that arrive while one group is being committed wait and go together as the next one:
one transaction, a few statements sent in one round trip, whatever their number.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sailbridge.store.errors import JobNotClaimed
from sailbridge.store.postgres.connection import QUERIES
from sailbridge.store.postgres.database import Conn, Database
from sailbridge.store.postgres.rows import json_param
from sailbridge.store.postgres.transactions import shard

FINISH_GROUP = 256
"""Most finishes committed in one transaction."""
FINISH_LINGER = 0.003
FINISH_FULL = 16
"""A group of fewer finishes than this waits ``FINISH_LINGER`` seconds for more before it
is committed: the database's work per group is mostly fixed, so under load a few ms
of latency buys a large cut in its work per job (a successful delivery's worker slot
does not wait for the commit)."""


class Finishes:
    """The finishes waiting for a commit, and the task committing them group by group."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._finishes: list[_Finish] = []
        self._finisher: asyncio.Task[None] | None = None

    async def finish(self, job_id: int, worker: str, row: dict[str, Any]) -> None:
        """Queue one finish (``row``: the ``finish_jobs`` parameters of the job); returns
        once its group is committed, or raises its refusal (`JobNotClaimed`)."""
        request = _Finish(job_id, worker, row, asyncio.get_running_loop().create_future())
        self._finishes.append(request)
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_groups())
        await request.done

    async def drain(self) -> None:
        """Wait for the group being committed, if any (the store is closing)."""
        if self._finisher is not None:  # finishes already accepted are committed
            with contextlib.suppress(Exception):
                await self._finisher

    async def _finish_groups(self) -> None:
        """Commit the waiting finishes, group after group, until none is waiting."""
        while self._finishes:
            if len(self._finishes) < FINISH_FULL:
                await asyncio.sleep(FINISH_LINGER)  # let the group fill a little
            group: list[_Finish] = []
            later: list[_Finish] = []
            ids: set[int] = set()
            for request in self._finishes:
                if request.job_id in ids or len(group) >= FINISH_GROUP:
                    later.append(request)  # the same job twice: the second goes after
                else:
                    ids.add(request.job_id)
                    group.append(request)
            self._finishes = later
            group = [request for request in group if not request.done.cancelled()]
            if not group:
                continue
            try:
                refused = await self._db.retrying(functools.partial(_finish_group, group=group))
            except Exception as error:
                for request in group:
                    if not request.done.done():
                        request.done.set_exception(error)
                continue
            except BaseException:
                for request in [*group, *self._finishes]:
                    request.done.cancel()
                self._finishes = []
                raise
            for request in group:
                if not request.done.done():
                    refusal = refused.get(request.job_id)
                    if refusal is None:
                        request.done.set_result(None)
                    else:
                        request.done.set_exception(refusal)


@dataclass
class _Finish:
    """One `PostgresStore.finish` waiting for its group's commit."""

    job_id: int
    worker: str
    row: dict[str, Any]
    done: asyncio.Future[None]


async def _finish_group(conn: Conn, group: Sequence[_Finish]) -> dict[int, JobNotClaimed]:
    """Finish a group of jobs (distinct ids) in one transaction, sent in one round trip:
    the jobs, their lines, the next jobs in those lines, the counters, and the
    deletion of any that delivered the forgetting of a person (`PostgresStore.forget`).
    Returns the refusals of jobs their worker did not hold (the others are finished)."""
    async with conn.pipeline(), conn.transaction():
        rows = [request.row for request in sorted(group, key=lambda r: r.job_id)]
        cursor = await conn.execute(QUERIES["finish_jobs"], {"jobs": json_param(rows)})
        await conn.execute(QUERIES["unblock_next"], {"shard": shard()})
        await conn.execute(QUERIES["forget_marked_jobs"])
    workers = {request.job_id: request.worker for request in group}
    return {
        job_id: JobNotClaimed(job_id, workers[job_id], state, owner)
        for job_id, finished, state, owner in await cursor.fetchall()
        if not finished
    }
