"""analytics.js's routes (/v1/t ... /v1/b), CORS, and RudderStack's beacon, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from .conftest import Serve
from .live import WRITE_KEY, LiveServer, basic_auth

SHOP = "https://shop.example"


def browser_event(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    """An event as analytics.js posts it: type, writeKey and sentAt in the body."""
    event = {
        "type": kind,
        "userId": f"user-{n}",
        "messageId": f"ajs-{kind}-{n}",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "sentAt": "2024-05-01T12:00:00.100Z",
        "writeKey": WRITE_KEY,
        "context": {"library": {"name": "analytics.js"}},
        "integrations": {},
        "_metadata": {"bundled": ["Segment.io"]},
    }
    if kind == "track":
        event["event"] = "Product Viewed"
    if kind == "alias":
        event["previousId"] = f"anon-{n}"
    if kind == "group":
        event["groupId"] = "g-1"
    event.update(fields)
    return event


def post_text(url: str, document: Any, **headers: str) -> requests.Response:
    """POST as analytics.js does: JSON in a text/plain body (no preflight needed)."""
    return requests.post(
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "text/plain", **headers},
        timeout=10,
    )


@pytest.fixture
def cors_server(serve: Serve) -> LiveServer:
    return serve(cors_origins=frozenset({SHOP}))


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/t", "track"),
        ("/v1/i", "identify"),
        ("/v1/p", "page"),
        ("/v1/s", "screen"),
        ("/v1/g", "group"),
        ("/v1/a", "alias"),
    ],
)
def test_each_short_route_stores_its_type_sent_as_text_plain(
    server: LiveServer, path: str, kind: str
) -> None:
    event = browser_event(kind, 1)
    del event["type"]  # the path alone says what it is
    response = post_text(server.url + path, event)
    assert response.status_code == 200, response.text
    [job] = server.jobs()
    assert job.event_type == kind
    assert job.event["messageId"] == f"ajs-{kind}-1"
    assert "writeKey" not in job.event


def test_a_short_route_refuses_a_body_of_another_type(server: LiveServer) -> None:
    response = post_text(server.url + "/v1/t", browser_event("identify", 1))
    assert response.status_code == 400
    assert response.json()["code"] == "type_mismatch"


def test_the_batch_short_route_takes_a_batch_with_the_write_key_in_the_body(
    server: LiveServer,
) -> None:
    batch = {
        "batch": [browser_event("track", n) for n in range(3)],
        "writeKey": WRITE_KEY,
        "sentAt": "2024-05-01T12:00:01.000Z",
    }
    assert post_text(server.url + "/v1/b", batch).status_code == 200
    assert sorted(job.user_key for job in server.jobs()) == ["user-0", "user-1", "user-2"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "", "application/x-www-form-urlencoded"]
)
def test_every_ingest_route_reads_json_whatever_the_content_type(
    server: LiveServer, content_type: str
) -> None:
    body = json.dumps({"batch": [browser_event("track", 1)]}).encode()
    response = requests.post(
        server.url + "/v1/batch",
        data=body,
        timeout=10,
        headers={"Content-Type": content_type, **basic_auth(WRITE_KEY)},
    )
    assert response.status_code == 200
    assert len(server.jobs()) == 1


def test_a_preflight_from_an_allowed_origin_is_answered_204_with_cors_headers(
    cors_server: LiveServer,
) -> None:
    response = requests.options(
        cors_server.url + "/v1/t",
        timeout=10,
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-retry-count",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "authorization", "x-retry-count"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_posts_from_an_allowed_origin_carry_the_origin_even_when_refused(
    cors_server: LiveServer,
) -> None:
    ok = post_text(cors_server.url + "/v1/t", browser_event("track", 1), Origin=SHOP)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == SHOP
    refused = post_text(cors_server.url + "/v1/t", {"writeKey": "nope"}, Origin=SHOP)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == SHOP


def test_an_origin_not_allowed_gets_no_cors_headers(cors_server: LiveServer) -> None:
    other = "https://elsewhere.example"
    preflight = requests.options(
        cors_server.url + "/v1/t",
        timeout=10,
        headers={"Origin": other, "Access-Control-Request-Method": "POST"},
    )
    post = post_text(cors_server.url + "/v1/t", browser_event("track", 1), Origin=other)
    for response in (preflight, post):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_without_configured_origins_no_browser_gets_cors_headers(server: LiveServer) -> None:
    response = requests.options(
        server.url + "/v1/batch",
        timeout=10,
        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_star_allows_any_origin_echoing_it(serve: Serve) -> None:
    live = serve(cors_origins=frozenset({"*"}))
    response = post_text(
        live.url + "/v1/p", browser_event("page", 1), Origin="http://localhost:3000"
    )
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_the_rudderstack_beacon_takes_a_text_plain_batch_keyed_in_the_url(
    server: LiveServer,
) -> None:
    events = [browser_event("track", n, channel="web") for n in range(2)]
    for event in events:
        del event["writeKey"]
    response = post_text(
        f"{server.url}/beacon/v1/batch?writeKey={WRITE_KEY}",
        {"batch": events, "sentAt": "2024-05-01T12:00:01.000Z"},
    )
    assert response.status_code == 200
    assert len(server.jobs()) == 2


def test_the_beacon_refuses_an_unknown_write_key(server: LiveServer) -> None:
    response = post_text(
        f"{server.url}/beacon/v1/batch?writeKey=nope", {"batch": [browser_event("track", 1)]}
    )
    assert response.status_code == 401
    assert server.jobs() == []


def test_rudderstack_sdk_batches_are_accepted_on_v1_batch(server: LiveServer) -> None:
    """rudder-sdk-python and the Node SDK post ``{"batch", "sentAt"}`` to /v1/batch with
    Basic auth; identify traits only in ``context.traits``, no ``timestamp`` but an
    ``originalTimestamp``, and a ``channel``."""
    identify = {
        "type": "identify",
        "userId": "r-1",
        "messageId": "rs-1",
        "originalTimestamp": "2024-05-01T12:00:00.000Z",
        "channel": "server",
        "context": {
            "traits": {"email": "r@example.com"},
            "library": {"name": "analytics-python", "version": "2.1.9"},
        },
    }
    body = {"batch": [identify], "sentAt": "2024-05-01T12:00:00.500Z"}
    response = requests.post(
        server.url + "/v1/batch", json=body, timeout=10, headers=basic_auth(WRITE_KEY)
    )
    assert response.status_code == 200
    [job] = server.jobs()
    assert job.event["context"]["traits"] == {"email": "r@example.com"}
    assert job.event["timestamp"]  # the device-clock correction filled it in
