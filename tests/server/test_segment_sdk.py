"""Segment's own Python SDK, pointed at sailbridge, gets every call type stored durably."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from segment.analytics import Client

from sailbridge.store.base import Job

from .live import WRITE_KEY, LiveServer

WHEN = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)


def sdk(server: LiveServer, **options: object) -> Client:
    return Client(WRITE_KEY, host=server.url, sync_mode=True, **options)


def only_job(server: LiveServer) -> Job:
    [job] = server.jobs()
    return job


def test_identify_is_stored_with_the_anonymous_id_it_merges_as_an_ordering_key(
    server: LiveServer,
) -> None:
    sdk(server).identify(
        "user-1",
        {"email": "a@example.com"},
        anonymous_id="anon-1",
        message_id="m-identify",
        timestamp=WHEN,
    )
    job = only_job(server)
    assert job.event_type == "identify"
    assert job.user_key == "user-1"
    assert job.ordering_keys == ("user-1", "anon-1")
    assert job.message_id == "m-identify"
    assert job.write_key == WRITE_KEY
    assert job.event["traits"] == {"email": "a@example.com"}


def test_track_keeps_its_event_name_inside_the_event(server: LiveServer) -> None:
    sdk(server).track("user-1", "Order Completed", {"order_id": "o1"}, timestamp=WHEN)
    job = only_job(server)
    assert job.event_type == "track"
    assert job.event["event"] == "Order Completed"
    assert job.event["properties"] == {"order_id": "o1"}
    assert job.ordering_keys == ("user-1",)


def test_alias_waits_behind_the_previous_id(server: LiveServer) -> None:
    sdk(server).alias("anon-9", "user-9", timestamp=WHEN)
    job = only_job(server)
    assert job.event_type == "alias"
    assert job.event["previousId"] == "anon-9"
    assert job.ordering_keys == ("user-9", "anon-9")


@pytest.mark.parametrize("call", ["page", "screen", "group"])
def test_page_screen_and_group_are_stored_under_the_user_key(server: LiveServer, call: str) -> None:
    client = sdk(server)
    if call == "group":
        client.group(anonymous_id="anon-2", group_id="g1", timestamp=WHEN)
    else:
        getattr(client, call)(
            anonymous_id="anon-2",
            name="Home",
            properties={"url": "https://shop.example/"},
            timestamp=WHEN,
        )
    job = only_job(server)
    assert job.event_type == call
    assert job.user_key == "anon-2"
    assert job.ordering_keys == ("anon-2",)


def test_the_sdk_timestamp_is_kept_and_received_at_is_stamped(server: LiveServer) -> None:
    sdk(server).track("user-1", "Viewed", timestamp=WHEN)
    event = only_job(server).event
    assert event["timestamp"] == "2024-05-01T12:30:15.250+00:00"
    received = datetime.fromisoformat(event["receivedAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - received).total_seconds()) < 30
    assert event["context"]["library"]["name"] == "analytics-python"


def test_gzip_batches_from_the_sdk_are_accepted(server: LiveServer) -> None:
    sdk(server, gzip=True).track("user-1", "Zipped", {"n": 1}, timestamp=WHEN)
    assert only_job(server).event["event"] == "Zipped"


def test_background_uploads_of_many_events_all_arrive(server: LiveServer) -> None:
    client = Client(WRITE_KEY, host=server.url, upload_size=100, upload_interval=0.05)
    for n in range(250):
        client.track(f"user-{n % 7}", "Counted", {"n": n}, message_id=f"m-{n}")
    client.flush()
    client.join()
    jobs = server.jobs()
    assert sorted(job.event["properties"]["n"] for job in jobs) == list(range(250))
