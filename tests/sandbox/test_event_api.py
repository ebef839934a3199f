"""POST /event: custom events, Sailthru's reserved names refused."""

from __future__ import annotations

import pytest
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle


@pytest.mark.parametrize(
    "name", ["send", "cancel", "open", "click", "purchase", "daily", "Purchase", "CLICK"]
)
def test_reserved_event_names_are_refused_with_error_99(
    client: SailthruClient, sandbox: SandboxHandle, name: str
) -> None:
    response = client.api_post("event", {"id": "u-1", "key": "extid", "event": name})

    assert response.get_status_code() == 400
    error = response.get_body()
    assert error["error"] == 99
    assert name in error["errormsg"] and "reserved" in error["errormsg"]
    assert sandbox.state()["profiles"] == []


def test_event_for_an_unknown_extid_creates_the_profile(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post(
        "event", {"id": "new-user", "key": "extid", "event": "Signed Up", "vars": {"source": "ad"}}
    )

    profile = sandbox.user("new-user")
    assert profile is not None
    assert profile["events"][0]["event"] == "Signed Up"
    assert profile["events"][0]["vars"] == {"source": "ad"}


def test_event_without_a_name_is_error_2(client: SailthruClient) -> None:
    response = client.api_post("event", {"id": "u-1", "key": "extid"})

    assert response.get_body() == {"error": 2, "errormsg": "Missing required parameter: event"}
