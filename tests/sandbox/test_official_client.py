"""Sailthru's official client talks to the sandbox exactly as it talks to Sailthru."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import requests
from sailthru.sailthru_client import SailthruClient

from sailbridge.sailthru.signing import signature, signed_params
from sailbridge.sandbox.server import SandboxHandle


def test_official_client_creates_a_user(client: SailthruClient, sandbox: SandboxHandle) -> None:
    response = client.api_post(
        "user", {"id": "u-1", "key": "extid", "keys": {"email": "ann@example.com"}}
    )

    assert response.is_ok(), response.get_body()
    assert response.get_body()["keys"]["extid"] == "u-1"
    assert sandbox.user("u-1")["keys"]["email"] == "ann@example.com"


def test_official_client_reads_a_user(client: SailthruClient) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid", "vars": {"plan": "pro"}})

    response = client.api_get("user", {"id": "u-1", "key": "extid", "fields": {"vars": 1}})

    assert response.is_ok()
    assert response.get_body() == {"vars": {"plan": "pro"}}


def test_official_client_posts_an_event(client: SailthruClient, sandbox: SandboxHandle) -> None:
    response = client.api_post(
        "event", {"id": "u-1", "key": "extid", "event": "Played Game", "vars": {"level": 3}}
    )

    assert response.is_ok(), response.get_body()
    assert [(e["event"], e["vars"]) for e in sandbox.user("u-1")["events"]] == [
        ("Played Game", {"level": 3})
    ]


def test_official_client_posts_a_purchase_with_a_plus_in_the_json(
    client: SailthruClient, sandbox: SandboxHandle, item: Callable[..., dict[str, Any]]
) -> None:
    # "+20 minutes" only survives form encoding when the + travels as %2B.
    response = client.api_post(
        "purchase",
        {
            "email": "ann@example.com",
            "incomplete": 1,
            "items": [item()],
            "reminder_template": "abandoned cart",
            "reminder_time": "+20 minutes",
        },
    )

    assert response.is_ok(), response.get_body()
    cart = sandbox.state()["profiles"][0]["cart"]
    assert cart["reminder_time"] == "+20 minutes"


def test_official_client_deletes_a_user(client: SailthruClient, sandbox: SandboxHandle) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid"})

    response = client.api_delete("user", {"id": "u-1", "key": "extid"})

    assert response.is_ok()
    assert sandbox.user("u-1") is None


def test_wrong_secret_is_refused_with_error_5(sandbox: SandboxHandle) -> None:
    client = SailthruClient(sandbox.config.api_key, "not-the-secret", api_url=sandbox.url)

    response = client.api_post("user", {"id": "u-1", "key": "extid"})

    assert response.get_status_code() == 401
    assert response.get_error().get_error_code() == 5
    assert sandbox.state()["profiles"] == []


def test_wrong_api_key_is_refused_with_error_3(sandbox: SandboxHandle) -> None:
    client = SailthruClient("not-the-key", sandbox.config.api_secret, api_url=sandbox.url)

    response = client.api_get("user", {"id": "u-1", "key": "extid"})

    assert response.get_status_code() == 401
    assert response.get_error().get_error_code() == 3


def test_missing_signature_is_error_2(sandbox: SandboxHandle) -> None:
    response = requests.post(
        sandbox.url + "/user",
        data={"api_key": sandbox.config.api_key, "format": "json", "json": '{"id": "u-1"}'},
    )

    assert response.status_code == 400
    assert response.json() == {"error": 2, "errormsg": "Missing required parameter: sig"}


def test_signature_covers_every_parameter_sent(sandbox: SandboxHandle) -> None:
    params = signed_params(sandbox.config.api_key, sandbox.config.api_secret, {"id": "u-1"})

    response = requests.get(sandbox.url + "/user", params={**params, "extra": "x"})

    assert response.json()["error"] == 5


def test_unescaped_plus_in_a_post_body_breaks_the_signature(sandbox: SandboxHandle) -> None:
    params = signed_params(
        sandbox.config.api_key,
        sandbox.config.api_secret,
        {"id": "u-1", "key": "extid", "vars": {"phone": "+1555"}},
    )
    body = "&".join(f"{name}={value}" for name, value in params.items())  # + not escaped

    response = requests.post(
        sandbox.url + "/user",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.json()["error"] == 5


def test_json_parameter_must_be_an_object(sandbox: SandboxHandle) -> None:
    payload = {"api_key": sandbox.config.api_key, "format": "json", "json": "[1, 2]"}
    payload["sig"] = signature(sandbox.config.api_secret, list(payload.values()))

    response = requests.get(sandbox.url + "/user", params=payload)

    assert response.status_code == 400
    assert response.json()["error"] == 99


async def test_sailbridge_signer_over_aiohttp_is_accepted(sandbox: SandboxHandle) -> None:
    params = signed_params(
        sandbox.config.api_key,
        sandbox.config.api_secret,
        {"id": "u-1", "key": "extid", "vars": {"tz": "UTC+2"}},
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.url + "/user", data=params) as response,
    ):
        body = await response.json()

    assert body["keys"]["extid"] == "u-1"
    assert sandbox.user("u-1")["vars"] == {"tz": "UTC+2"}
