"""Many Sailthru accounts in one store: one delivery per account an event's source
feeds, each with its own state, line, memory and pause (both stores)."""

from __future__ import annotations

import msgspec

from sailbridge.mapping.plan import RememberEmail, RememberMerge
from sailbridge.store.base import JobQuery, JobState, ListState, NewJob, Store
from sailbridge.store.memory import AccountMemory

from .helpers import WINDOW, attempt, deliver, jobs_in, new_job

BOTH = ("brand-a", "brand-b")


def fanned(user: str = "u1", accounts: tuple[str, ...] = BOTH, **fields: object) -> NewJob:
    return msgspec.structs.replace(new_job(user, **fields), accounts=accounts)  # type: ignore[arg-type]


async def test_an_event_for_two_accounts_is_two_deliveries(store: Store) -> None:
    result = await store.enqueue([fanned()], [], WINDOW, 1_000.0)

    assert result.accepted == 1
    jobs = [await store.get_job(job_id) for job_id in result.job_ids]
    assert [job.account for job in jobs if job] == ["brand-a", "brand-b"]
    assert {job.message_id for job in jobs if job} == {jobs[0].message_id if jobs[0] else None}
    assert (await store.counts()).pending == 2


async def test_dedupe_stays_per_source_not_per_account(store: Store) -> None:
    job = fanned(message_id="same")
    await store.enqueue([job], [], WINDOW, 1_000.0)

    again = await store.enqueue([job], [], WINDOW, 1_001.0)

    assert (again.accepted, again.duplicates) == (0, 1)
    assert (await store.counts()).pending == 2


async def test_one_user_has_a_line_in_each_account(store: Store) -> None:
    await store.enqueue([fanned(), fanned()], [], WINDOW, 1_000.0)

    claimed = await store.claim("w1", 10, 60.0, 1_000.0)

    # The user's first event in each account; each second event waits in its own line.
    assert sorted(job.account for job in claimed) == ["brand-a", "brand-b"]
    assert all(job.ordering_keys == ("u1",) for job in claimed)
    assert await store.claim("w1", 10, 60.0, 1_000.0) == []


async def test_a_slow_account_does_not_hold_the_other_back(store: Store) -> None:
    await store.enqueue([fanned(), fanned()], [], WINDOW, 1_000.0)
    claimed = await store.claim("w1", 10, 60.0, 1_000.0)
    b_first = next(job for job in claimed if job.account == "brand-b")

    await deliver(store, b_first)  # brand-a's first job still in flight

    [b_second] = await store.claim("w1", 10, 60.0, 1_002.0)
    assert b_second.account == "brand-b"


async def test_claiming_one_account_leaves_the_others(store: Store) -> None:
    await store.enqueue([fanned("u1"), fanned("u2", accounts=("brand-a",))], [], WINDOW, 1_000.0)

    only_b = await store.claim("w1", 10, 60.0, 1_000.0, account="brand-b")
    only_a = await store.claim("w1", 10, 60.0, 1_000.0, account="brand-a")

    assert [(job.account, job.user_key) for job in only_b] == [("brand-b", "u1")]
    assert sorted(job.user_key for job in only_a) == ["u1", "u2"]
    assert all(job.account == "brand-a" for job in only_a)


async def test_a_retry_in_one_account_is_claimed_by_account(store: Store) -> None:
    await store.enqueue([fanned()], [], WINDOW, 1_000.0)
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        await store.retry_at(job.id, 1_010.0, attempt(1_001.0, "retry"), worker="w1")

    assert await store.claim("w1", 10, 60.0, 1_011.0, account="nobody") == []
    [retried] = await store.claim("w1", 10, 60.0, 1_011.0, account="brand-b")
    assert (retried.account, retried.attempts) == ("brand-b", 1)


async def test_dead_letters_and_replay_are_per_delivery(store: Store) -> None:
    await store.enqueue([fanned()], [], WINDOW, 1_000.0)
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        state = JobState.DEAD if job.account == "brand-b" else JobState.DELIVERED
        await store.finish(job.id, state, attempt(1_001.0, state.value), "refused", worker="w1")

    [dead] = await jobs_in(store, JobState.DEAD)
    assert dead.account == "brand-b"
    assert await store.replay([dead.id], None, 1_002.0) == 1
    [again] = await store.claim("w1", 10, 60.0, 1_003.0)
    assert (again.id, again.account) == (dead.id, "brand-b")


async def test_listings_carry_the_account(store: Store) -> None:
    await store.enqueue([fanned()], [], WINDOW, 1_000.0)

    page = await store.find_jobs(JobQuery(state=ListState.PENDING))

    assert sorted(job.account for job in page.items) == ["brand-a", "brand-b"]


async def test_memory_is_per_account(store: Store) -> None:
    a, b = AccountMemory(store, "brand-a"), AccountMemory(store, "brand-b")
    await a.apply([RememberEmail("u1", "ada@a.example"), RememberMerge("anon", "u1")])

    assert await a.email("u1") == "ada@a.example"
    assert await b.email("u1") is None
    assert await a.merged("anon", "u1")
    assert not await b.merged("anon", "u1")
    assert await store.email("u1") is None  # the default account knows nothing either


async def test_forget_in_one_account_keeps_the_other(store: Store) -> None:
    for account in BOTH:
        await AccountMemory(store, account).apply([RememberEmail("u1", f"u1@{account}")])

    forgotten = await store.forget("u1", "brand-a")

    assert forgotten.emails == 1
    assert await store.email("u1", account="brand-a") is None
    assert await store.email("u1", account="brand-b") == "u1@brand-b"


async def test_forget_without_an_account_forgets_in_every_account(store: Store) -> None:
    await store.enqueue([fanned()], [], WINDOW, 1_000.0)  # the store learns both accounts
    for account in (*BOTH, "default"):
        await AccountMemory(store, account).apply([RememberEmail("u1", f"u1@{account}")])
    for job in await store.claim("w1", 10, 60.0, 1_000.0):
        await deliver(store, job)

    forgotten = await store.forget("u1")

    assert (forgotten.user_keys, forgotten.emails, forgotten.jobs) == (("u1",), 3, 2)
    for account in (*BOTH, "default"):
        assert await store.email("u1", account=account) is None


async def test_a_deletion_in_one_account_forgets_only_there(store: Store) -> None:
    from sailbridge.mapping.plan import ForgetUser

    for account in BOTH:
        await AccountMemory(store, account).apply([RememberEmail("u1", "same@x.example")])

    await AccountMemory(store, "brand-b").apply([ForgetUser("u1")])

    assert await store.email("u1", account="brand-a") == "same@x.example"
    assert await store.email("u1", account="brand-b") is None


async def test_pause_is_per_account(store: Store) -> None:
    await store.set_paused("bad credentials", "brand-b")

    assert await store.paused_reason("brand-b") == "bad credentials"
    assert await store.paused_reason("brand-a") is None
    assert await store.paused_reason() is None
    assert await store.paused_accounts() == {"brand-b": "bad credentials"}
    assert (await store.counts()).paused_reason == "brand-b: bad credentials"

    await store.set_paused(None, "brand-b")
    assert await store.paused_accounts() == {}
    assert (await store.counts()).paused_reason is None


async def test_the_default_accounts_pause_reads_as_before(store: Store) -> None:
    await store.set_paused("Sailthru refused the API key")

    assert (await store.counts()).paused_reason == "Sailthru refused the API key"


async def test_send_identities_are_per_account(store: Store) -> None:
    job = new_job(message_id="file-line-1", write_key="sailbridge-send")
    to_a = msgspec.structs.replace(job, accounts=("brand-a",))
    to_b = msgspec.structs.replace(job, accounts=("brand-b",))

    [first] = await store.enqueue_sent([to_a], 1_000.0)
    [other] = await store.enqueue_sent([to_b], 1_000.0)
    [again] = await store.enqueue_sent([to_a], 1_001.0)

    assert first.queued and other.queued and not again.queued
    assert again.job_id == first.job_id


async def test_accepted_events_fan_out_when_sorted(store: Store) -> None:
    await store.accept([fanned("u1"), fanned("u2", accounts=("brand-b",))], [], WINDOW, 1_000.0)

    claimed = await store.claim("w1", 10, 60.0, 1_000.0)

    assert sorted((job.user_key, job.account) for job in claimed) == [
        ("u1", "brand-a"),
        ("u1", "brand-b"),
        ("u2", "brand-b"),
    ]


async def test_send_queues_each_event_for_one_account(store: Store) -> None:
    import pytest

    with pytest.raises(ValueError, match="exactly one account"):
        await store.enqueue_sent([fanned(write_key="sailbridge-send")], 1_000.0)


async def test_backfill_file_records_are_per_account(store: Store) -> None:
    from sailbridge.store.backfill_files import AccountFiles, BackfillFile, FileState

    record = BackfillFile(
        content_hash="abc",
        kind="update",
        name="f.json",
        size=1,
        lines=1,
        state=FileState.COMPLETED,
        updated_at=1.0,
        job_id="job-a",
    )
    await AccountFiles(store, "brand-a").save_backfill_file(record)

    mine = await AccountFiles(store, "brand-a").backfill_file("abc")
    assert mine is not None and (mine.job_id, mine.account) == ("job-a", "brand-a")
    assert mine.content_hash == "abc"
    assert await AccountFiles(store, "brand-b").backfill_file("abc") is None
    assert await store.backfill_file("abc") is None  # the default account's is its own


async def test_a_line_claimed_together_is_one_accounts(store: Store) -> None:
    await store.enqueue([fanned(), fanned(), fanned()], [], WINDOW, 1_000.0)

    [line_b] = await store.claim_groups("w1", 10, 60.0, 1_000.0, 5, account="brand-b")
    [line_a] = await store.claim_groups("w1", 10, 60.0, 1_000.0, 5, account="brand-a")

    assert [(job.account, job.user_key) for job in line_b] == [("brand-b", "u1")] * 3
    assert [(job.account, job.user_key) for job in line_a] == [("brand-a", "u1")] * 3
    assert [job.id for job in line_b] == sorted(job.id for job in line_b)
