"""What a store raises when a caller asks for something the queue's state forbids.

Every store implementation raises these (not driver errors) for contract violations,
so delivery code can handle them without knowing which database is underneath.
"""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool


class StoreError(Exception):
    """Base class of sailbridge's store errors."""


class JobNotClaimed(StoreError):
    """The job is not claimed by this worker any more (or never was, or is gone).

    Typically a worker's lease expired and another worker claimed the job again: the
    late worker's result must not overwrite the new owner's, so its call is refused.
    """

    def __init__(self, job_id: int, worker: str, state: str | None, owner: str | None) -> None:
        self.job_id = job_id
        self.worker = worker
        self.state = state
        self.owner = owner
        if state is None:
            detail = "no such job"
        elif state != "claimed":
            detail = f"it is {state}"
        else:
            detail = f"it is claimed by {owner!r}"
        super().__init__(f"job {job_id} is not claimed by {worker!r}: {detail}")


class SchemaTooNew(StoreError):
    """The database was migrated by a newer sailbridge than this one."""

    def __init__(self, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(
            f"database schema version {found} is newer than this sailbridge knows ({known})"
        )


class StoreClosed(StoreError):
    """The store was closed; no more reads or writes are possible."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or reached. The message is one line naming the
    setting and its value (a password in a URL masked), for the person to fix."""


class StoreMissing(StoreUnavailable):
    """There is no store where the setting points, and the caller would not create one
    (read-only commands: a typo'd path must not show an empty new queue)."""


class StoreUnwritable(StoreError):
    """The store answers but cannot accept writes now (a full disk, a read-only
    database); the message says why."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is the store being briefly unreachable rather than a fault in
    the request: a lost or refused connection, a server shutting down or restarting, a
    pool with no connection to give, a SQLite database locked by another process. A
    background task meeting one waits and tries again; it never ends for it."""
    if isinstance(
        error,
        (
            psycopg.OperationalError,
            psycopg_pool.PoolTimeout,
            ConnectionError,
            TimeoutError,
            StoreUnwritable,
        ),
    ):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    return False
