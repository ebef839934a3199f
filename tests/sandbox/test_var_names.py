"""Var names as Sailthru documents them: refused with error 99 on every call that has vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient
from test_job_api import wait_for_job, write_lines  # tests/sandbox is on sys.path

from sailbridge.sandbox.server import SandboxHandle

EMAIL = "ann@example.com"


@pytest.mark.parametrize("name", ["1st_visit", "2024", "utm-source", "price.$", "50%", "é", ""])
def test_a_name_sailthru_does_not_take_is_refused_with_error_99(
    client: SailthruClient, sandbox: SandboxHandle, name: str
) -> None:
    response = client.api_post("user", {"id": "u1", "key": "extid", "vars": {name: 1}})

    assert response.get_error().get_error_code() == 99
    assert "Invalid variable name" in response.get_error().get_message()
    assert sandbox.state()["profiles"] == []


def test_spaces_underscores_and_case_are_accepted(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    names = {"Played Game": 1, "_private": 2, "arcade_blips and chitz_planet": 3, "aB9": 4}
    response = client.api_post("user", {"id": "u1", "key": "extid", "vars": names})

    assert response.is_ok(), response.get_body()
    assert sandbox.user("u1")["vars"] == names  # type: ignore[index]


def test_event_purchase_return_and_item_vars_are_checked(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    calls = [
        ("event", {"id": "u1", "key": "extid", "event": "x", "vars": {"a-b": 1}}),
        ("purchase", {"email": EMAIL, "items": [item()], "vars": {"a.b": 1}}),
        ("purchase", {"email": EMAIL, "items": [item(vars={"$x": 1})]}),
        ("return", {"email": EMAIL, "items": [item(vars={"9": 1})]}),
    ]
    for endpoint, params in calls:
        response = client.api_post(endpoint, params)
        assert response.get_error().get_error_code() == 99, (endpoint, response.get_body())
    assert sandbox.state()["profiles"] == []


def test_a_configured_length_cap_is_enforced(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    sandbox.configure(var_name_max_length=32)
    long = "checkout_shipping_address_postal_code"

    refused = client.api_post("user", {"id": "u1", "key": "extid", "vars": {long: "N1"}})
    taken = client.api_post("user", {"id": "u1", "key": "extid", "vars": {long[:32]: "N1"}})

    assert "longer than 32" in refused.get_error().get_message()
    assert taken.is_ok()


def test_a_job_line_with_an_invalid_name_ends_the_job_before_any_line_applies(
    client: SailthruClient, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(job_delay=0.1)
    path = write_lines(
        tmp_path / "users.json",
        [
            {"email": "ann@example.com", "vars": {"plan": "pro"}},
            {"email": "bob@example.com", "vars": {"1st_visit": "2024"}},
        ],
    )

    started = client.api_post(
        "job", {"job": "update", "file": str(path)}, binary_data_param=["file"]
    )
    finished = wait_for_job(client, started.get_body()["job_id"])

    assert finished["status"] == "error"
    assert finished["errormsg"].startswith("line 2: Invalid variable name '1st_visit'")
    assert sandbox.state()["profiles"] == []
