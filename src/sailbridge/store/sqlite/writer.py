"""The SQLite store's writer: one thread, one write connection, group commit.

Writes are queued to this thread. Each round it takes everything queued, runs it in
ONE transaction (each request inside its own savepoint, so one failing request does
not fail its neighbours), commits, and only then resolves the callers' futures: an
awaited write that returned is on disk. One COMMIT per busy moment rather than per
request amortises the commit, and a single writer means SQLite never returns
"database is locked" to ourselves.

Between requests it sorts the inbox in the background (the sort itself is
`sailbridge.store.sqlite.intake.Intake.sort`): at full speed while nothing waits,
at most `SORT_SHARE_UNDER_LOAD` of its time while ingest competes for the CPU, and as
much as a request's `Kind` needs before that request runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sailbridge.futures import settle
from sailbridge.store.errors import StoreClosed
from sailbridge.store.sqlite.connection import QUERIES
from sailbridge.store.sqlite.memory import truncate_wal
from sailbridge.store.sqlite.sort_progress import SortOutcome, SortProgress
from sailbridge.store.sqlite.transaction import Tx
from sailbridge.supervise import RESTARTS, Backoff, record_failure

log = logging.getLogger("sailbridge.store.sqlite")

T = TypeVar("T")

SORT_STEP_SECONDS = 0.005
"""Target length of one sort transaction while ingest is busy (`INGEST_BUSY_WINDOW`)
or a claim waits for it. Accepts arriving meanwhile wait for it, so it bounds what
sorting adds to ingest's latency; the events per step follow from the measured sort
rate."""
SORT_STEP_EVENTS = (20, 2_000)
"""Bounds on the events one sort step takes, whatever the measured rate says. With
nothing waiting on it — a background step while ingest is idle, or the whole inbox
sorted before an ordered request — a step takes the most: its COMMIT writes each page
it dirtied once, and the events of a large step share pages, so draining a backlog
in 2,000-event steps cost ~30 % less CPU than in 5 ms ones (docs/benchmarks.md)."""
SORT_SHARE_UNDER_LOAD = 0.25
"""While ingest competes with sorting for the CPU, the share of the writer's time that
background sorting may take (claims still sort what they need). Sorting costs several
times what accepting does, so on a small machine it would otherwise take the CPU that
acknowledges a burst; the inbox holds the burst and sorting catches up after it."""
INGEST_BUSY_WINDOW = 0.2
"""Seconds after the last accept during which ingest counts as busy."""
CONTENDED_BELOW = 0.7
"""Sorting counts as competing with ingest when ingest is busy and a sort step got less
than this share of its wall time as CPU (the rest it waited: for a core, or for the
GIL the event loop holds). Below a burst, sorting keeps up at full speed."""
RECHECK_INBOX_EVERY = 1.0
"""Seconds after which a claim looks at the inbox even if this store accepted nothing
(another process may have left rows there)."""
SORT_FAILURE_PAUSE = 1.0
"""Seconds the writer leaves the inbox alone after a sort failed (logged), before retrying."""

WRITER_TASK = "sqlite writer"
WRITER_BACKOFF = Backoff(first=0.05, most=2.0)
"""Pauses after a writer round failed unexpectedly (its requests get the error)."""


class Kind(enum.Enum):
    """What a write request needs from the inbox before it runs."""

    PLAIN = "plain"  # nothing (settling jobs, memory, control)
    ACCEPT = "accept"  # nothing, and it is on ingest's ack path: committed first
    CLAIM = "claim"  # a sort step first, so recent accepts become claimable
    ORDERED = "ordered"  # the whole inbox sorted first, so arrival order holds (enqueue,
    # replay; and a read that wants to see what was just accepted)


@dataclass(slots=True)
class _Request(Generic[T]):
    work: Callable[[Tx], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    own_transaction: bool
    kind: Kind = Kind.PLAIN


class Writer:
    """The thread that owns the write connection and commits requests in groups.

    Each round takes everything queued (up to ``max_batch``): accepts are committed
    first, in their own transaction, so ingest's acknowledgements wait for no other
    work; then the rest, after whatever sorting of the inbox they need (see `Kind`).
    Between rounds it sorts the inbox in the background (see `_next`).
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        max_batch: int,
        on_commit: Callable[[], None] = lambda: None,
        sort: Callable[[Tx, int], SortOutcome] | None = None,
        progress: SortProgress | None = None,
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._sort = sort
        self._progress = progress if progress is not None else SortProgress()
        # writer thread only:
        self._sort_wanted = False  # the inbox may hold rows
        self._sort_paused_until = 0.0  # after a failure
        self._next_background_sort = 0.0  # keeps sorting to its share while ingest is busy
        self._last_accept = float("-inf")
        self._sort_rate = 20_000.0  # events/s, a moving average over recent steps
        self._cpu_share = 1.0  # CPU time / wall time of recent background steps
        self._inbox_checked_at = float("-inf")
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name="sailbridge-sqlite-writer", daemon=True
        )
        self._thread.start()

    async def call(
        self, work: Callable[[Tx], T], own_transaction: bool = False, kind: Kind = Kind.PLAIN
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                raise StoreClosed("the store is closed")
            self._queue.put(_Request(work, future, loop, own_transaction, kind))
        return await future

    async def stop(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        group: list[_Request[Any]] = []
        delay: float | None = None
        RESTARTS[WRITER_TASK] += 0
        try:
            while True:
                group = []
                try:
                    item = self._next()
                    while item is not None:
                        group.append(item)
                        if len(group) >= self._max_batch:
                            break
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                    self._serve(group)
                except Exception as error:
                    _rollback(self._db)
                    self._resolve([(request, None, error) for request in group])
                    delay = WRITER_BACKOFF.after(delay)
                    record_failure(WRITER_TASK, error, delay)
                    time.sleep(delay)
                    continue
                delay = None
                if item is None:
                    return
        except BaseException:
            log.exception("the SQLite writer thread failed; the store is closed")
            self._fail_waiting(group)
            raise
        finally:
            self._db.close()

    def _fail_waiting(self, taken: list[_Request[Any]]) -> None:
        """After the thread failed: refuse what it had taken or was queued, rather than
        leave callers waiting (a request answered already keeps its answer)."""
        with self._lock:
            self._closed = True
        waiting = list(taken)
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                waiting.append(request)
        error = StoreClosed("the store's writer failed")
        self._resolve([(request, None, error) for request in waiting])

    def _next(self) -> _Request[Any] | None:
        """The next request; meanwhile, sort the inbox in the background (see `Kind`
        and `SORT_SHARE_UNDER_LOAD` for when)."""
        while True:
            if self._can_sort():
                now = time.monotonic()
                if now >= self._next_background_sort:
                    cpu = time.thread_time()
                    self._sort_step(wide=not self._ingest_busy(now))
                    finished = time.monotonic()
                    wall = finished - now
                    self._cpu_share = 0.7 * self._cpu_share + 0.3 * (
                        time.thread_time() - cpu
                    ) / max(wall, 1e-6)
                    if self._ingest_busy(finished) and self._cpu_share < CONTENDED_BELOW:
                        share = SORT_SHARE_UNDER_LOAD
                        self._next_background_sort = finished + wall * (1 - share) / share
                    try:
                        return self._queue.get_nowait()  # what came meanwhile goes first
                    except queue.Empty:
                        continue
                wait: float | None = self._next_background_sort - now
            elif self._sort_wanted:  # paused after a failure
                wait = self._sort_paused_until - time.monotonic()
            else:
                wait = None
            try:
                return self._queue.get(timeout=max(wait, 0.0) if wait is not None else None)
            except queue.Empty:
                continue

    def _serve(self, group: list[_Request[Any]]) -> None:
        accepts = [request for request in group if request.kind is Kind.ACCEPT]
        rest = [request for request in group if request.kind is not Kind.ACCEPT]
        if accepts:
            self._commit(accepts)
            self._last_accept = time.monotonic()
        kinds = {request.kind for request in rest}
        if kinds & {Kind.ORDERED, Kind.CLAIM}:
            if time.monotonic() - self._inbox_checked_at > RECHECK_INBOX_EVERY:
                self._sort_wanted = True  # another process may have left rows
            if Kind.ORDERED in kinds:
                self._sort_all()
            elif self._can_sort():
                self._sort_step(wide=False)  # the claim waits for it
        batch: list[_Request[Any]] = []
        for request in rest:
            if request.own_transaction:
                self._commit(batch)
                batch = []
                self._alone(request)
            else:
                batch.append(request)
        self._commit(batch)

    def _alone(self, request: _Request[Any]) -> None:
        """A request that manages its own transactions (migrations)."""
        try:
            result, error = request.work(Tx(self._db)), None
        except BaseException as exc:
            result, error = None, exc
        if error is None and self._sort is not None:
            self._sort_wanted = True  # the schema is there now: rows a crash left?
        self._resolve([(request, result, error)])

    def _commit(self, group: list[_Request[Any]]) -> None:
        group = [request for request in group if not request.future.cancelled()]
        if not group:
            return
        db = self._db
        outcomes: list[tuple[_Request[Any], Any, BaseException | None]] = []
        totals: Counter[str] = Counter()
        inbox_rows: list[tuple[int, int]] = []
        truncate = False
        try:
            db.execute("BEGIN IMMEDIATE")
            for request in group:
                tx = Tx(db)
                db.execute("SAVEPOINT request")
                try:
                    result = request.work(tx)
                except Exception as exc:
                    db.execute("ROLLBACK TO request")
                    db.execute("RELEASE request")
                    outcomes.append((request, None, exc))
                else:
                    db.execute("RELEASE request")
                    totals.update(tx.counts)
                    inbox_rows += tx.inbox_rows
                    truncate = truncate or tx.truncate_wal
                    outcomes.append((request, result, None))
            _add_counts(db, totals)
            db.execute("COMMIT")
            self._on_commit()
        except BaseException as exc:
            _rollback(db)
            outcomes = [(request, None, exc) for request in group]
            inbox_rows = []
            truncate = False
        if truncate:
            try:
                truncate_wal(db)
            except sqlite3.Error:  # committed either way; the checkpointer copies it later
                log.exception("emptying the WAL after forgetting a person failed")
        if inbox_rows:
            self._progress.accepted(inbox_rows)
            self._sort_wanted = self._sort is not None
        self._resolve(outcomes)

    # -- sorting the inbox -------------------------------------------------------------

    def _can_sort(self) -> bool:
        return (
            self._sort is not None
            and self._sort_wanted
            and time.monotonic() >= self._sort_paused_until
        )

    def _ingest_busy(self, now: float) -> bool:
        return now - self._last_accept < INGEST_BUSY_WINDOW

    def _sort_step(self, wide: bool) -> SortOutcome | None:
        """Sort one chunk of the inbox in its own transaction: the most events a step
        may take if ``wide`` (nothing waits on it), else `SORT_STEP_SECONDS`' worth.
        ``None`` if that failed (logged; sorting pauses a moment, the rows stay for
        the next try)."""
        assert self._sort is not None
        db = self._db
        tx = Tx(db)
        low = SORT_STEP_EVENTS[0]
        budget = sort_budget(self._sort_rate, wide)
        started = time.perf_counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            outcome = self._sort(tx, budget)
            _add_counts(db, tx.counts)
            db.execute("COMMIT")
        except Exception:  # the rows stay in the inbox; retried later
            _rollback(db)
            log.exception("sorting the inbox failed; retrying in %.0f s", SORT_FAILURE_PAUSE)
            self._sort_paused_until = time.monotonic() + SORT_FAILURE_PAUSE
            return None
        if outcome.events:
            self._on_commit()
            if outcome.events >= low:
                rate = outcome.events / max(time.perf_counter() - started, 1e-6)
                self._sort_rate = 0.7 * self._sort_rate + 0.3 * rate
        self._inbox_checked_at = time.monotonic()
        self._sort_wanted = outcome.more
        self._progress.sorted(outcome.through, outcome.events)
        return outcome

    def _sort_all(self) -> None:
        """Sort every row in the inbox now (before an enqueue or replay)."""
        while self._can_sort():
            if self._sort_step(wide=True) is None:
                return

    @staticmethod
    def _resolve(outcomes: list[tuple[_Request[Any], Any, BaseException | None]]) -> None:
        for request, result, error in outcomes:
            with contextlib.suppress(RuntimeError):  # the caller's loop closed: nobody waits
                request.loop.call_soon_threadsafe(settle, request.future, result, error)


def sort_budget(rate: float, wide: bool) -> int:
    """The events one sort step takes: the most `SORT_STEP_EVENTS` allows when nothing
    waits on the step (``wide``), else `SORT_STEP_SECONDS`' worth at ``rate`` (events
    a second, as measured), within `SORT_STEP_EVENTS`."""
    low, high = SORT_STEP_EVENTS
    return high if wide else min(max(int(rate * SORT_STEP_SECONDS), low), high)


def _add_counts(db: sqlite3.Connection, totals: Counter[str]) -> None:
    for name, delta in totals.items():
        if delta:
            db.execute(QUERIES["add_to_count"], {"name": name, "delta": delta})


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
