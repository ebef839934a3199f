"""Rate limits per (endpoint, method) in fixed windows, reported in every answer's headers."""

from __future__ import annotations

import math
import time

import requests
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.ratelimit import FixedWindowRateLimiter
from sailbridge.sandbox.server import SandboxHandle


def early_in_a_window() -> None:
    """Make sure a short burst fits in one 1 s window (wait for the next one if late)."""
    now = time.time()
    if now - math.floor(now) > 0.5:
        time.sleep(math.ceil(now) - now + 0.01)


def test_every_answer_carries_the_rate_limit_headers(client: SailthruClient) -> None:
    ok = client.api_post("user", {"id": "u-1", "key": "extid"})
    error = client.api_get("user", {"id": "ghost", "key": "extid"})

    for response in (ok, error):
        headers = response.get_rate_limit_headers()
        assert headers is not None
        assert headers["limit"] == 18000
        assert headers["reset"] % 60 == 0 and headers["reset"] > time.time()


def test_over_the_limit_is_http_429_error_43_until_the_next_window(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(rate_limit_window=1.0, rate_limits={"POST /user": 3})
    early_in_a_window()

    answers = [client.api_post("user", {"id": "u-1", "key": "extid"}) for _ in range(4)]

    assert [a.get_status_code() for a in answers] == [200, 200, 200, 429]
    assert [a.get_rate_limit_headers()["remaining"] for a in answers] == [2, 1, 0, 0]
    assert answers[3].get_body() == {"error": 43, "errormsg": "Too many requests"}
    reset = answers[3].get_rate_limit_headers()["reset"]
    assert reset == math.ceil(time.time())
    time.sleep(max(0.0, reset - time.time()) + 0.01)
    assert client.api_post("user", {"id": "u-1", "key": "extid"}).is_ok()


def test_limits_are_counted_per_endpoint_and_method(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(rate_limit_window=1.0, rate_limits={"POST /user": 1})
    early_in_a_window()

    client.api_post("user", {"id": "u-1", "key": "extid"})
    limited = client.api_post("user", {"id": "u-1", "key": "extid"})
    read = client.api_get("user", {"id": "u-1", "key": "extid"})

    assert limited.get_status_code() == 429
    assert read.is_ok()


def test_429s_are_counted_in_the_state(client: SailthruClient, sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_limit_window=1.0, rate_limits={"POST /event": 0})

    client.api_post("event", {"id": "u-1", "key": "extid", "event": "x"})
    client.api_post("event", {"id": "u-1", "key": "extid", "event": "x"})

    state = sandbox.state()
    assert state["counters"]["rate_limited"] == 2
    assert state["profiles"] == []


def test_unauthenticated_requests_do_not_use_up_the_limit(sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_limit_window=1.0, rate_limits={"GET /user": 1})
    early_in_a_window()
    stranger = SailthruClient("wrong-key", "x", api_url=sandbox.url)

    refused = stranger.api_get("user", {"id": "u-1", "key": "extid"})
    client = SailthruClient(sandbox.config.api_key, sandbox.config.api_secret, api_url=sandbox.url)
    counted = client.api_get("user", {"id": "u-1", "key": "extid"})

    assert refused.get_rate_limit_headers()["remaining"] == 1
    assert counted.get_status_code() == 400  # not found, but not rate limited
    assert counted.get_rate_limit_headers()["remaining"] == 0


def test_windows_align_to_multiples_of_their_length() -> None:
    now = [119.5]
    limiter = FixedWindowRateLimiter(clock=lambda: now[0])

    first = limiter.hit("POST /user", limit=2, window=60.0)
    now[0] = 120.0
    after_boundary = limiter.hit("POST /user", limit=2, window=60.0)

    assert first.reset == 120 and first.remaining == 1
    assert after_boundary.reset == 180 and after_boundary.remaining == 1


def test_unknown_endpoint_is_a_json_error(sandbox: SandboxHandle) -> None:
    response = requests.get(sandbox.url + "/nothing")

    assert response.status_code == 404
    assert response.json()["error"] == 99
