"""Write keys: from Basic auth or the body; unknown, missing or unconfigured → 401 JSON."""

from __future__ import annotations

import requests

from .conftest import Serve
from .live import OTHER_KEY, WRITE_KEY, LiveServer, basic_auth

TRACK = {"type": "track", "userId": "u1", "event": "Signed Up"}


def post_batch(
    server: LiveServer, body: dict[str, object], headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(f"{server.url}/v1/batch", json=body, headers=headers, timeout=10)


def test_basic_auth_write_key_is_accepted_and_stored_with_the_job(server: LiveServer) -> None:
    response = post_batch(server, {"batch": [TRACK]}, basic_auth(OTHER_KEY))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert [job.write_key for job in server.jobs()] == [OTHER_KEY]


def test_write_key_in_the_body_is_accepted(server: LiveServer) -> None:
    response = post_batch(server, {"batch": [TRACK], "writeKey": WRITE_KEY})
    assert response.status_code == 200
    assert [job.write_key for job in server.jobs()] == [WRITE_KEY]


def test_unknown_write_key_is_refused_with_401_and_nothing_stored(server: LiveServer) -> None:
    response = post_batch(server, {"batch": [TRACK]}, basic_auth("wk_stranger"))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert server.jobs() == []


def test_the_basic_auth_key_wins_over_the_body_key(server: LiveServer) -> None:
    response = post_batch(
        server, {"batch": [TRACK], "writeKey": WRITE_KEY}, basic_auth("wk_stranger")
    )
    assert response.status_code == 401


def test_missing_write_key_is_refused_with_401(server: LiveServer) -> None:
    response = post_batch(server, {"batch": [TRACK]})
    assert response.status_code == 401
    assert "missing write key" in response.json()["message"]


def test_unreadable_basic_credentials_are_refused(server: LiveServer) -> None:
    response = post_batch(
        server, {"batch": [TRACK], "writeKey": WRITE_KEY}, {"Authorization": "Basic !!not-base64!!"}
    )
    assert response.status_code == 401


def test_without_configured_write_keys_every_request_is_refused(serve: Serve) -> None:
    server = serve(write_keys=frozenset())
    response = post_batch(server, {"batch": [TRACK]}, basic_auth(WRITE_KEY))
    assert response.status_code == 401
    assert "no write keys are configured" in response.json()["message"]
