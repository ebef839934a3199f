"""SQLite: after forgetting a person, their email and id are nowhere in the files.

Rows deleted or updated earlier (the sorted inbox row, old versions of the job row,
the lines) leave bytes in free space and in the WAL's old frames; secure delete and
the WAL checkpoint after a forget are what make the bytes go (issue 8).
"""

from __future__ import annotations

from pathlib import Path

from sailbridge.mapping.plan import ForgetUser, RememberCart, RememberEmail, RememberMerge
from sailbridge.store.base import JobState, Rejection
from sailbridge.store.sqlite import SqliteStore

from .helpers import WINDOW, FakeClock, attempt, new_job

USER = "user-zq81x"
ANONYMOUS = "anon-7hq2p"
EMAIL = "forget.me.kx3@example.com"


def files_holding(folder: Path, *needles: str) -> dict[str, list[str]]:
    """For each SQLite file in ``folder`` (database, WAL, shared memory), the needles
    found in its bytes (plain, and as UTF-16 in case a page kept them that way)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes().lower()
        hits = [
            needle
            for needle in needles
            if needle.lower().encode() in data or needle.lower().encode("utf-16-le") in data
        ]
        if hits:
            found[path.name] = hits
    return found


async def test_the_files_no_longer_hold_the_email_or_the_id(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    store = await SqliteStore.open(folder / "s.db", FakeClock(1_000.0))
    try:
        profile = {
            "type": "identify",
            "userId": USER,
            "anonymousId": ANONYMOUS,
            "traits": {"email": EMAIL, "name": "Ada", "notes": f"{EMAIL} " * 100},
        }
        # Through the inbox (ingest's path: one row of 40 events, big enough to spill
        # into overflow pages, which are freed when the row is sorted) and through
        # enqueue; delivered, and one dead.
        await store.accept(
            [
                new_job(USER, keys=(USER, ANONYMOUS), event=profile, message_id=f"m-1-{n}")
                for n in range(40)
            ],
            [],
            WINDOW,
            1_000.0,
        )
        for _ in range(40):
            [job] = await store.claim("w1", 10, 60.0, 1_000.0)
            await store.finish(job.id, JobState.DELIVERED, attempt(1_001.0), worker="w1")
        await store.enqueue(
            [
                new_job(
                    USER,
                    event={
                        "type": "track",
                        "userId": USER,
                        "event": "Order Completed",
                        "properties": {"email": EMAIL},
                    },
                    message_id="m-2",
                )
            ],
            [Rejection("wk", None, f'{{"userId":"{USER}"', "bad", 1_000.0)],
            WINDOW,
            1_000.0,
        )
        for state in (JobState.DEAD,):
            [job] = await store.claim("w1", 10, 60.0, 1_000.0)
            await store.finish(
                job.id,
                state,
                attempt(
                    1_001.0, requests=[{"method": "POST", "params": {"id": USER, "email": EMAIL}}]
                ),
                "a reason",
                worker="w1",
            )
        await store.apply(
            [
                RememberEmail(USER, EMAIL),
                RememberMerge(ANONYMOUS, USER),
                RememberCart(USER, ({"id": "mug", "title": f"for {EMAIL}"},)),
            ]
        )
        await store.enqueue(
            [
                new_job(
                    USER,
                    event={"type": "track", "userId": USER, "event": "User Deleted"},
                    message_id="m-3",
                )
            ],
            [],
            WINDOW,
            1_000.0,
        )
        [deletion] = await store.claim("w1", 10, 60.0, 1_000.0)
        assert files_holding(folder, EMAIL, USER), "the test must start with the data present"

        await store.apply([ForgetUser(USER)])
        await store.finish(
            deletion.id,
            JobState.DELIVERED,
            attempt(
                1_002.0, requests=[{"method": "DELETE", "params": {"id": USER, "key": "extid"}}]
            ),
            worker="w1",
        )

        assert files_holding(folder, EMAIL, USER, ANONYMOUS) == {}
        counts = await store.counts()
        assert (counts.delivered, counts.dead, counts.rejected, counts.pending) == (41, 0, 0, 0)
    finally:
        await store.close()
    assert files_holding(folder, EMAIL, USER, ANONYMOUS) == {}
