"""Transactions of the PostgreSQL queue: enqueue, send, forget, replay, purge, memory.

Each runs inside the caller's transaction (`Database.in_transaction`). Everything
that changes a line locks the ``lines`` rows of its keys first, in sorted order, and
counters are changed last (`add_to_counts`): one lock order for every node, so nodes
never deadlock (see ``queries.sql``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sailbridge.mapping.plan import (
    ForgetUser,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
)
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.accounts import count_name, line_keys, ordering_key
from sailbridge.store.base import EnqueueResult, Job, NewJob, Rejection, may_follow
from sailbridge.store.errors import JobNotClaimed
from sailbridge.store.memory import Forgotten, linked_ids, merge_forgotten
from sailbridge.store.postgres.connection import QUERIES
from sailbridge.store.postgres.database import Conn, Row
from sailbridge.store.postgres.rows import json_param
from sailbridge.store.send_plan import SentJob, plan_send

COUNTER_SHARDS = 16
"""Rows per counter; a statement updates one at random, so writers rarely queue."""


async def enqueue(
    conn: Conn,
    jobs: Sequence[NewJob],
    rejections: Sequence[Rejection],
    dedupe_window: float,
    now: float,
) -> EnqueueResult:
    """One batch in three statements whatever its size (dedupe, lines, jobs), each
    taking the batch as one JSON document."""
    dedupe = dedupe_window > 0
    kept: list[NewJob] = []
    messages: set[tuple[str, str]] = set()
    for job in jobs:
        if dedupe and job.message_id is not None:
            message = (job.write_key, job.message_id)
            if message in messages:
                continue  # a duplicate inside this batch: the first one counts
            messages.add(message)
        kept.append(job)
    if messages:
        ordered = sorted(messages)  # one lock order for every node
        cursor = await conn.execute(
            QUERIES["remember_messages"],
            {
                "messages": json_param([{"w": w, "m": m} for w, m in ordered]),
                "now": now,
                "seen_after": now - dedupe_window,
            },
        )
        fresh = {(w, m) for w, m in await cursor.fetchall()}
        kept = [
            job
            for job in kept
            if job.message_id is None or (job.write_key, job.message_id) in fresh
        ]

    if rejections:
        await conn.execute(
            QUERIES["insert_rejections"],
            {
                "rejections": json_param(
                    [
                        {
                            "write_key": r.write_key,
                            "message_id": r.message_id,
                            "raw": r.raw,
                            "reason": r.reason,
                            "received_at": r.received_at,
                        }
                        for r in rejections
                    ]
                )
            },
        )
    # One delivery per account the event's source feeds, each in its account's lines.
    deliveries = [
        (job, account, line_keys(account, job.ordering_keys))
        for job in kept
        for account in job.accounts
    ]
    counted = Counter(count_name(account, "pending") for _job, account, _keys in deliveries)
    counted.update({"rejected": len(rejections), "deduplicated": len(jobs) - len(kept)})
    deltas = dict(+counted)  # only the counters that change
    if not kept:
        await add_to_counts(conn, deltas)
        return EnqueueResult(0, len(jobs), len(rejections))
    accounts = sorted({account for _job, account, _keys in deliveries})
    if accounts != [DEFAULT_ACCOUNT]:
        await conn.execute(QUERIES["add_accounts"], {"names": json_param(accounts)})
    await _lock_lines(conn, sorted({key for _job, _account, keys in deliveries for key in keys}))
    cursor = await conn.execute(
        QUERIES["enqueue_jobs"],
        {
            "jobs": json_param(
                [
                    {
                        "write_key": job.write_key,
                        "message_id": job.message_id,
                        "event": job.event,
                        "event_type": job.event_type,
                        "user_key": job.user_key,
                        "ordering_keys": keys,
                        "received_at": job.received_at,
                        "account": account,
                    }
                    for job, account, keys in deliveries
                ]
            ),
            "now": now,
            "deltas": json_param(deltas),
            "shard": shard(),
        },
    )
    ids = tuple(row[0] for row in await cursor.fetchall())
    return EnqueueResult(len(kept), len(jobs) - len(kept), len(rejections), ids)


SEND_LOCK = 0x5A11B81D6E5E0D
"""The advisory lock that makes `enqueue_sent` one step (see ``lock_sends``)."""


async def enqueue_sent(
    conn: Conn, jobs: Sequence[NewJob], now: float, force: bool
) -> list[SentJob]:
    """`Store.enqueue_sent` in one transaction: look the identities up, queue the rest."""
    await conn.execute(QUERIES["lock_sends"], {"lock": SEND_LOCK})
    known: dict[str, int] = {}
    for account in set() if force else {job.accounts[0] for job in jobs}:
        cursor = await conn.execute(
            QUERIES["sent_jobs"],
            {
                "account": account,
                "ids": json_param([job.message_id for job in jobs if job.accounts[0] == account]),
            },
        )
        known.update({message_id: job_id for message_id, job_id in await cursor.fetchall()})
    plan = plan_send(jobs, known)
    ids = (await enqueue(conn, plan.fresh, [], 0.0, now)).job_ids if plan.fresh else ()
    return plan.results(ids)


async def forget(conn: Conn, user_key: str, account: str | None) -> Forgotten:
    """`Store.forget` inside the caller's transaction, in ``account`` or in every
    account this store has queued for."""
    if account is None:
        cursor = await conn.execute(QUERIES["known_accounts"])
        accounts = [row[0] for row in await cursor.fetchall()]
    else:
        accounts = [account]
    parts = [await _forget_in(conn, user_key, name) for name in accounts]
    forgotten = merge_forgotten(user_key, [part for part, _dead in parts])
    deltas = {
        count_name(name, "dead"): -dead for name, (_part, dead) in zip(accounts, parts, strict=True)
    }
    await add_to_counts(conn, {**deltas, "rejected": -forgotten.rejections})
    return forgotten


async def _forget_in(conn: Conn, user_key: str, account: str) -> tuple[Forgotten, int]:
    """`forget` in one account: what it removed, and how many of its jobs were dead
    (the caller changes the counters once, last)."""
    cursor = await conn.execute(
        QUERIES["merges_touching"], {"account": account, "keys": json_param([user_key])}
    )
    keys = linked_ids(await cursor.fetchall(), user_key)
    keys_json = json_param(list(keys))
    lines_json = json_param(line_keys(account, keys))
    cursor = await conn.execute(QUERIES["emails_of"], {"account": account, "keys": keys_json})
    emails = [row[0] for row in await cursor.fetchall()]
    lists = {
        "account": account,
        "keys": keys_json,
        "line_keys": lines_json,
        "emails": json_param(emails),
    }
    await conn.execute(QUERIES["forget_memory"], lists)
    cursor = await conn.execute(QUERIES["forget_finished_jobs"], lists)
    states = [row[0] for row in await cursor.fetchall()]
    cursor = await conn.execute(
        QUERIES["forget_rejections"], {"needles": json_param([f'"{key}"' for key in keys] + emails)}
    )
    rejections = cursor.rowcount
    await conn.execute(QUERIES["forget_empty_lines_of"], {"line_keys": lines_json})
    await conn.execute(QUERIES["mark_claimed_jobs"], {"line_keys": lines_json})
    return Forgotten(keys, len(emails), len(states), rejections), states.count("dead")


async def replay(
    conn: Conn, job_ids: Sequence[int] | None, reason_contains: str | None, now: float
) -> int:
    """Dead jobs back to the back of their lines, as new arrivals would be."""
    rows = await _dead_chosen(conn, job_ids, reason_contains)
    if not rows:
        return 0
    keys = sorted({key for _id, job_keys, _account in rows for key in job_keys})
    await _lock_lines(conn, keys)
    busy = await _busy_lines(conn, keys)
    positions = await _next_ids(conn, len(rows))
    requeued: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for (job_id, job_keys, _account), pos in zip(rows, positions, strict=True):
        unique = list(dict.fromkeys(job_keys))
        requeued.append({"id": job_id, "pos": pos, "blockers": sum(key in busy for key in unique)})
        for key in unique:
            lines.append({"key": key, "pos": pos, "job_id": job_id})
            busy.add(key)
    await conn.execute(QUERIES["requeue_jobs"], {"jobs": json_param(requeued), "now": now})
    await conn.execute(QUERIES["join_lines"], {"lines": json_param(lines)})
    await add_to_counts(conn, dead_moved(rows, "pending"))
    return len(rows)


def dead_moved(rows: Sequence[Row], to: str | None) -> Counter[str]:
    """The counter changes of the dead jobs ``rows`` (``(id, keys, account)``) leaving
    their accounts' dead, for ``to`` (``None``: deleted)."""
    deltas: Counter[str] = Counter()
    for _id, _keys, account in rows:
        deltas[count_name(account, "dead")] -= 1
        if to is not None:
            deltas[count_name(account, to)] += 1
    return deltas


async def _dead_chosen(
    conn: Conn, job_ids: Sequence[int] | None, reason_contains: str | None
) -> list[Row]:
    """``(id, ordering keys, account)`` of the dead jobs chosen by ids and/or reason, by id,
    locked until the transaction ends."""
    if job_ids is None:
        cursor = await conn.execute(QUERIES["dead_by_reason"], {"reason": reason_contains})
    else:
        cursor = await conn.execute(
            QUERIES["dead_by_ids"], {"ids": json_param(list(job_ids)), "reason": reason_contains}
        )
    return await cursor.fetchall()


async def _lock_lines(conn: Conn, keys: list[str]) -> None:
    """Lock the lines of ``keys`` (sorted, distinct) until the transaction ends."""
    if keys:
        await conn.execute(QUERIES["lock_lines"], {"keys": json_param(keys)})


async def _busy_lines(conn: Conn, keys: list[str]) -> set[str]:
    """Which of ``keys`` already have an unfinished job (their lines must be locked)."""
    if not keys:
        return set()
    cursor = await conn.execute(QUERIES["busy_lines"], {"keys": json_param(keys)})
    return {row[0] for row in await cursor.fetchall()}


async def _next_ids(conn: Conn, n: int) -> list[int]:
    cursor = await conn.execute(QUERIES["next_ids"], {"n": n})
    return sorted(row[0] for row in await cursor.fetchall())


async def add_to_counts(conn: Conn, deltas: Mapping[str, int]) -> None:
    """Counter changes; the last statement of a transaction (see the lock order)."""
    changes = {name: delta for name, delta in deltas.items() if delta}
    if changes:
        await conn.execute(
            QUERIES["add_to_counts"], {"deltas": json_param(changes), "shard": shard()}
        )


def ready_behind(heads: Sequence[Job], rows: Sequence[Row], now: float) -> dict[int, list[int]]:
    """Per head, the ids right behind it in its user's line that may go with it
    (`may_follow`), from ``line_behind``'s rows; a line whose first row is not its head
    gives none."""
    by_id = {head.id: head for head in heads}
    lines: dict[int, list[Row]] = {}
    for row in rows:
        lines.setdefault(row[0], []).append(row)
    ready: dict[int, list[int]] = {}
    for head_id, line in lines.items():
        head = by_id[head_id]
        if line[0][1] != head_id:
            continue
        chosen = ready[head_id] = []
        for _, job_id, state, available_at, keys, user_key in line[1:]:
            plain = [ordering_key(key) for key in keys]
            if not may_follow(head, state, available_at, plain, user_key, now):
                break
            chosen.append(job_id)
    return ready


async def not_claimed(conn: Conn, job_id: int, worker: str) -> JobNotClaimed:
    cursor = await conn.execute(QUERIES["job_owner"], {"id": job_id})
    row = await cursor.fetchone()
    if row is None:
        return JobNotClaimed(job_id, worker, None, None)
    return JobNotClaimed(job_id, worker, row[0], row[1])


def shard() -> int:
    """The counter row a statement updates (see `COUNTER_SHARDS`)."""
    return random.randrange(COUNTER_SHARDS)


async def purge_chosen(
    conn: Conn, job_ids: Sequence[int] | None, reason_contains: str | None
) -> int:
    """Delete the dead jobs chosen by ids and/or reason; how many."""
    rows = await _dead_chosen(conn, job_ids, reason_contains)
    if not rows:
        return 0
    deleted = (
        await conn.execute(QUERIES["purge_jobs_of"], {"ids": json_param([row[0] for row in rows])})
    ).rowcount  # the rows are locked and dead: every one of them
    await add_to_counts(conn, dead_moved(rows, None))
    return deleted


async def apply_updates(
    conn: Conn, account: str, updates: Sequence[MemoryUpdate], now: float
) -> None:
    """`Memory.apply` in ``account``'s memory, inside the caller's transaction."""
    for update in updates:
        match update:
            case ForgetUser(user_key):
                await forget(conn, user_key, account)
            case RememberEmail(user_key, email):
                await conn.execute(
                    QUERIES["memory_remember_email"],
                    {"account": account, "user_key": user_key, "email": email, "now": now},
                )
            case RememberCart(user_id, items):
                await conn.execute(
                    QUERIES["memory_remember_cart"],
                    {
                        "account": account,
                        "user_id": user_id,
                        "items": json_param(list(items)),
                        "now": now,
                    },
                )
            case RememberMerge(anonymous_id, user_id):
                await conn.execute(
                    QUERIES["memory_remember_merge"],
                    {
                        "account": account,
                        "anonymous_id": anonymous_id,
                        "user_id": user_id,
                        "now": now,
                    },
                )
