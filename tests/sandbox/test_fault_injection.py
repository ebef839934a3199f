"""Injected faults: internal errors (HTTP 500 or 200), slow answers, dropped connections."""

from __future__ import annotations

import time

import aiohttp
import pytest
import requests
from sailthru.sailthru_client import SailthruClient
from sailthru.sailthru_error import SailthruClientError

from sailbridge.sailthru.signing import signed_params
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.faults import FaultInjector, FaultOutcome
from sailbridge.sandbox.server import SandboxHandle


def test_fail_rate_one_fails_every_call_and_changes_nothing(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(fail_rate=1.0)

    answers = [
        client.api_post("user", {"id": "u-1", "key": "extid", "vars": {"a": 1}}),
        client.api_post("event", {"id": "u-1", "key": "extid", "event": "x"}),
        client.api_post(
            "purchase",
            {
                "email": "ann@example.com",
                "items": [{"id": "1", "title": "t", "qty": 1, "price": 100, "url": "https://x"}],
            },
        ),
        client.api_get("user", {"id": "u-1", "key": "extid"}),
    ]

    assert [a.get_body() for a in answers] == [{"error": 9, "errormsg": "Internal error"}] * 4
    assert [a.get_status_code() for a in answers] == [500, 200, 500, 200]
    assert all(a.get_rate_limit_headers() is not None for a in answers)
    state = sandbox.state()
    assert state["profiles"] == []
    assert state["counters"]["faults"]["http_500"] == 2
    assert state["counters"]["faults"]["http_200"] == 2


def test_slow_rate_one_delays_every_answer(client: SailthruClient, sandbox: SandboxHandle) -> None:
    sandbox.configure(slow_rate=1.0, slow_seconds=0.3)

    started = time.monotonic()
    response = client.api_post("user", {"id": "u-1", "key": "extid"})

    assert time.monotonic() - started >= 0.3
    assert response.is_ok()
    assert sandbox.state()["counters"]["faults"]["slowed"] == 1


def test_drop_rate_one_closes_the_connection_without_an_answer(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(drop_rate=1.0)

    with pytest.raises(SailthruClientError, match="without response"):
        client.api_post("user", {"id": "u-1", "key": "extid"})

    state = sandbox.state()
    assert state["profiles"] == []
    assert state["counters"]["faults"]["dropped"] == 1


async def test_aiohttp_sees_a_dropped_connection_as_a_disconnect(sandbox: SandboxHandle) -> None:
    sandbox.configure(drop_rate=1.0)
    params = signed_params(sandbox.config.api_key, sandbox.config.api_secret, {"id": "u-1"})

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.post(sandbox.url + "/user", data=params) as response:
                await response.read()


def test_faults_do_not_touch_the_inspection_api(sandbox: SandboxHandle) -> None:
    sandbox.configure(fail_rate=1.0, drop_rate=1.0)

    assert requests.get(sandbox.url + "/_sandbox/state").status_code == 200


def test_the_same_seed_replays_the_same_faults() -> None:
    config = SandboxConfig(fail_rate=0.3, drop_rate=0.2, slow_rate=0.5, slow_seconds=1.0, seed=42)
    first, second = FaultInjector(seed=42), FaultInjector(seed=42)

    plans = [first.plan(config) for _ in range(200)]

    assert plans == [second.plan(config) for _ in range(200)]
    outcomes = {plan.outcome for plan in plans}
    assert outcomes == {
        FaultOutcome.ANSWER,
        FaultOutcome.ERROR_500,
        FaultOutcome.ERROR_200,
        FaultOutcome.DROP,
    }


def test_throttle_rate_one_answers_429_to_every_call_until_it_is_lifted(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(throttle_rate=1.0)

    storm = [client.api_post("user", {"id": f"u-{n}", "key": "extid"}) for n in range(5)]

    assert [a.get_status_code() for a in storm] == [429] * 5
    assert sandbox.state()["counters"]["rate_limited"] == 5
    assert sandbox.user("u-0") is None  # a throttled call changes nothing
    sandbox.configure(throttle_rate=0.0)
    assert client.api_post("user", {"id": "u-0", "key": "extid"}).get_status_code() == 200


def test_a_throttle_rate_leaves_the_other_faults_of_a_seeded_run_as_they_were() -> None:
    calm, storm = (
        SandboxConfig(fail_rate=0.5, seed=7),
        SandboxConfig(fail_rate=0.5, throttle_rate=0.5, seed=7),
    )
    plain, throttled = FaultInjector(7), FaultInjector(7)

    outcomes = [plain.plan(calm).outcome for _ in range(50)]
    mixed = []
    for _ in range(50):
        throttled.throttled(storm)
        mixed.append(throttled.plan(storm).outcome)

    assert outcomes == mixed
