"""The embedded queue: one SQLite file, one writer thread, group commit.

Writes (enqueue, claim, settle, replay, purge, memory, pause) are queued to a single
writer thread that owns the write connection. It takes everything queued, runs it in
ONE transaction (each request inside its own savepoint, so one failing request does
not fail its neighbours), commits, and only then resolves the callers' futures: an
``await store.enqueue(...)`` that returned is on disk. One COMMIT per busy moment
rather than per request amortises the commit, and a single writer means SQLite never
returns "database is locked" to ourselves. A batch is a handful of statements
(executemany; ids are handed out by the writer), so what an event costs is mostly the
pages it dirties: its row, plus one page each in two randomly keyed indexes (its
user's line and, with dedupe on, its message id). ``bench/store_claim.py`` measures it.

Reads run on a small thread pool, each thread with its own connection; in WAL mode
they never wait for the writer and see everything committed before they start.

Claiming stays flat with millions of queued jobs because the ready indexes contain
only *line heads* (see ``migrations/sqlite/0001_initial.sql``): each job keeps a count
of the earlier unfinished jobs sharing its ordering keys (``blockers``), maintained
by the writer on enqueue, finish and replay, and only jobs at zero are indexed as
ready. A claim therefore reads about ``limit`` index entries plus one row each, no
matter how many jobs wait behind busy users.

That bookkeeping costs tens of microseconds an event (random pages in the dedupe and
line indexes), so ingest does not wait for it: `accept` appends each request's events
as ONE row of an append-only ``inbox`` table (sequential key, a few pages a commit)
and returns once that is committed. The writer then *sorts* the inbox into the queue
— dedupe, lines, blockers, counters: what `enqueue` does — in arrival order, a few
milliseconds' worth of events per transaction (a big row is sorted in pieces, see
``inbox_head``), deleting each row in the transaction that sorts its last event, so
a crash loses nothing and the rows it left are sorted when the store opens again.

When it sorts: whenever no request waits, at full speed — unless ingest is busy and
competes with sorting for the CPU (a burst), then for at most `SORT_SHARE_UNDER_LOAD`
of the time (sorting would otherwise take the CPU that acknowledges the burst; the
inbox holds it and sorting catches up after); one step before each claim, so
workers always find work; and completely before an `enqueue` or `replay`, so those
keep arrival order. `counts` shows unsorted events
as pending, and `counts`/`find_jobs` first sort what this store accepted when that
is a short wait (`READ_SORTS_UP_TO`), so an acknowledged event is visible as a job.
``bench/ingest.py`` measures the accept rate and the sort rate.

Durability: see `sailbridge.store.sqlite.connection` — WAL with ``synchronous=NORMAL``
survives the process being killed; pass ``synchronous="FULL"`` to also survive an
OS crash or power loss, at one fsync per group commit.

The modules: `store` (`SqliteStore`, the asyncio facade), `writer` (the writer thread:
group commit, when to sort), `intake` (accept, enqueue, sort: jobs into the queue),
`lifecycle` (claim, settle, replay, purge), `reads` (the reader side's queries),
`memory` (the memory's SQL), `rows` (row codecs), `transaction` (`Tx`, what a write
request sees), `sort_progress`, `readers` and `checkpointer` (the helper threads),
`connection` (pragmas, named queries from ``queries.sql``, migrations).
"""

from sailbridge.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
