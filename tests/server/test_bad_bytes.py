"""No event loses its neighbours: every bad-bytes case of issue 7, over real HTTP, on
both stores. Each request carries a good event beside the bad one; the good one must
be stored, the bad one repaired (U+FFFD) or rejected with a reason naming the field."""

from __future__ import annotations

import gzip
import socket
import time
from typing import Any

import pytest
import requests

from sailbridge.intake.documents import MAX_EVENTS
from sailbridge.intake.repair import MAX_DEPTH
from sailbridge.server.connections import ConnectionLimits
from sailbridge.store.base import Attempt, JobState

from .conftest import Serve
from .live import WRITE_KEY, LiveServer, basic_auth

AUTH = basic_auth(WRITE_KEY)


def event(n: int, extra: str = "", user: str | None = None) -> bytes:
    """A track event's JSON with ``extra`` spliced in as further fields."""
    user_json = f'"{user}"' if user is not None else f'"user-{n}"'
    return (
        f'{{"type":"track","event":"E","userId":{user_json},"messageId":"m-{n}",'
        f'"timestamp":"2024-05-01T12:00:00.000Z"{extra}}}'
    ).encode()


GOOD = event(0)


def batch(*events: bytes, extra: bytes = b"") -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]" + extra + b"}"


def post(
    live: LiveServer, body: bytes, path: str = "/v1/batch", **headers: Any
) -> requests.Response:
    return requests.post(live.url + path, data=body, headers={**AUTH, **headers}, timeout=20)


def stored(live: LiveServer) -> dict[str, dict[str, Any]]:
    return {job.event["messageId"]: job.event for job in live.jobs()}


@pytest.fixture
def live(any_store_serve: Serve) -> LiveServer:
    return any_store_serve()


def test_a_lone_surrogate_is_replaced_and_the_batch_kept(live: LiveServer) -> None:
    response = post(live, batch(GOOD, event(1, ',"properties":{"name":"cut \\ud83d"}')))
    assert response.status_code == 200
    events = stored(live)
    assert events["m-1"]["properties"]["name"] == "cut \ufffd"
    assert "m-0" in events


def test_a_lone_low_surrogate_and_a_valid_pair_side_by_side(live: LiveServer) -> None:
    body = batch(GOOD, event(1, ',"properties":{"a":"\\ude00\\ud83d\\ude00"}'))
    assert post(live, body).status_code == 200
    assert stored(live)["m-1"]["properties"]["a"] == "\ufffd\U0001f600"


def test_an_escaped_backslash_before_u_is_not_taken_for_an_escape(live: LiveServer) -> None:
    body = batch(GOOD, event(1, ',"properties":{"path":"C:\\\\ud83d","z":"\\u0000"}'))
    assert post(live, body).status_code == 200
    assert stored(live)["m-1"]["properties"] == {"path": "C:\\ud83d", "z": "\ufffd"}


def test_invalid_utf8_is_replaced_and_the_batch_kept(live: LiveServer) -> None:
    bad = event(1, ',"properties":{"name":"X"}').replace(b"X", b"caf\xe9 \xff\xfe")
    assert post(live, batch(GOOD, bad)).status_code == 200
    events = stored(live)
    assert events["m-1"]["properties"]["name"] == "caf\ufffd \ufffd\ufffd"
    assert "m-0" in events


def test_nul_in_values_and_keys_is_replaced_on_every_store(live: LiveServer) -> None:
    body = batch(GOOD, event(1, ',"properties":{"k\\u0000":"v\\u0000w"}'))
    assert post(live, body).status_code == 200
    assert stored(live)["m-1"]["properties"] == {"k\ufffd": "v\ufffdw"}


def test_a_user_id_with_nul_keeps_its_order_and_nothing_is_stuck(live: LiveServer) -> None:
    body = batch(event(1, user="a\\u0000b"), event(2, user="a\\u0000b"))
    assert post(live, body).status_code == 200

    async def deliver_all() -> list[str]:
        order = []
        for _ in range(4):
            claimed = await live.store.claim("w", 10, 30.0, time.time() + 1)
            assert len(claimed) <= 1  # the second waits for the first: same user line
            for job in claimed:
                order.append(job.event["messageId"])
                await live.store.finish(
                    job.id,
                    JobState.DELIVERED,
                    Attempt(at=time.time(), outcome="delivered"),
                    worker="w",
                )
        return order

    assert live.call(deliver_all) == ["m-1", "m-2"]
    assert live.call(live.store.counts).pending == 0


@pytest.mark.parametrize("levels", [1000, 200, MAX_DEPTH + 1])
def test_nesting_too_deep_rejects_that_event_only_naming_the_field(
    live: LiveServer, levels: int
) -> None:
    inner = "[" * (levels - 2) + "]" * (levels - 2)  # event + properties = 2 levels
    body = batch(GOOD, event(1, f',"properties":{{"a":{inner}}}'), event(2))
    assert post(live, body).status_code == 200
    assert set(stored(live)) == {"m-0", "m-2"}
    [rejection] = live.rejections()
    assert rejection.reason.startswith("properties.a")
    assert f"deeper than {MAX_DEPTH} levels" in rejection.reason


def test_nesting_at_the_limit_is_accepted(live: LiveServer) -> None:
    inner = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    assert post(live, batch(GOOD, event(1, f',"properties":{{"a":{inner}}}'))).status_code == 200
    assert set(stored(live)) == {"m-0", "m-1"}


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" * 400 + ".5", "9" * 5000])
def test_a_number_out_of_range_rejects_that_event_naming_the_field(
    live: LiveServer, number: str
) -> None:
    body = batch(GOOD, event(1, f',"properties":{{"price":{number}}}'))
    assert post(live, body).status_code == 200
    assert set(stored(live)) == {"m-0"}
    [rejection] = live.rejections()
    assert rejection.reason.startswith("properties.price: number")
    assert "out of range" in rejection.reason


@pytest.mark.parametrize("repaired", [False, True])
def test_a_large_integer_is_kept_exactly_repaired_or_not(live: LiveServer, repaired: bool) -> None:
    big = int("9" * 400)
    nul = ',"nul":"\\u0000"' if repaired else ""
    body = batch(GOOD, event(1, f',"properties":{{"big":{big},"n":12345678901234567890{nul}}}'))
    assert post(live, body).status_code == 200
    assert stored(live)["m-1"]["properties"]["big"] == big
    assert stored(live)["m-1"]["properties"]["n"] == 12345678901234567890


def test_a_deep_single_event_is_400_naming_the_field(live: LiveServer) -> None:
    inner = "[" * 998 + "]" * 998
    response = post(live, event(1, f',"properties":{{"a":{inner}}}'), path="/v1/track")
    assert response.status_code == 400
    assert "properties.a" in response.json()["message"]


def test_an_invalid_batch_sent_at_falls_back_to_the_receive_time(live: LiveServer) -> None:
    device = (
        b'{"type":"track","event":"E","userId":"u9","messageId":"m-9",'
        b'"originalTimestamp":"2024-05-01T11:59:00.000Z"}'
    )
    for sent_at in (b'"yesterday"', b"12345", b"{}"):
        assert post(live, batch(GOOD, device, extra=b',"sentAt":' + sent_at)).status_code == 200
    events = stored(live)
    assert events["m-0"]["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert events["m-9"]["timestamp"] == "2024-05-01T11:59:00.000Z"  # no correction
    assert live.rejections() == []


def test_more_events_than_segment_allows_is_413_and_nothing_is_written(live: LiveServer) -> None:
    body = b'{"batch":[' + b",".join([b"{}"] * (MAX_EVENTS + 1)) + b"]}"
    response = post(live, body)
    assert response.status_code == 413
    assert str(MAX_EVENTS) in response.json()["message"]
    assert live.rejections() == []


def test_a_full_batch_of_tiny_bad_entries_is_bounded_and_answered(live: LiveServer) -> None:
    body = b'{"batch":[' + b",".join([b"{}"] * MAX_EVENTS) + b"]}"
    assert post(live, body).status_code == 200
    assert len(live.call(lambda: live.store.list_rejections(limit=5000))) == MAX_EVENTS


@pytest.mark.parametrize(
    "header",
    [b"Basic \xe9\xe8", b"Basic ", b"Basic", b"Basic Og==", b"Basic !!!", "Basic ✓".encode()],
)
def test_a_malformed_authorization_header_is_401_never_500(live: LiveServer, header: bytes) -> None:
    body = batch(GOOD)[:-1] + b',"writeKey":"' + WRITE_KEY.encode() + b'"}'
    response = requests.post(
        live.url + "/v1/batch", data=body, timeout=10, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert live.jobs() == []


def test_malformed_json_is_400_and_a_gzip_bomb_is_413(live: LiveServer) -> None:
    assert post(live, b'{"batch":[{"type":').status_code == 400
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]")
    assert post(live, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    assert post(live, b"\x1f\x8b garbage", **{"Content-Encoding": "gzip"}).status_code == 400


def _whole_response(conn: socket.socket) -> bytes:
    """One whole response (head and a Content-Length body): its head and body can arrive
    in separate segments, and a test that reads only the first would take the rest for
    the next answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        assert chunk, f"closed before a whole response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        chunk = conn.recv(4096)
        assert chunk, "closed before the whole response body"
        body += chunk
    assert len(body) == length, "more bytes than one response"
    return data


def _raw_http(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_client_that_never_finishes_its_headers_gets_408_and_is_cut_off(serve: Serve) -> None:
    live = serve(limits=ConnectionLimits(header_timeout=0.5, body_timeout=0.5))
    slow = _raw_http(live.url)
    slow.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    answer = slow.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 5
    assert post(live, batch(GOOD)).status_code == 200  # others are served meanwhile


def test_a_client_that_never_finishes_its_body_gets_408(serve: Serve) -> None:
    live = serve(limits=ConnectionLimits(header_timeout=5, body_timeout=0.5))
    slow = _raw_http(live.url)
    slow.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert slow.recv(4096).startswith(b"HTTP/1.1 408")
    assert slow.recv(4096) == b""  # closed
    assert live.jobs() == []


def test_a_kept_alive_connection_is_held_to_each_requests_own_deadline(serve: Serve) -> None:
    """The deadline is one timer per connection (not one per request): after a request
    answered with the longer body deadline armed, the next request's shorter header
    deadline still cuts it off on time."""
    live = serve(limits=ConnectionLimits(header_timeout=0.5, body_timeout=5))
    conn = _raw_http(live.url)
    body = batch(GOOD)
    conn.sendall(
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {AUTH['Authorization']}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert _whole_response(conn).startswith(b"HTTP/1.1 200")
    conn.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert conn.recv(4096).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 2.5  # the header deadline, not the body's 5 s


def test_past_the_connection_cap_a_new_connection_is_told_to_retry(serve: Serve) -> None:
    live = serve(limits=ConnectionLimits(header_timeout=5, max_connections=3))
    held = [_raw_http(live.url) for _ in range(3)]
    time.sleep(0.2)
    extra = _raw_http(live.url)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = extra.recv(4096)
    assert answer.startswith(b"HTTP/1.1 429")
    assert b"retry-after: 1" in answer.lower()
    for sock in held:
        sock.close()
    time.sleep(0.2)
    assert post(live, batch(GOOD)).status_code == 200
