"""What happens to jobs once queued in SQLite: claimed, settled, replayed, purged.

Runs on the writer thread (`sailbridge.store.sqlite.writer`), each request inside the
group transaction and a savepoint. Claiming reads only line heads (jobs whose
``blockers`` count is zero); finishing and replaying keep those counts and the lines
(``job_keys``) in step, so a claim costs about ``limit`` index entries however many
jobs wait behind busy users.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sailbridge.store.accounts import line_key, ordering_key
from sailbridge.store.base import Attempt, Job, JobState, may_follow
from sailbridge.store.errors import JobNotClaimed
from sailbridge.store.sqlite.intake import busy_lines
from sailbridge.store.sqlite.memory import forget_finished_job
from sailbridge.store.sqlite.rows import Row, encode, job_from_row, keys_decoder
from sailbridge.store.sqlite.transaction import Tx


def claim(
    tx: Tx, worker: str, limit: int, lease: float, now: float, account: str | None = None
) -> list[Job]:
    """The oldest ``limit`` ready jobs (of ``account`` only, from its own indexes)."""
    window = {"now": now, "limit": limit, "account": account}
    within = "" if account is None else "_in"
    expired = {row[0] for row in tx.run(f"claimable_expired{within}", window)}
    ready = [row[0] for row in tx.run(f"claimable_new{within}", window)]
    ready += [row[0] for row in tx.run(f"claimable_retry{within}", window)]
    chosen = sorted(expired.union(ready))[:limit]
    if not chosen:
        return []
    rows = tx.run(
        "lease_jobs",
        {"ids": encode(chosen), "worker": worker, "lease_until": now + lease, "now": now},
    ).fetchall()
    jobs = sorted((job_from_row(row) for row in rows), key=lambda job: job.id)
    for job in jobs:
        if job.id not in expired:
            tx.count("retrying" if job.attempts else "pending", -1, job.account)
            tx.count("claimed", 1, job.account)
    return jobs


def claim_groups(
    tx: Tx, worker: str, limit: int, lease: float, now: float, size: int, account: str | None = None
) -> list[list[Job]]:
    """`claim`, each head with the user's consecutive ready jobs behind it (at most
    ``size`` jobs a line, the line of its account), leased with it."""
    heads = claim(tx, worker, limit, lease, now, account)
    lines = []
    for head in heads:
        behind = _ready_behind(tx, head, size, now)
        followers: list[Job] = []
        if behind:
            rows = tx.run(
                "lease_jobs",
                {"ids": encode(behind), "worker": worker, "lease_until": now + lease, "now": now},
            ).fetchall()
            followers = sorted(
                (job_from_row(row) for row in rows), key=lambda job: behind.index(job.id)
            )
            for job in followers:
                tx.count("retrying" if job.attempts else "pending", -1, job.account)
                tx.count("claimed", 1, job.account)
        lines.append([head, *followers])
    return lines


def _ready_behind(tx: Tx, head: Job, size: int, now: float) -> list[int]:
    """The ids right behind ``head`` in its user's line that may go with it, in line
    order: stops at the first that is not pending and due, or is in another line too."""
    rows = tx.run(
        "line_behind", {"key": line_key(head.account, head.user_key), "limit": size}
    ).fetchall()
    if not rows or rows[0][0] != head.id:
        return []
    ready = []
    for job_id, state, available_at, keys, user_key in rows[1:]:
        plain = [ordering_key(key) for key in keys_decoder.decode(keys)]
        if not may_follow(head, state, available_at, plain, user_key, now):
            break
        ready.append(job_id)
    return ready


class _Lease(NamedTuple):
    attempts: int
    keys: list[str]
    pos: int
    account: str


def _lease_of(tx: Tx, job_id: int, worker: str) -> _Lease:
    """What settling a job ``worker`` holds needs to know of it."""
    rows = tx.run("job_lease", {"id": job_id}).fetchall()
    if not rows:
        raise JobNotClaimed(job_id, worker, None, None)
    state, owner, attempts, keys, pos, account = rows[0]
    if state != JobState.CLAIMED or owner != worker:
        raise JobNotClaimed(job_id, worker, state, owner)
    return _Lease(attempts, keys_decoder.decode(keys), pos, account)


def _append_attempt(tx: Tx, job_id: int, attempt: Attempt) -> None:
    tx.run("append_attempt", {"job_id": job_id, "attempt": encode(attempt)})


def finish(
    tx: Tx, job_id: int, state: JobState, attempt: Attempt, reason: str | None, worker: str
) -> None:
    lease = _lease_of(tx, job_id, worker)
    _append_attempt(tx, job_id, attempt)
    tx.run(
        "finish_job",
        {"id": job_id, "state": state.value, "reason": reason, "attempt_at": attempt.at},
    )
    for key in lease.keys:
        tx.run("leave_line", {"key": key, "pos": lease.pos})
        tx.run("unblock_next", {"key": key})
    tx.count("claimed", -1, lease.account)
    tx.count(state.value, 1, lease.account)
    if forget_finished_job(tx.db, job_id):
        # The deletion of a forgotten person: it goes too, once finished (counted).
        tx.truncate_wal = True


def retry_at(tx: Tx, job_id: int, at: float, attempt: Attempt, worker: str) -> None:
    account = _lease_of(tx, job_id, worker).account
    _append_attempt(tx, job_id, attempt)
    tx.run("schedule_retry", {"id": job_id, "at": at, "attempt_at": attempt.at})
    tx.count("claimed", -1, account)
    tx.count("retrying", 1, account)


def release(tx: Tx, job_id: int, at: float, worker: str, now: float) -> None:
    lease = _lease_of(tx, job_id, worker)
    tx.run("release_job", {"id": job_id, "at": at, "now": now})
    tx.count("claimed", -1, lease.account)
    tx.count("retrying" if lease.attempts else "pending", 1, lease.account)


def _dead_chosen(tx: Tx, job_ids: Sequence[int] | None, reason_contains: str | None) -> list[Row]:
    """``(id, ordering keys, account)`` of the dead jobs chosen by ids and/or reason, by id."""
    if job_ids is not None and not job_ids:
        return []
    if job_ids is None:
        return tx.run("dead_by_reason", {"reason": reason_contains}).fetchall()
    return tx.run(
        "dead_by_ids", {"ids": encode(list(job_ids)), "reason": reason_contains}
    ).fetchall()


def purge_chosen(tx: Tx, job_ids: Sequence[int] | None, reason_contains: str | None) -> int:
    rows = _dead_chosen(tx, job_ids, reason_contains)
    ids = encode([row[0] for row in rows])
    tx.run("purge_attempts_of", {"ids": ids})
    deleted: int = tx.run("purge_jobs_of", {"ids": ids}).rowcount
    for _job_id, _keys, account in rows:  # chosen dead in this transaction: all deleted
        tx.count("dead", -1, account)
    return deleted


def replay(tx: Tx, job_ids: Sequence[int] | None, reason_contains: str | None, now: float) -> int:
    rows = _dead_chosen(tx, job_ids, reason_contains)
    if not rows:
        return 0
    last = tx.run("reserve_positions", {"n": len(rows)}).fetchall()[0][0]
    for pos, (job_id, keys_json, account) in enumerate(rows, start=last - len(rows) + 1):
        keys = keys_decoder.decode(keys_json)
        tx.run(
            "requeue_job",
            {"id": job_id, "pos": pos, "blockers": len(busy_lines(tx, keys)), "now": now},
        )
        for key in keys:
            tx.run("join_line", (key, pos, job_id))
        tx.count("dead", -1, account)
        tx.count("pending", 1, account)
    return len(rows)


def purge_dead(tx: Tx, older_than: float) -> int:
    before = {"before": older_than}
    tx.run("purge_dead_attempts", before)
    accounts = [row[0] for row in tx.run("purge_dead_jobs", before).fetchall()]
    rejections: int = tx.run("purge_rejections", before).rowcount
    for account in accounts:
        tx.count("dead", -1, account)
    tx.count("rejected", -rejections)
    return len(accounts)


def purge_finished(tx: Tx, older_than: float, limit: int) -> int:
    """Delete up to ``limit`` finished jobs (with their history) from before ``older_than``."""
    params = {"before": older_than, "limit": limit}
    tx.run("purge_finished_attempts", params)
    deleted: int = tx.run("purge_finished_jobs", params).rowcount
    return deleted
