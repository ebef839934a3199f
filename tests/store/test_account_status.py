"""Status per account: each account's counts, age and queue mix apart, read from
counters kept per account; the whole store's as the sum (both stores)."""

from __future__ import annotations

import msgspec

from sailbridge.store.base import JobState, NewJob, Rejection, StatusCounts, Store

from .helpers import WINDOW, attempt, new_job

A, B = "brand-a", "brand-b"


def for_accounts(job: NewJob, *accounts: str) -> NewJob:
    return msgspec.structs.replace(job, accounts=accounts)


def states(counts: StatusCounts) -> tuple[int, ...]:
    return (
        counts.pending,
        counts.retrying,
        counts.claimed,
        counts.delivered,
        counts.skipped,
        counts.dead,
    )


async def settle_one_of_each(store: Store, account: str) -> None:
    """Of ``account``'s claimed jobs: one delivered, one skipped, one dead, one retrying."""
    jobs = await store.claim("w1", 4, 60.0, 1_000.0, account=account)
    outcomes = [JobState.DELIVERED, JobState.SKIPPED, JobState.DEAD]
    for job, state in zip(jobs, outcomes, strict=False):
        await store.finish(job.id, state, attempt(1_001.0, state.value), "why", worker="w1")
    await store.retry_at(jobs[3].id, 1_100.0, attempt(1_001.0, "retry"), worker="w1")


async def test_each_account_counts_only_its_own_jobs(store: Store) -> None:
    both = [for_accounts(new_job(f"u{n}"), A, B) for n in range(6)]
    only_a = [for_accounts(new_job(f"a{n}"), A) for n in range(3)]
    await store.enqueue([*both, *only_a], [], WINDOW, 1_000.0)
    await settle_one_of_each(store, A)
    [held] = await store.claim("w1", 1, 60.0, 1_000.0, account=B)

    a, b, whole = await store.counts(A), await store.counts(B), await store.counts()

    assert states(a) == (5, 1, 0, 1, 1, 1)
    assert states(b) == (5, 0, 1, 0, 0, 0)
    assert states(whole) == tuple(x + y for x, y in zip(states(a), states(b), strict=True))
    assert held.account == B


async def test_an_unknown_account_counts_nothing(store: Store) -> None:
    await store.enqueue([for_accounts(new_job(), A)], [], WINDOW, 1_000.0)

    counts = await store.counts("nobody")

    assert states(counts) == (0, 0, 0, 0, 0, 0)
    assert counts.oldest_pending_at is None


async def test_the_default_accounts_counts_leave_the_others_out(store: Store) -> None:
    await store.enqueue([new_job("u1"), for_accounts(new_job("u2"), A)], [], WINDOW, 1_000.0)

    assert (await store.counts("default")).pending == 1
    assert (await store.counts()).pending == 2


async def test_replay_purge_and_dead_letters_move_the_accounts_own_counts(store: Store) -> None:
    await store.enqueue(
        [for_accounts(new_job(f"u{n}"), A, B) for n in range(2)], [], WINDOW, 1_000.0
    )
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        await store.finish(job.id, JobState.DEAD, attempt(1_001.0, "dead"), "refused", worker="w1")
    assert ((await store.counts(A)).dead, (await store.counts(B)).dead) == (2, 2)

    replayed = await store.replay(None, None, 1_002.0)
    assert replayed == 4
    assert ((await store.counts(A)).pending, (await store.counts(B)).pending) == (2, 2)

    for job in await store.claim("w1", 10, 60.0, 1_003.0, account=B):
        await store.finish(job.id, JobState.DEAD, attempt(1_004.0, "dead"), "again", worker="w1")
    assert await store.purge_dead(reason_contains="again") == 2
    b = await store.counts(B)
    assert (b.pending, b.dead) == (0, 0)
    assert (await store.counts(A)).pending == 2

    for job in await store.claim("w1", 10, 60.0, 1_005.0, account=A):
        await store.finish(job.id, JobState.DEAD, attempt(1_006.0, "dead"), "old", worker="w1")
    assert await store.purge_dead(older_than=1_000_000.0) == 2
    assert states(await store.counts(A)) == (0, 0, 0, 0, 0, 0)
    assert (await store.counts()).dead == 0


async def test_a_release_returns_the_job_to_its_accounts_pending(store: Store) -> None:
    await store.enqueue([for_accounts(new_job(), B)], [], WINDOW, 1_000.0)
    [job] = await store.claim("w1", 1, 60.0, 1_000.0)
    assert (await store.counts(B)).claimed == 1

    await store.release(job.id, 1_000.0, worker="w1")

    counts = await store.counts(B)
    assert (counts.pending, counts.claimed) == (1, 0)


async def test_lines_claimed_together_count_in_their_account(store: Store) -> None:
    await store.enqueue([for_accounts(new_job("u1"), A) for _ in range(3)], [], WINDOW, 1_000.0)

    [line] = await store.claim_groups("w1", 1, 60.0, 1_000.0, size=3)

    assert len(line) == 3
    assert ((await store.counts(A)).claimed, (await store.counts(A)).pending) == (3, 0)


async def test_forgetting_a_dead_job_leaves_its_accounts_dead_count(store: Store) -> None:
    await store.enqueue([for_accounts(new_job("u1"), A, B)], [], WINDOW, 1_000.0)
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        await store.finish(job.id, JobState.DEAD, attempt(1_001.0, "dead"), "refused", worker="w1")

    await store.forget("u1", B)

    assert ((await store.counts(A)).dead, (await store.counts(B)).dead) == (1, 0)


async def test_an_accounts_age_is_its_oldest_unfinished_job(store: Store) -> None:
    await store.enqueue(
        [
            for_accounts(new_job("u1", received_at=300.0), A),
            for_accounts(new_job("u2", received_at=500.0), B),
            for_accounts(new_job("u3", received_at=400.0), B),
        ],
        [],
        WINDOW,
        1_000.0,
    )

    assert (await store.counts(A)).oldest_pending_at == 300.0
    assert (await store.counts(B)).oldest_pending_at == 400.0
    assert (await store.counts()).oldest_pending_at == 300.0


async def test_ingests_counts_are_the_stores_in_every_view(store: Store) -> None:
    job = for_accounts(new_job(message_id="same"), A, B)
    await store.enqueue([job, job], [Rejection("wk", None, "{}", "bad", 900.0)], WINDOW, 1_000.0)

    for account in (A, B, None):
        counts = await store.counts(account)
        assert (counts.rejected, counts.deduplicated) == (1, 1)


async def test_an_accounts_pause_is_its_own(store: Store) -> None:
    await store.set_paused("bad key", B)

    assert (await store.counts(B)).paused_reason == "bad key"
    assert (await store.counts(A)).paused_reason is None
    assert (await store.counts()).paused_reason == "brand-b: bad key"


async def test_queued_kinds_of_one_account(store: Store) -> None:
    track = {"type": "track", "userId": "u1", "event": "Product Added"}
    await store.enqueue(
        [
            for_accounts(new_job("u1", event=track), A, B),
            for_accounts(new_job("u2", event_type="identify", event={"type": "identify"}), B),
        ],
        [],
        WINDOW,
        1_000.0,
    )

    assert (await store.queued_kinds(account=A)).kinds == {("track", "Product Added"): 1}
    assert (await store.queued_kinds(account=B)).kinds == {
        ("track", "Product Added"): 1,
        ("identify", None): 1,
    }
    assert (await store.queued_kinds()).sampled == 3
    assert (await store.queued_kinds(limit=1, account=B)).sampled == 1
