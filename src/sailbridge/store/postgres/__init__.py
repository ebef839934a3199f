"""The shared queue: one PostgreSQL database, any number of sailbridge nodes.

Every node opens a pool to the same database and runs the same contract as the
embedded store (`sailbridge.store.sqlite`), with the same schema ideas (see
``migrations/postgres/0001_initial.sql``): each ordering key has a *line* of
unfinished jobs, each job counts the earlier jobs it waits behind (``blockers``), and
only line heads are in the partial ready indexes, so claiming reads about ``limit``
index entries however deep the queue is.

What makes it safe across nodes:

- Claims lock the rows they take with ``FOR UPDATE SKIP LOCKED``: two nodes claiming
  at once take different jobs and never wait for each other. Only line heads are
  claimable and a claim changes no line, so a user's second job cannot be claimed
  while the first is out, whichever node holds it.
- Everything that changes a line (enqueue, finish, replay) first locks the ``lines``
  rows of its keys, in sorted order. Two nodes enqueueing for one user therefore go
  one after the other, and each sees the other's commit when it counts what it
  waits behind; ids (the position in the line) are taken under that lock, so line
  order is commit order. A finish racing an enqueue of the same user cannot miss the
  new job either: whichever runs second sees the first's rows.
- Leases are times: a node that dies (``kill -9``) stops heartbeating, its jobs'
  leases run out and the next claim anywhere takes them back. A late result from a
  node that lost its lease is refused (`JobNotClaimed`).
- Locks are always taken in one order (see ``queries.sql``), so nodes never deadlock.

Every write is one transaction committed before the call returns; finishes that arrive
together share one (a group commit, as the SQLite store's writer does). Reads see one
snapshot per call. Counters (for status) are sharded rows updated in the same
transactions as the jobs they count.

The modules: `store` (`PostgresStore`, the asyncio facade), `transactions` (enqueue,
send, forget, replay, purge, memory writes), `finishes` (finishes committed in
groups), `reads` (jobs, listings, counts), `rows` (row codecs, JSON parameters),
`database` (the pool: connections, transactions, retried deadlocks), `connection`
(opening the pool, named queries from ``queries.sql``, migrations).
"""

from sailbridge.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
