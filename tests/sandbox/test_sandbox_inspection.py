"""The /_sandbox inspection and control API."""

from __future__ import annotations

import requests
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle


def test_state_shows_profiles_and_counters(client: SailthruClient, sandbox: SandboxHandle) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid", "vars": {"a": 1}, "lists": {"News": 1}})
    client.api_get("user", {"id": "u-1", "key": "extid"})

    state = requests.get(sandbox.url + "/_sandbox/state").json()

    [profile] = state["profiles"]
    assert profile["keys"]["extid"] == "u-1" and profile["vars"] == {"a": 1}
    assert set(profile) >= {
        "sid",
        "keys",
        "vars",
        "lists",
        "optout_email",
        "cart",
        "purchases",
        "events",
        "pageviews",
    }
    assert state["counters"]["requests"] == {"POST /user": 1, "GET /user": 1}
    assert "api_secret" not in state["config"]


def test_user_endpoint_finds_by_extid_or_answers_404(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post("user", {"id": "u/1", "key": "extid"})

    found = requests.get(sandbox.url + "/_sandbox/users/u/1")
    missing = requests.get(sandbox.url + "/_sandbox/users/nobody")

    assert found.status_code == 200 and found.json()["keys"]["extid"] == "u/1"
    assert missing.status_code == 404


def test_request_log_shows_decoded_params_but_no_secret(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post("event", {"id": "u-1", "key": "extid", "event": "click"})

    [entry] = requests.get(sandbox.url + "/_sandbox/requests").json()["requests"]

    assert entry["route"] == "POST /event"
    assert entry["params"] == {"id": "u-1", "key": "extid", "event": "click"}
    assert entry["status"] == 400 and entry["error"] == 99
    assert entry["api_key"] == sandbox.config.api_key
    assert sandbox.config.api_secret not in str(entry)
    assert "sig" not in entry


def test_request_log_can_be_read_from_a_sequence_number(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid"})
    client.api_post("user", {"id": "u-2", "key": "extid"})

    later = sandbox.requests(since=1)

    assert [entry["params"]["id"] for entry in later] == ["u-2"]


def test_reset_clears_profiles_counters_and_log(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid"})

    response = requests.post(sandbox.url + "/_sandbox/reset")

    assert response.json() == {"ok": True}
    state = sandbox.state()
    assert state["profiles"] == [] and state["counters"]["requests"] == {}
    assert sandbox.requests() == []


def test_reset_keeps_the_runtime_config_unless_asked(sandbox: SandboxHandle) -> None:
    sandbox.configure(fail_rate=0.5)

    requests.post(sandbox.url + "/_sandbox/reset")
    kept = sandbox.state()["config"]["fail_rate"]
    requests.post(sandbox.url + "/_sandbox/reset?config=1")

    assert kept == 0.5
    assert sandbox.state()["config"]["fail_rate"] == 0.0


def test_config_changes_at_runtime(sandbox: SandboxHandle) -> None:
    response = requests.post(
        sandbox.url + "/_sandbox/config",
        json={"cart_read_lag": 2.5, "rate_limits": {"POST /user": 5}, "templates": ["a", "b"]},
    )

    config = response.json()["config"]
    assert config["cart_read_lag"] == 2.5
    assert config["rate_limits"]["POST /user"] == 5
    assert config["rate_limits"]["GET /user"] == 18000
    assert config["templates"] == ["a", "b"]


def test_invalid_config_is_refused_and_changes_nothing(sandbox: SandboxHandle) -> None:
    bad_rate = requests.post(sandbox.url + "/_sandbox/config", json={"fail_rate": 2})
    secret = requests.post(sandbox.url + "/_sandbox/config", json={"api_secret": "x"})

    assert bad_rate.status_code == 400 and secret.status_code == 400
    assert sandbox.state()["config"]["fail_rate"] == 0.0
