"""Open files: ``serve`` takes what the system allows and promises no more connections
than it can open.

Each client connection is a file descriptor, and so is each store and Sailthru
connection. With the default soft limit (often 1,024) and ``SAILBRIDGE_MAX_CONNECTIONS``
at 1,000, a slow-client flood ran the process out of descriptors: accepting failed,
everyone's latency went from milliseconds to seconds, and the log filled with one error
repeated. So at start ``serve`` raises its soft limit to the hard one (which an
unprivileged process may do) and caps the connection limit below what remains after
its own connections (`reserved_files`) and a burst of accepts (`listen_backlog`).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

RESERVED_FILES = 64
"""Descriptors kept for everything but Sailthru and the clients: the store's pool and
files, the rate limiter's pool, the listening socket, logs, Python's own."""

UNLIMITED_CEILING = 1_048_576
"""Linux's default ``fs.nr_open``: the most a soft limit may be when the hard one is
unlimited."""

UVICORN_BACKLOG = 2048
"""uvicorn's default listen backlog."""


@dataclass(frozen=True)
class FileLimit:
    """The open-file limits after `raise_file_limit`, and what they were before."""

    soft: int
    hard: int
    was: int


def raise_file_limit() -> FileLimit:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, where the system lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return FileLimit(soft, hard, soft)
    # An unlimited hard limit cannot be the soft one on Linux: ask for its usual ceiling.
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, UNLIMITED_CEILING)
    if wanted != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # not allowed here: keep the soft limit
            return FileLimit(soft, hard, soft)
    return FileLimit(wanted, hard, soft)


def reserved_files(concurrency: int) -> int:
    """Descriptors ``serve`` needs besides client connections: one per concurrent
    Sailthru connection (at least 10, as the HTTP session's pool) and `RESERVED_FILES`."""
    return RESERVED_FILES + max(concurrency, 10)


def listen_backlog(open_files: int) -> int:
    """The listening socket's backlog: uvicorn's 2,048, or an eighth of the open-file
    limit if less (at least 64). asyncio accepts up to a backlog's worth of waiting
    connections at once, each a descriptor until the cap answers it 429 and closes it,
    so the backlog is part of what the cap must leave room for."""
    if open_files == resource.RLIM_INFINITY:
        return UVICORN_BACKLOG
    return max(64, min(UVICORN_BACKLOG, open_files // 8))


def connection_cap(requested: int, open_files: int, reserved: int) -> int:
    """The connection limit to apply: ``requested``, or fewer when the process could
    not open that many besides its ``reserved`` descriptors and a burst of accepts
    (`listen_backlog`); never below 1."""
    if open_files == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, open_files - reserved - listen_backlog(open_files)))
