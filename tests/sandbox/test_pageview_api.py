"""The pageview API: JSON body, Bearer customer id, no signature."""

from __future__ import annotations

import requests

from sailbridge.sandbox.server import SandboxHandle

PATH = "/v1/track/event/pageview"


def send(sandbox: SandboxHandle, body: object, token: str | None = "default") -> requests.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = (
            f"Bearer {sandbox.config.customer_id if token == 'default' else token}"
        )
    return requests.post(sandbox.url + PATH, json=body, headers=headers)


def test_pageview_is_recorded_on_the_profile(sandbox: SandboxHandle) -> None:
    response = send(
        sandbox,
        {
            "userIdKey": "extid",
            "userIdValue": "u-1",
            "url": "https://shop.example/",
            "tags": ["home"],
        },
    )

    assert response.status_code == 200
    [pageview] = sandbox.user("u-1")["pageviews"]
    assert pageview["url"] == "https://shop.example/" and pageview["tags"] == ["home"]


def test_wrong_customer_id_is_refused_with_401(sandbox: SandboxHandle) -> None:
    response = send(
        sandbox,
        {"userIdKey": "extid", "userIdValue": "u-1", "url": "https://x/"},
        token="someone-else",
    )

    assert response.status_code == 401
    assert response.json()["error"] == 3
    assert sandbox.user("u-1") is None


def test_missing_authorization_is_refused_with_401(sandbox: SandboxHandle) -> None:
    response = send(
        sandbox, {"userIdKey": "extid", "userIdValue": "u-1", "url": "https://x/"}, token=None
    )

    assert response.status_code == 401


def test_pageview_without_url_is_a_400(sandbox: SandboxHandle) -> None:
    response = send(sandbox, {"userIdKey": "extid", "userIdValue": "u-1"})

    assert response.status_code == 400
    assert response.json() == {"error": 2, "errormsg": "Missing required parameter: url"}


def test_pageview_without_user_is_a_400(sandbox: SandboxHandle) -> None:
    response = send(sandbox, {"userIdKey": "extid", "url": "https://x/"})

    assert response.status_code == 400


def test_pageviews_are_rate_limited_only_when_configured(sandbox: SandboxHandle) -> None:
    body = {"userIdKey": "extid", "userIdValue": "u-1", "url": "https://x/"}
    unlimited = send(sandbox, body)
    sandbox.configure(rate_limits={"POST /v1/track/event/pageview": 0})

    limited = send(sandbox, body)

    assert "X-Rate-Limit-Limit" not in unlimited.headers
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Limit"] == "0"
