"""The queue contract every store implements (SQLite embedded, PostgreSQL shared).

One contract, one shared test suite (``tests/store``) run against each implementation.
All methods are async so a networked store fits; the embedded store answers from its
own writer thread. Times are epoch seconds (floats) passed in by the caller where they
decide behaviour, so tests and several nodes agree on "now".

Ordering: each job carries one or more *ordering keys* (the user key; plus the
anonymousId an identify merges, or the previousId of an alias). A job may be claimed
only when no earlier unfinished job (pending, retrying or claimed) shares any of its
keys. Finished jobs (delivered, skipped, dead) hold nothing back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

import msgspec

from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import counters_of, ordering_key, pause_summary
from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.memory import AccountsMemory, Forgotten

if TYPE_CHECKING:  # send_plan imports this module (for NewJob)
    from sailbridge.store.send_plan import SentJob

SEND_WRITE_KEY = "sailbridge-send"
"""The write key `sailbridge send` queues under: its own namespace of identities.

An event a file and an SDK both carry with one messageId is two deliveries asked
for by two sources, as in Segment, where messageIds are de-duplicated per source.
"""


class Result(StrEnum):
    """How one delivery attempt ended: the one word for it in the executor's report,
    the worker's decision, the job's history (`Attempt.outcome`), its final state and
    the metrics.

    The values are what the stores have always written (an attempt that will be tried
    again is ``"retry"``), so histories recorded before this enum read back unchanged.
    """

    DELIVERED = "delivered"
    SKIPPED = "skipped"
    """Nothing to send, by design; the reason says why."""
    FAILED = "failed"
    """The executor's word for an attempt that did not deliver; the worker's decision
    then makes it one of `RETRY`, `DEAD`, `PAUSED` or `RELEASED`. Never stored."""
    RETRY = "retry"
    """A failed attempt; the job is tried again after a backoff."""
    DEAD = "dead"
    PAUSED = "paused"
    """Sailthru refused the credentials: delivery paused, the job back untouched."""
    RELEASED = "released"
    """Back to the queue untouched, not an attempt (Sailthru kept answering 429)."""


class JobState(StrEnum):
    """Where a job stands. A finished job's state is its final `Result`."""

    PENDING = "pending"  # waiting; "retrying" when attempts > 0
    CLAIMED = "claimed"  # leased by a worker
    DELIVERED = Result.DELIVERED.value
    SKIPPED = Result.SKIPPED.value
    DEAD = Result.DEAD.value


FINAL_STATES: Final = frozenset({JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD})
"""The states a job never leaves (but for a replay of the dead)."""

PRUNE_EVERY: Final = 60.0
"""Seconds between sweeps of message ids that fell out of the dedupe window."""


def may_follow(
    head: Job,
    state: str,
    available_at: float,
    ordering_keys: Sequence[str],
    user_key: str,
    now: float,
) -> bool:
    """Whether a job behind ``head`` in its user's line may be claimed with it: waiting
    and due, of the same user, and in that line only (a job also in another line, as
    an identify that merges an anonymous profile, waits for that line's head too)."""
    return (
        state == JobState.PENDING
        and available_at <= now
        and user_key == head.user_key
        and tuple(ordering_keys) == (head.user_key,)
    )


class NewJob(msgspec.Struct, frozen=True, array_like=True):
    """An accepted event to deliver. ``event`` is the Segment JSON (camelCase): a dict,
    or a `msgspec.Raw` holding the encoded JSON object when ingest already has the exact
    bytes to store (stores write it with ``msgspec.json.encode``, which takes either).

    A msgspec Struct rather than a dataclass: ingest builds one per event, and a frozen
    dataclass costs ten times as much to construct. ``array_like`` keeps a list of them
    compact when a store serialises it (the SQLite inbox does).
    """

    write_key: str
    message_id: str | None
    event: dict[str, Any] | msgspec.Raw
    event_type: str
    user_key: str
    ordering_keys: tuple[str, ...]
    received_at: float
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    """The accounts its source feeds: the store keeps one delivery (one job, its own
    state, attempts, line and dead letter) per account; dedupe stays per source."""


@dataclass(frozen=True)
class Rejection:
    """An event refused at ingest, kept with its reason so it is visible, not lost."""

    write_key: str
    message_id: str | None
    raw: str
    reason: str
    received_at: float
    id: int | None = None
    """Set on rejections read back from a store (the cursor of `Store.find_rejections`)."""


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt as recorded in the job's history — never with secrets.

    ``requests`` summarises the calls made (method, endpoint, params); ``status``,
    ``code`` and ``message`` are Sailthru's answer to the last one. ``outcome`` is
    `Result.DELIVERED`, `SKIPPED`, `RETRY` or `DEAD` (pauses and releases are not
    attempts and leave no record).
    """

    at: float
    outcome: Result
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    code: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Job:
    id: int
    write_key: str
    message_id: str | None
    event: dict[str, Any]
    event_type: str
    user_key: str
    ordering_keys: tuple[str, ...]
    state: JobState
    attempts: int
    received_at: float
    first_attempt_at: float | None
    available_at: float
    reason: str | None = None
    history: list[Attempt] = field(default_factory=list)
    account: str = DEFAULT_ACCOUNT
    """The Sailthru account this delivery is for."""


def job_from_columns(
    columns: Sequence[Any],
    ordering_keys: Iterable[str],
    history: list[Attempt],
    account: str,
) -> Job:
    """A `Job` from the 13 columns both stores select first, in the order of `Job`'s
    fields (``id`` … ``reason``; the event as JSON text or bytes, the state as text),
    with what each store reads its own way: the stored ordering keys, the history and
    the account."""
    (
        job_id,
        write_key,
        message_id,
        event,
        event_type,
        user_key,
        _keys,
        state,
        attempts,
        received_at,
        first_attempt_at,
        available_at,
        reason,
    ) = columns[:13]
    return Job(
        id=job_id,
        write_key=write_key,
        message_id=message_id,
        event=msgspec.json.decode(event),
        event_type=event_type,
        user_key=user_key,
        ordering_keys=tuple(ordering_key(key) for key in ordering_keys),
        state=JobState(state),
        attempts=attempts,
        received_at=received_at,
        first_attempt_at=first_attempt_at,
        available_at=available_at,
        reason=reason,
        history=history,
        account=account,
    )


@dataclass(frozen=True)
class EnqueueResult:
    accepted: int
    duplicates: int
    rejected: int
    job_ids: tuple[int, ...] = ()
    """The ids of the accepted jobs, in the order given (duplicates have none): one per
    account an event is for, in the order of its ``accounts``. ``accepted`` counts
    events."""


@dataclass(frozen=True)
class StatusCounts:
    """The counts status shows: of the whole store, or of one account (`Store.counts`).

    ``rejected``, ``deduplicated`` and ``inbox`` are the store's either way: events
    refused, dropped as duplicates or not sorted yet belong to a source, not to an
    account (a source may feed several)."""

    pending: int
    retrying: int
    claimed: int
    delivered: int
    skipped: int
    rejected: int
    dead: int
    oldest_pending_at: float | None
    paused_reason: str | None
    deduplicated: int = 0
    """Lifetime total of events dropped as duplicates of a recent (write key, messageId)."""
    inbox: int = 0
    """Events accepted but not yet sorted into the queue (see `Store.accept`): part of
    ``pending`` in the whole store's counts, not in an account's (they become a job per
    account their source feeds only when sorted)."""


def status_counts_from(
    counters: Mapping[str, int],
    oldest_pending_at: float | None,
    paused: Mapping[str, str],
    account: str | None,
) -> StatusCounts:
    """`StatusCounts` of ``account`` (``None``: the whole store) from every counter by
    `count_name`, the oldest unfinished job's receipt and each paused account → why
    (both stores; the oldest as read for ``account``)."""
    totals = counters_of(counters, account)

    def get(name: str) -> int:
        return totals.get(name, 0)

    if account is None:
        pause = pause_summary(paused)
        pending = get("pending") + get("inbox")
    else:
        pause = paused.get(account)
        pending = get("pending")
    return StatusCounts(
        pending=pending,
        retrying=get("retrying"),
        claimed=get("claimed"),
        delivered=get("delivered"),
        skipped=get("skipped"),
        rejected=get("rejected"),
        dead=get("dead"),
        oldest_pending_at=oldest_pending_at,
        paused_reason=pause,
        deduplicated=get("deduplicated"),
        inbox=get("inbox"),
    )


QUEUE_SAMPLE: Final = 10_000
"""Unfinished jobs `Store.queued_kinds` reads at most: enough for a mix's shares, and a
bounded read however deep the queue."""


@dataclass(frozen=True)
class QueuedKinds:
    """Unfinished jobs by (type, track event name; ``None`` for other types)."""

    kinds: dict[tuple[str, str | None], int]

    @property
    def sampled(self) -> int:
        return sum(self.kinds.values())


def queued_kinds_from(rows: Sequence[Sequence[Any]]) -> QueuedKinds:
    """`QueuedKinds` from ``(event_type, event name, count)`` rows (both stores)."""
    kinds: dict[tuple[str, str | None], int] = {}
    for event_type, name, count in rows:
        key = (str(event_type), str(name) if name is not None else None)
        kinds[key] = kinds.get(key, 0) + int(count)
    return QueuedKinds(kinds)


class ListState(StrEnum):
    """The states people see (status, listings, the console): `JobState`, with pending
    split in two and claimed shown as in flight (`list_state` maps one to the other)."""

    PENDING = "pending"  # waiting, never attempted
    RETRYING = "retrying"  # waiting after a failed attempt
    IN_FLIGHT = "in_flight"  # claimed by a worker right now
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    DEAD = "dead"


def list_state(state: JobState, attempts: int) -> ListState:
    """A stored job's state as people see it."""
    if state is JobState.PENDING:
        return ListState.RETRYING if attempts else ListState.PENDING
    if state is JobState.CLAIMED:
        return ListState.IN_FLIGHT
    return ListState(state.value)


REJECTED: Final = "rejected"
"""Events refused at ingest: counted and listed beside the jobs, never a job's state."""

SHOWN_COUNTS: Final[dict[str, str]] = {
    ListState.PENDING: "pending",
    ListState.RETRYING: "retrying",
    ListState.IN_FLIGHT: "claimed",
    ListState.DELIVERED: "delivered",
    ListState.SKIPPED: "skipped",
    REJECTED: "rejected",
    ListState.DEAD: "dead",
}
"""Each count people see (its name in status, the admin API and the queue log) → the
`StatusCounts` field holding it (also the ``state`` label of the queue metric), in the
order every view shows them."""


SCAN_WINDOW = 10_000
"""Index entries a filtered listing examines per call at most: a filter no index serves
(event name, reason text, a state within a user's jobs) costs a bounded scan, and the
page says where it stopped so the caller can go on from there."""


@dataclass(frozen=True)
class JobQuery:
    """What `Store.find_jobs` lists: newest first (or oldest first), every given filter
    applied.

    ``user`` is the job's user key (userId, else anonymousId); ``event`` is a track's
    event name or, for other types, the type (``identify``, ``page``…); ``reason``
    must occur in the job's reason (case-sensitive, as replay's filter). ``before`` is
    the cursor of a newest-first listing: only jobs with a smaller id (`Page.next_before`
    of the previous page); ``after`` that of an oldest-first one (`Page.next_after`).
    ``scan`` bounds the entries a filter examines per page (`SCAN_WINDOW`); ``None``
    examines them all, for a listing that must be complete (``dlq list --reason``).
    """

    state: ListState | None = None
    user: str | None = None
    event: str | None = None
    reason: str | None = None
    before: int | None = None
    limit: int = 50
    scan: int | None = SCAN_WINDOW
    oldest_first: bool = False
    after: int | None = None
    account: str | None = None
    """Only this account's jobs (a filter the indexes do not serve: a bounded scan)."""

    def __post_init__(self) -> None:
        if self.before is not None and self.oldest_first:
            raise ValueError("an oldest-first listing continues from after, not before")
        if self.after is not None and not self.oldest_first:
            raise ValueError("a newest-first listing continues from before, not after")

    @property
    def cursor(self) -> int | None:
        """Where this page starts, in the listing's direction."""
        return self.after if self.oldest_first else self.before


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, in its order (newest first unless it asked otherwise).

    ``next_before`` is the cursor of the next (older) page of a newest-first listing,
    ``next_after`` of the next (newer) page of an oldest-first one; ``None`` at the end.
    A page can hold fewer than ``limit`` items and still have a next one when a filter
    stopped at the scan window: ``searched_to`` is then the last id it examined.
    """

    items: list[T]
    next_before: int | None
    searched_to: int | None = None
    next_after: int | None = None


@dataclass(frozen=True)
class MinuteCount:
    """Jobs that ended in one minute (``minute`` is its start, epoch seconds)."""

    minute: float
    delivered: int
    dead: int


# The store contract, by role: each caller asks for the protocols it uses (the
# worker the queue and the memory, ingest the queue's `accept`, the console the reads
# and the controls, the backfill its records). `Store` is all of them, as each
# backend implements it; `sailbridge.store.guards.StoreGuards` holds the checks that
# come before any backend's code. A new store operation: its protocol here, one query
# per dialect (``sqlite/queries.sql``, ``postgres/queries.sql``), the contract suite
# (``tests/store``).


class Queue(Protocol):
    """Jobs in and out: what ingest, ``send`` and the worker do to the queue."""

    async def enqueue(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        """Store jobs and rejections durably (committed before returning).

        A job whose (write_key, message_id) was seen within ``dedupe_window`` seconds is
        dropped as a duplicate — including duplicates inside the same call — and counted
        in ``StatusCounts.deduplicated``. Jobs taken by an earlier `accept` are sorted
        into the queue first, so they keep their place ahead of these.
        """

    async def accept(
        self,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> int:
        """Take jobs and rejections durably (committed before returning) for sorting into
        the queue soon after; returns how many jobs were taken (``len(jobs)``).

        This is ingest's call: an acknowledged event is on disk, but the queue's
        bookkeeping (dedupe, ordering lines, counters) may happen a moment later, off
        the request's path, so no job ids are returned and duplicates are not known
        yet. The store promises that accepted jobs are sorted in the order ``accept``
        calls returned, with ``dedupe_window`` and ``now`` applied as `enqueue` would
        have applied them at that moment; that they are sorted before any later
        `enqueue` or `replay`, and promptly otherwise (a `claim` sees them within a
        moment); that `counts` includes them as pending meanwhile (and in ``inbox``);
        that duplicates found when sorting are added to ``StatusCounts.deduplicated``;
        and that nothing accepted is lost if the process dies before sorting.

        A store without a separate inbox (PostgreSQL) implements this as `enqueue`,
        adding the duplicates it drops to its ``deduplicated`` count.
        """

    async def claim(
        self, worker: str, limit: int, lease: float, now: float, *, account: str | None = None
    ) -> list[Job]:
        """Lease up to ``limit`` ready jobs (available, lease expired or never taken,
        not held back by an earlier unfinished job of its account sharing an ordering
        key), oldest first; only ``account``'s when given (from indexes of their own, so
        a paused account's backlog costs another account's claim nothing)."""

    async def claim_groups(
        self,
        worker: str,
        limit: int,
        lease: float,
        now: float,
        size: int,
        *,
        account: str | None = None,
    ) -> list[list[Job]]:
        """`claim` up to ``limit`` jobs, each with the jobs right behind it in its user's
        line that are ready too (`may_follow`), at most ``size`` jobs a line, all leased
        to ``worker``: one user's consecutive events, handed out together so the worker
        may merge them (coalescing). Each line is in line order, head first.

        A follower is settled after the jobs before it; until then it is not a line
        head, so nobody else may claim it, and a lease that runs out (a crashed worker)
        returns the line one job at a time, in order."""

    async def heartbeat(
        self, worker: str, job_ids: Sequence[int], lease: float, now: float
    ) -> None:
        """Extend the leases of jobs this worker still holds."""

    async def finish(
        self,
        job_id: int,
        state: JobState,
        attempt: Attempt,
        reason: str | None = None,
        *,
        worker: str,
    ) -> None:
        """Mark a job ``worker`` holds delivered, skipped or dead, appending ``attempt``.

        Raises `sailbridge.store.errors.JobNotClaimed` when ``worker`` does not hold the
        job (any more): a worker whose lease expired and was re-claimed elsewhere must
        not overwrite the new owner's result. The same holds for `retry_at`, `release`.
        """

    async def retry_at(self, job_id: int, at: float, attempt: Attempt, *, worker: str) -> None:
        """Return a held job to pending, available at ``at``, counting an attempt."""

    async def release(self, job_id: int, at: float, *, worker: str) -> None:
        """Return a held job to pending without counting an attempt (pause, shutdown)."""


class OperatorReads(Protocol):
    """What people read: jobs, rejections, counts, the pause."""

    async def get_job(self, job_id: int) -> Job | None: ...

    async def list_rejections(self, limit: int = 100) -> list[Rejection]: ...

    async def find_jobs(self, query: JobQuery) -> Page[Job]:
        """Jobs matching ``query``, newest first, with their history (see `JobQuery`).

        Served by indexes: by user key when ``user`` is given, else by state; a filter
        no index serves examines at most ``query.scan`` entries (see `Page`). A user's
        timeline is ``JobQuery(user=...)``.
        """

    async def find_rejections(
        self,
        reason: str | None = None,
        before: int | None = None,
        limit: int = 50,
        scan: int = SCAN_WINDOW,
    ) -> Page[Rejection]:
        """Rejected events, newest first, with their ids; ``reason`` as in `find_jobs`."""

    async def finished_per_minute(self, since: float, until: float) -> list[MinuteCount]:
        """Per minute from ``since`` to ``until`` (both floored to their minute), the
        jobs that ended delivered or dead then, oldest minute first; minutes with none
        are left out. A dead job replayed since no longer counts where it died. Each
        minute is counted from an index range, so the cost follows the jobs that
        ended in the window, with no sort."""

    async def counts(self, account: str | None = None) -> StatusCounts:
        """Current pending (including accepted events not sorted yet), retrying, claimed,
        dead and rejected; lifetime delivered, skipped and deduplicated totals.

        With ``account``: that account's jobs only (pending without the unsorted
        inbox), its pause, the age of its oldest unfinished job; read from counters
        kept per account, so as cheap as the whole store's. Delivered and skipped jobs
        of an account other than ``default`` that were purged before the store kept
        counters per account (schema 7 / 6) count as ``default``'s."""

    async def queued_kinds(
        self, limit: int = QUEUE_SAMPLE, account: str | None = None
    ) -> QueuedKinds:
        """What the oldest ``limit`` unfinished jobs are (pending, retrying or claimed;
        not the unsorted inbox), counted by type and track event name: the sample the
        drain-time estimate scales to the whole queue (`sailbridge.drain`). With
        ``account``, that account's oldest (from an index of its own)."""

    async def paused_reason(self, account: str = DEFAULT_ACCOUNT) -> str | None: ...

    async def paused_accounts(self) -> dict[str, str]:
        """Every paused account → why."""


class Control(Protocol):
    """What operators and housekeeping change: the pause, replays, purges, forgetting."""

    async def set_paused(self, reason: str | None, account: str = DEFAULT_ACCOUNT) -> None:
        """Pause ``account``'s delivery on every worker with a visible reason; ``None``
        resumes it. Other accounts deliver on."""

    async def replay(
        self, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
    ) -> int:
        """Send dead jobs back to pending (all of them when both filters are None);
        attempts and first-attempt time reset, history kept. Returns how many."""

    async def purge_dead(
        self,
        job_ids: Sequence[int] | None = None,
        reason_contains: str | None = None,
        *,
        older_than: float | None = None,
    ) -> int:
        """Delete dead jobs and their history, returning how many: with ``older_than``,
        those last updated before it (and the rejections from before then); else those
        chosen as `replay` chooses them (every dead job when both filters are None).
        Ids that are not dead are left."""

    async def purge_finished(self, older_than: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` delivered or skipped jobs (and their history) last
        updated before ``older_than``; returns how many. The delivered and skipped
        counts are lifetime totals and do not go down."""

    async def forget(self, user_key: str, account: str | None = None) -> Forgotten:
        """Remove what the store holds about a person, once Sailthru deleted them, in
        ``account`` (every account when ``None``).

        Memory: the emails (wherever remembered), carts and merges of ``user_key`` and
        of the ids merged with it, in both directions (one merge away). Jobs: every
        finished job (delivered, skipped, dead) of those ids, or whose payload carries
        one of their emails, with its history; rejected events mentioning them.
        Unfinished jobs stay (they come after the deletion in the user's line: new
        events); the job delivering the deletion, claimed now, is deleted with its
        history when it is finished. The lifetime delivered and skipped totals do not
        go down. What was removed is overwritten (SQLite: secure delete, then the WAL
        is checkpointed and truncated). `apply` of a `ForgetUser` does the same.
        """


class Records(Protocol):
    """What ``send`` and ``backfill`` keep to be run again safely: send identities, files."""

    async def enqueue_sent(
        self, jobs: Sequence[NewJob], now: float, *, force: bool = False
    ) -> list[SentJob]:
        """`sailbridge send`'s enqueue: jobs under `SEND_WRITE_KEY` whose ``message_id``
        is the event's identity (its messageId, else derived from its content).

        A job whose identity matches a job still stored (any state; the latest one) is
        not queued again: that job's id comes back with ``queued=False``, as does a
        repeat of an identity earlier in the same call. ``force`` queues every job
        anyway (a later call then finds the newest copy). Committed before returning,
        atomically with the look-up, so two sends racing on one file queue it once.
        Identities last as long as their jobs (see `purge_finished`, `purge_dead`).
        """

    async def backfill_file(self, content_hash: str) -> BackfillFile | None:
        """The record of the backfill file with this content hash, if one was saved."""

    async def save_backfill_file(self, record: BackfillFile) -> None:
        """Insert or replace the record of ``record.content_hash`` (committed on return)."""


class Lifecycle(Protocol):
    """The store as a resource: schema, health, closing."""

    async def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version now in force."""

    async def check_writable(self, now: float) -> None:
        """Commit one tiny write (the time of this check) and return, or raise
        `sailbridge.store.errors.StoreUnwritable` saying why the store cannot accept
        writes now (a full disk, a read-only database). Readiness checks call it: a
        store that still answers reads but refuses every write must not look healthy."""

    async def close(self) -> None: ...


class OperatorStore(Queue, AccountsMemory, OperatorReads, Control, Protocol):
    """What the admin API and the console use: the reads and controls, the queue for the
    events they send, and the memory the tester's and the event page's plans read."""


class Store(Queue, AccountsMemory, OperatorReads, Control, Records, Lifecycle, Protocol):
    """The durable queue plus sailbridge's memory and shared control state: every role."""
