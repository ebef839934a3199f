"""Segment Webhooks: signed like Segment signs (single event and array), or keyed."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
import requests

from sailbridge.events import event_from_dict
from sailbridge.mapping import plan_event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, ForgetUser
from sailbridge.sailthru.calls import Call

from .conftest import Serve
from .live import WRITE_KEY, LiveServer, basic_auth
from .stores import LockedStore

SECRET = "whsec-1"
ROTATED = "whsec-0"


def js_stringify(value: Any) -> bytes:
    """``JSON.stringify(value)``: compact, key order kept, non-ASCII as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha1).hexdigest()


def webhook_event(n: int, **fields: Any) -> dict[str, Any]:
    """An event as Segment's Webhooks destination forwards it (the full Segment event)."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{n}",
        "messageId": f"wh-{n}",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "receivedAt": "2024-05-01T12:00:00.200Z",
        "sentAt": "2024-05-01T12:00:00.100Z",
        "properties": {"order_id": f"o-{n}", "total": 12.5, "note": "café"},
        "context": {"library": {"name": "analytics.js"}},
        "channel": "client",
        "projectId": "p1",
        "version": 2,
        **fields,
    }


def post(live: LiveServer, data: bytes, **headers: str) -> requests.Response:
    return requests.post(
        live.url + "/v1/webhook",
        data=data,
        timeout=10,
        headers={"Content-Type": "application/json", **headers},
    )


@pytest.fixture
def hooked(serve: Serve) -> LiveServer:
    return serve(webhook_secrets=(ROTATED, SECRET))


def test_a_single_event_signed_over_its_body_is_stored(hooked: LiveServer) -> None:
    body = js_stringify(webhook_event(1))
    response = post(hooked, body, **{"X-Signature": sign(SECRET, body)})
    assert response.status_code == 200, response.text
    [job] = hooked.jobs()
    assert job.event["messageId"] == "wh-1"
    assert job.write_key == "segment-webhook"


def test_any_configured_secret_is_accepted(hooked: LiveServer) -> None:
    body = js_stringify(webhook_event(1))
    assert post(hooked, body, **{"X-Signature": sign(ROTATED, body)}).status_code == 200


def test_an_array_signed_over_its_first_element_as_segment_does_is_stored_whole(
    hooked: LiveServer,
) -> None:
    events = [webhook_event(n) for n in range(3)]
    response = post(
        hooked, js_stringify(events), **{"X-Signature": sign(SECRET, js_stringify(events[0]))}
    )
    assert response.status_code == 200, response.text
    assert sorted(job.user_key for job in hooked.jobs()) == ["user-0", "user-1", "user-2"]


def test_an_array_signed_over_the_whole_body_is_stored(hooked: LiveServer) -> None:
    body = js_stringify([webhook_event(1), webhook_event(2)])
    assert post(hooked, body, **{"X-Signature": sign(SECRET, body)}).status_code == 200
    assert len(hooked.jobs()) == 2


@pytest.mark.parametrize("signature", ["0" * 40, "", "not hex at all", "é"])
def test_a_wrong_signature_is_401_with_a_reason_and_nothing_is_stored(
    hooked: LiveServer, signature: str
) -> None:
    body = js_stringify(webhook_event(1))
    response = requests.post(
        hooked.url + "/v1/webhook",
        data=body,
        timeout=10,
        headers={"X-Signature": signature.encode()},
    )
    assert response.status_code == 401
    assert "X-Signature" in response.json()["message"]
    assert hooked.jobs() == []


def test_a_signature_under_another_secret_is_refused(hooked: LiveServer) -> None:
    body = js_stringify(webhook_event(1))
    assert post(hooked, body, **{"X-Signature": sign("other", body)}).status_code == 401


def test_a_signature_over_a_changed_body_is_refused(hooked: LiveServer) -> None:
    body = js_stringify(webhook_event(1))
    tampered = body.replace(b"12.5", b"0.5")
    assert post(hooked, tampered, **{"X-Signature": sign(SECRET, body)}).status_code == 401


def test_neither_a_signature_nor_a_write_key_is_401(hooked: LiveServer) -> None:
    response = post(hooked, js_stringify(webhook_event(1)))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_a_write_key_authenticates_an_unsigned_webhook(hooked: LiveServer) -> None:
    response = post(hooked, js_stringify(webhook_event(1)), **basic_auth(WRITE_KEY))
    assert response.status_code == 200
    assert hooked.jobs()[0].write_key == WRITE_KEY


def test_an_unknown_write_key_is_401(hooked: LiveServer) -> None:
    assert post(hooked, js_stringify(webhook_event(1)), **basic_auth("nope")).status_code == 401


def test_without_secrets_the_webhook_is_404_unless_a_write_key_is_given(serve: Serve) -> None:
    live = serve()
    body = js_stringify(webhook_event(1))
    assert post(live, body).status_code == 404
    assert post(live, body, **{"X-Signature": sign(SECRET, body)}).status_code == 404
    assert post(live, body, **basic_auth(WRITE_KEY)).status_code == 200


def test_a_signed_webhook_the_store_cannot_take_is_503_not_200(serve: Serve) -> None:
    live = serve(webhook_secrets=(SECRET,), wrap_store=LockedStore)
    body = js_stringify(webhook_event(1))
    response = post(live, body, **{"X-Signature": sign(SECRET, body)})
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_an_invalid_event_in_a_webhook_array_is_rejected_alone(hooked: LiveServer) -> None:
    events = [webhook_event(1), {"type": "track", "userId": "u"}, webhook_event(2)]
    response = post(
        hooked, js_stringify(events), **{"X-Signature": sign(SECRET, js_stringify(events[0]))}
    )
    assert response.status_code == 200
    assert len(hooked.jobs()) == 2
    [rejection] = hooked.rejections()
    assert "event name" in rejection.reason


def test_a_delete_request_is_queued_as_user_deleted_deletes_and_forgets(hooked: LiveServer) -> None:
    body = js_stringify(
        {
            "type": "delete",
            "userId": "gone-1",
            "messageId": "del-1",
            "timestamp": "2024-05-01T12:00:00.000Z",
        }
    )
    assert post(hooked, body, **{"X-Signature": sign(SECRET, body)}).status_code == 200
    [job] = hooked.jobs()
    assert job.event_type == "track"
    assert job.event["event"] == "User Deleted"
    planned = plan_event(event_from_dict(job.event), MappingOptions())
    assert planned == Deliver(
        calls=(Call("DELETE", "/user", {"id": "gone-1", "key": "extid"}),),
        remember=(ForgetUser("gone-1"),),
    )


def test_an_unauthenticated_malformed_body_is_401_but_a_signed_one_is_400(
    hooked: LiveServer,
) -> None:
    broken = b'[{"type":"track",'
    assert post(hooked, broken, **{"X-Signature": "0" * 40}).status_code == 401
    assert post(hooked, broken).status_code == 401
    assert post(hooked, broken, **{"X-Signature": sign(SECRET, broken)}).status_code == 400
