"""Schema migrations, and data outliving the store instance that wrote it."""

from __future__ import annotations

from sailbridge.mapping.plan import RememberEmail
from sailbridge.store.base import JobState, Store

from .conftest import OpenStore
from .helpers import WINDOW, claim_all, enqueue, new_job


async def test_migrate_is_idempotent_and_reports_the_version(store: Store) -> None:
    first = await store.migrate()

    assert first >= 1
    assert await store.migrate() == first


async def test_committed_data_is_visible_to_a_fresh_store(
    store: Store, open_store: OpenStore
) -> None:
    [job_id] = await enqueue(store, new_job("u1", message_id="m1"))
    await store.set_paused("maintenance")
    await store.apply([RememberEmail("u1", "a@example.com")])

    fresh = await open_store()

    job = await fresh.get_job(job_id)
    assert job is not None and job.state is JobState.PENDING
    assert await fresh.paused_reason() == "maintenance"
    assert await fresh.email("u1") == "a@example.com"
    assert (await fresh.counts()).pending == 1
    duplicate = await fresh.enqueue([new_job("u1", message_id="m1")], [], WINDOW, 1_001.0)
    assert duplicate.duplicates == 1


async def test_a_lease_taken_by_one_store_is_respected_by_another(
    store: Store, open_store: OpenStore
) -> None:
    await enqueue(store, new_job("u1"), new_job("u1"), new_job("u2"))
    [held] = await store.claim("w1", 1, 60.0, 1_000.0)
    other = await open_store()

    claimed = await claim_all(other, worker="w2")

    assert held.user_key == "u1"
    assert [job.user_key for job in claimed] == ["u2"]
