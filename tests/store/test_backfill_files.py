"""The store's record of backfill job files: what lets a resumed backfill skip uploads."""

from __future__ import annotations

import dataclasses

from sailbridge.store.backfill_files import BackfillFile
from sailbridge.store.base import Store

from .conftest import OpenStore

RECORD = BackfillFile(
    content_hash="ab" * 32,
    kind="update",
    name="0001-update.jsonl",
    size=1234,
    lines=10,
    state="uploading",
    updated_at=1_000.0,
)


async def test_an_unknown_file_has_no_record(store: Store) -> None:
    assert await store.backfill_file("cd" * 32) is None


async def test_a_saved_record_is_read_back_whole(store: Store) -> None:
    await store.save_backfill_file(RECORD)

    assert await store.backfill_file(RECORD.content_hash) == RECORD


async def test_saving_again_replaces_the_state_job_id_and_message(store: Store) -> None:
    await store.save_backfill_file(RECORD)
    done = dataclasses.replace(
        RECORD, state="error", job_id="job-7", message="line 3 is not JSON", updated_at=1_005.5
    )

    await store.save_backfill_file(done)

    assert await store.backfill_file(RECORD.content_hash) == done


async def test_records_survive_reopening_the_store(open_store: OpenStore) -> None:
    first = await open_store()
    await first.save_backfill_file(dataclasses.replace(RECORD, state="completed", job_id="job-1"))
    await first.close()

    second = await open_store()

    found = await second.backfill_file(RECORD.content_hash)
    assert found is not None and (found.state, found.job_id) == ("completed", "job-1")
