"""Jobs entering the SQLite queue: accepted into the inbox, enqueued, sorted into lines.

Runs on the writer thread (`sailbridge.store.sqlite.writer`), each request inside the
group transaction and a savepoint. A batch is a handful of statements (executemany;
ids are handed out here), so what an event costs is mostly the pages it dirties: its
row, plus one page each in two randomly keyed indexes (its user's line and, with
dedupe on, its message id). `accept` only appends a row to the inbox; `Intake.sort`
later places the inbox's events as `Intake.enqueue` would have, in arrival order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import line_keys
from sailbridge.store.base import PRUNE_EVERY, EnqueueResult, NewJob, Rejection
from sailbridge.store.send_plan import SentJob, plan_send
from sailbridge.store.sqlite.rows import InboxJob, encode, inbox_decoder
from sailbridge.store.sqlite.sort_progress import SortOutcome
from sailbridge.store.sqlite.transaction import Tx


class Intake:
    """Placing jobs in the queue, with the state that needs between requests (the
    dedupe prune schedule, the inbox row decoded last). Writer thread only."""

    def __init__(self) -> None:
        self._prune_at = float("-inf")
        self._decoded_row: tuple[int, list[InboxJob]] = (0, [])

    def enqueue(
        self,
        tx: Tx,
        jobs: Sequence[NewJob],
        rejections: Sequence[Rejection],
        dedupe_window: float,
        now: float,
    ) -> EnqueueResult:
        """One batch in a handful of statements: the per-row work is executemany."""
        ids, duplicates = self.place(tx, [_Batch(jobs, dedupe_window, now)])
        insert_rejections(tx, rejections)
        return EnqueueResult(len(jobs) - duplicates, duplicates, len(rejections), tuple(ids))

    def enqueue_sent(
        self, tx: Tx, jobs: Sequence[NewJob], now: float, force: bool
    ) -> list[SentJob]:
        known: dict[str, int] = (
            {}
            if force
            else {
                message_id: job_id
                for account in {job.accounts[0] for job in jobs}
                for message_id, job_id in tx.run(
                    "sent_jobs",
                    {
                        "account": account,
                        "ids": encode(
                            [job.message_id for job in jobs if job.accounts[0] == account]
                        ),
                    },
                )
            }
        )
        plan = plan_send(jobs, known)
        ids, _ = self.place(tx, [_Batch(plan.fresh, 0.0, now)]) if plan.fresh else ([], 0)
        return plan.results(ids)

    def sort(self, tx: Tx, max_events: int) -> SortOutcome:
        """Move the oldest ``max_events`` inbox events (fewer if the inbox holds fewer)
        into the queue, as `enqueue` would have at each row's own ``now``. A row is
        deleted with its last event; one left partly sorted is the inbox head."""
        head_row, head_sorted = tx.run("inbox_head", {}).fetchone()
        batches: list[_Batch] = []
        taken = 0
        last_done = 0  # the last row sorted to its end
        partial: tuple[int, int] | None = None  # (row, jobs sorted) of a row left mid-way
        cursor = tx.run("inbox_rows", {})
        try:
            for row_id, events, payload, window, now in cursor:
                skip = head_sorted if row_id == head_row else 0
                jobs = self._inbox_jobs(row_id, payload)
                take = min(events - skip, max_events - taken)
                batches.append(_Batch(jobs[skip : skip + take], window, now))
                taken += take
                if skip + take < events:
                    partial = (row_id, skip + take)
                    break
                last_done = row_id
                if taken >= max_events:
                    break
        finally:
            cursor.close()
        if batches:
            self.place(tx, batches)
            tx.count("inbox", -taken)
            if last_done:
                tx.run("forget_inbox_rows", {"last": last_done})
            if partial is not None or head_row:
                row, sorted_ = partial if partial is not None else (0, 0)
                tx.run("set_inbox_head", {"row": row, "sorted": sorted_})
        first_left = tx.run("inbox_first_id", {}).fetchone()[0]
        if first_left is None:
            through = tx.run("inbox_last_id", {}).fetchone()[0]
        else:
            through = first_left - 1
        return SortOutcome(through, taken, first_left is not None)

    def _inbox_jobs(self, row_id: int, payload: bytes) -> list[InboxJob]:
        """The jobs of an inbox row, decoded once even when sorted in several pieces
        (writer thread only)."""
        cached_id, jobs = self._decoded_row
        if cached_id != row_id:
            jobs = inbox_decoder.decode(payload)
            self._decoded_row = (row_id, jobs)
        return jobs

    def place(self, tx: Tx, batches: Sequence[_Batch]) -> tuple[list[int], int]:
        """Put the batches' jobs in the queue, in order: drop duplicates (each batch
        with its own window and ``now``), join the lines, count. Returns the new ids
        and the number of duplicates."""
        ids: list[int] = []
        duplicates = 0
        seen = _seen_messages(tx, batches)
        all_keys = {
            key
            for batch in batches
            for job in batch.jobs
            for account in job.accounts
            for key in line_keys(account, job.ordering_keys)
        }
        busy = busy_lines(tx, all_keys)
        accounts: set[str] = set()
        placed: Counter[str] = Counter()
        next_id = tx.run("last_job_id", {}).fetchone()[0] + 1
        rows: list[tuple[Any, ...]] = []
        lines: list[tuple[str, int, int]] = []
        messages: list[tuple[str, str, float]] = []
        prune_before: float | None = None
        for batch in batches:
            now = batch.now
            dedupe = batch.dedupe_window > 0
            seen_after = now - batch.dedupe_window
            if dedupe:
                prune_before = seen_after
            for job in batch.jobs:
                if dedupe and job.message_id is not None:
                    message = (job.write_key, job.message_id)
                    last_seen = seen.get(message)
                    if last_seen is not None and last_seen >= seen_after:
                        duplicates += 1
                        continue
                    seen[message] = now
                    messages.append((job.write_key, job.message_id, now))
                # an inbox job's event is the stored JSON already: bound as it is
                event = job.event if isinstance(job.event, msgspec.Raw) else encode(job.event)
                for account in job.accounts:  # one delivery per account
                    keys = line_keys(account, job.ordering_keys)
                    ids.append(next_id)
                    rows.append(
                        (
                            next_id,
                            job.write_key,
                            job.message_id,
                            event,
                            job.event_type,
                            job.user_key,
                            encode(keys),
                            len(busy.intersection(keys)),  # (keys are distinct)
                            job.received_at,
                            now,
                            now,
                            account,
                        )
                    )
                    for key in keys:
                        lines.append((key, next_id, next_id))
                        busy.add(key)
                    next_id += 1
                    placed[account] += 1
                accounts.update(job.accounts)
        if accounts - {DEFAULT_ACCOUNT}:
            tx.run("add_accounts", {"names": encode(sorted(accounts))})
        tx.run_many("remember_message", messages)
        tx.run_many("insert_job", rows)
        tx.run_many("join_line", lines)
        for account, placed_jobs in placed.items():
            tx.count("pending", placed_jobs, account)
        tx.count("deduplicated", duplicates)
        if prune_before is not None and batches[-1].now >= self._prune_at:
            tx.run("forget_messages", {"seen_after": prune_before})
            self._prune_at = batches[-1].now + PRUNE_EVERY
        return ids, duplicates


class _Batch(NamedTuple):
    """Jobs placed with one dedupe window and one ``now`` (an enqueue, an inbox row)."""

    jobs: Sequence[NewJob] | Sequence[InboxJob]
    dedupe_window: float
    now: float


def accept(tx: Tx, inbox_row: dict[str, Any], rejections: Sequence[Rejection]) -> int:
    """One request's events as one inbox row (sorted later), its rejections stored."""
    events: int = inbox_row["events"]
    if events:
        row_id = tx.run("accept_into_inbox", inbox_row).lastrowid
        assert row_id is not None
        tx.accepted(row_id, events)
        tx.count("inbox", events)
    insert_rejections(tx, rejections)
    return events


def insert_rejections(tx: Tx, rejections: Sequence[Rejection]) -> None:
    tx.run_many(
        "insert_rejection",
        [
            {
                "write_key": r.write_key,
                "message_id": r.message_id,
                "raw": r.raw,
                "reason": r.reason,
                "received_at": r.received_at,
            }
            for r in rejections
        ],
    )
    tx.count("rejected", len(rejections))


def _seen_messages(tx: Tx, batches: Sequence[_Batch]) -> dict[tuple[str, str], float]:
    """When the batches' message ids were last seen, for those seen within the widest
    of their dedupe windows (each job is then judged by its own batch's window)."""
    by_key: dict[str, list[str]] = {}
    seen_after = float("inf")
    for batch in batches:
        if batch.dedupe_window <= 0:
            continue
        seen_after = min(seen_after, batch.now - batch.dedupe_window)
        for job in batch.jobs:
            if job.message_id is not None:
                by_key.setdefault(job.write_key, []).append(job.message_id)
    return {
        (write_key, message_id): seen_at
        for write_key, message_ids in by_key.items()
        for message_id, seen_at in tx.run(
            "seen_messages",
            {"write_key": write_key, "message_ids": encode(message_ids), "seen_after": seen_after},
        )
    }


def busy_lines(tx: Tx, keys: set[str] | list[str]) -> set[str]:
    """Which of ``keys`` already have an unfinished job."""
    if not keys:
        return set()
    return {row[0] for row in tx.run("busy_lines", {"keys": encode(list(keys))})}
