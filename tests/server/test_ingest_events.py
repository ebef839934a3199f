"""Events inside a request: validation, rejections with reasons, merging, timestamps, dedupe."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import requests
from starlette.applications import Starlette

from .conftest import Serve
from .live import OTHER_KEY, WRITE_KEY, LiveServer, basic_auth

AUTH = basic_auth(WRITE_KEY)


def post(
    server: LiveServer, path: str, body: Any, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, headers=headers or AUTH, timeout=10)


def track(user: str = "u1", name: str = "Signed Up", **fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name, **fields}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_invalid_events_are_rejected_one_by_one_and_the_rest_accepted(server: LiveServer) -> None:
    batch = [
        track("u1"),
        {"type": "track", "userId": "u2"},
        track("u3"),
        {"type": "teleport", "userId": "u4"},
        {"type": "identify"},
        "not an event",
    ]
    response = post(server, "/v1/batch", {"batch": batch})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert sorted(job.user_key for job in server.jobs()) == ["u1", "u3"]
    reasons = sorted(rejection.reason for rejection in server.rejections())
    assert len(reasons) == 4
    assert any("track needs an event name" in reason for reason in reasons)
    assert any("unknown event type 'teleport'" in reason for reason in reasons)
    assert any("needs a userId or an anonymousId" in reason for reason in reasons)
    assert any("must be a JSON object" in reason for reason in reasons)


def test_a_rejection_keeps_the_raw_event_and_its_message_id(server: LiveServer) -> None:
    post(server, "/v1/batch", {"batch": [{"type": "track", "userId": "u2", "messageId": "m7"}]})
    [rejection] = server.rejections()
    assert rejection.write_key == WRITE_KEY
    assert rejection.message_id == "m7"
    assert json.loads(rejection.raw) == {"type": "track", "userId": "u2", "messageId": "m7"}


def test_an_event_over_32_kb_is_rejected_alone(server: LiveServer) -> None:
    big = track("u-big", properties={"blob": "x" * (33 * 1024)})
    response = post(server, "/v1/batch", {"batch": [track("u1"), big]})
    assert response.status_code == 200
    assert [job.user_key for job in server.jobs()] == ["u1"]
    [rejection] = server.rejections()
    assert "limit is 32768 bytes" in rejection.reason
    assert len(rejection.raw) <= 1024


def test_batch_context_and_integrations_merge_under_each_events_own(server: LiveServer) -> None:
    body = {
        "batch": [track(context={"ip": "10.0.0.1"})],
        "context": {"ip": "0.0.0.0", "library": {"name": "shared"}},
        "integrations": {"Sailthru": {"defaultListName": "News"}},
    }
    post(server, "/v1/batch", body)
    [job] = server.jobs()
    assert job.event["context"] == {"ip": "10.0.0.1", "library": {"name": "shared"}}
    assert job.event["integrations"] == {"Sailthru": {"defaultListName": "News"}}


def test_batch_sent_at_corrects_the_device_clock(server: LiveServer) -> None:
    body = {
        "batch": [track(originalTimestamp="2020-01-01T00:00:00.000Z")],
        "sentAt": "2020-01-01T00:00:10.000Z",
    }
    post(server, "/v1/batch", body)
    [job] = server.jobs()
    received = parse(job.event["receivedAt"])
    assert parse(job.event["timestamp"]) == received - timedelta(seconds=10)


def test_an_unparseable_timestamp_rejects_the_event(server: LiveServer) -> None:
    body = {
        "batch": [track(originalTimestamp="yesterday-ish")],
        "sentAt": "2020-01-01T00:00:10.000Z",
    }
    assert post(server, "/v1/batch", body).status_code == 200
    [rejection] = server.rejections()
    assert "timestamp" in rejection.reason


def test_a_duplicate_message_id_is_stored_once_per_write_key(server: LiveServer) -> None:
    event = track(messageId="m-dup")
    post(server, "/v1/batch", {"batch": [event, event]})
    post(server, "/v1/batch", {"batch": [event]})
    post(server, "/v1/batch", {"batch": [event]}, basic_auth(OTHER_KEY))
    assert sorted(job.write_key for job in server.jobs()) == sorted([WRITE_KEY, OTHER_KEY])


def test_a_single_event_endpoint_takes_its_type_from_the_path(server: LiveServer) -> None:
    response = post(server, "/v1/track", {"userId": "u1", "event": "Clicked"})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [job] = server.jobs()
    assert (job.event_type, job.event["event"]) == ("track", "Clicked")


def test_a_single_event_endpoint_accepts_the_write_key_in_the_body(server: LiveServer) -> None:
    body = {"userId": "u1", "traits": {"a": 1}, "writeKey": OTHER_KEY}
    response = requests.post(f"{server.url}/v1/identify", json=body, timeout=10)
    assert response.status_code == 200
    assert [job.write_key for job in server.jobs()] == [OTHER_KEY]


def test_a_type_that_contradicts_the_path_is_a_400(server: LiveServer) -> None:
    response = post(server, "/v1/track", {"type": "identify", "userId": "u1"})
    assert response.status_code == 400
    assert response.json()["code"] == "type_mismatch"
    assert server.jobs() == []


def test_an_invalid_single_event_is_a_400_and_a_recorded_rejection(server: LiveServer) -> None:
    response = post(server, "/v1/alias", {"userId": "u1"})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_event", "message": "alias needs a previousId"}
    assert [rejection.reason for rejection in server.rejections()] == ["alias needs a previousId"]


def test_an_oversize_single_event_is_a_413(server: LiveServer) -> None:
    response = post(server, "/v1/page", {"userId": "u1", "properties": {"x": "y" * 40000}})
    assert response.status_code == 413
    assert len(server.rejections()) == 1


def test_the_on_enqueued_hook_runs_after_commits_that_stored_jobs(serve: Serve) -> None:
    nudged: list[Starlette] = []
    server = serve(on_enqueued=nudged.append)
    post(server, "/v1/batch", {"batch": [track()]})
    post(server, "/v1/batch", {"batch": [{"type": "track", "userId": "u2"}]})  # all rejected
    assert len(nudged) == 1
    assert isinstance(nudged[0], Starlette)
