"""Request bodies: JSON errors, size caps before and after gzip, zip bombs, encodings."""

from __future__ import annotations

import gzip
import json
import zlib

import requests

from .live import WRITE_KEY, LiveServer, basic_auth

AUTH = basic_auth(WRITE_KEY)


def post(
    server: LiveServer, path: str, data: bytes, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        f"{server.url}{path}", data=data, headers={**AUTH, **(headers or {})}, timeout=10
    )


def test_malformed_json_is_a_400_invalid_json(server: LiveServer) -> None:
    response = post(server, "/v1/batch", b'{"batch": [')
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert response.json()["message"]


def test_a_body_that_is_not_an_object_is_a_400(server: LiveServer) -> None:
    response = post(server, "/v1/batch", b"[1, 2]")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"


def test_a_batch_body_without_a_batch_is_a_400(server: LiveServer) -> None:
    response = post(server, "/v1/batch", b'{"type": "track", "userId": "u", "event": "E"}')
    assert response.status_code == 400
    assert "batch" in response.json()["message"]


def test_a_body_over_500_kb_is_a_413(server: LiveServer) -> None:
    events = [
        {"type": "track", "userId": "u", "event": "E", "properties": {"p": "x" * 20000}}
        for _ in range(30)
    ]
    response = post(server, "/v1/batch", json.dumps({"batch": events}).encode())
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert server.jobs() == []


def test_a_gzip_body_that_inflates_past_the_limit_is_a_413(server: LiveServer) -> None:
    events = [
        {"type": "track", "userId": "u", "event": "E", "properties": {"p": "x" * 20000}}
        for _ in range(30)
    ]
    body = gzip.compress(json.dumps({"batch": events}).encode())
    assert len(body) < 10_000
    response = post(server, "/v1/batch", body, {"Content-Encoding": "gzip"})
    assert response.status_code == 413


def test_a_zip_bomb_is_refused_without_inflating_it(server: LiveServer) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(32)) + compressor.flush()
    assert len(bomb) < 64 * 1024  # 32 MiB of zeros in a few KB
    response = post(server, "/v1/batch", bomb, {"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["message"]


def test_a_corrupt_gzip_body_is_a_400(server: LiveServer) -> None:
    body = gzip.compress(b'{"batch": []}')[:-12]
    response = post(server, "/v1/batch", body, {"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_gzip"


def test_an_unsupported_content_encoding_is_a_415(server: LiveServer) -> None:
    response = post(server, "/v1/batch", b'{"batch": []}', {"Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_encoding"


def test_an_empty_batch_is_a_success(server: LiveServer) -> None:
    response = post(server, "/v1/batch", b'{"batch": []}')
    assert response.status_code == 200
    assert response.json() == {"success": True}


def test_import_takes_a_batch_body(server: LiveServer) -> None:
    body = {"batch": [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}]}
    response = post(server, "/v1/import", json.dumps(body).encode())
    assert response.status_code == 200
    assert [job.event_type for job in server.jobs()] == ["identify"]


def test_unknown_paths_and_methods_answer_json_errors(server: LiveServer) -> None:
    missing = requests.post(f"{server.url}/v1/nothing", data=b"{}", timeout=10)
    wrong_method = requests.get(f"{server.url}/v1/batch", timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
