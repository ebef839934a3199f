"""GET /user may lag POST /purchase: the cart read is the one posted `lag` seconds ago."""

from __future__ import annotations

import time
from typing import Any

from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle

EMAIL = "ann@example.com"


def cart_ids(client: SailthruClient) -> list[str] | None:
    cart = client.api_get(
        "user", {"id": EMAIL, "key": "email", "fields": {"purchase_incomplete": 1}}
    ).get_body()
    incomplete = cart["purchase_incomplete"]
    return None if incomplete is None else [i["id"] for i in incomplete["items"]]


def test_cart_read_returns_the_version_as_of_the_lag(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    sandbox.configure(cart_read_lag=1.0)
    client.api_post("purchase", {"email": EMAIL, "incomplete": 1, "items": [item(id="old")]})
    time.sleep(1.05)
    client.api_post("purchase", {"email": EMAIL, "incomplete": 1, "items": [item(id="new")]})

    assert cart_ids(client) == ["old"]
    time.sleep(1.05)
    assert cart_ids(client) == ["new"]


def test_a_cart_younger_than_the_lag_is_not_seen_yet(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    sandbox.configure(cart_read_lag=5.0)

    client.api_post("purchase", {"email": EMAIL, "incomplete": 1, "items": [item()]})

    assert cart_ids(client) is None
    assert sandbox.state()["profiles"][0]["cart"]["items"][0]["id"] == "sku-1"


def test_without_lag_the_cart_is_read_back_at_once(client: SailthruClient, item: Any) -> None:
    client.api_post("purchase", {"email": EMAIL, "incomplete": 1, "items": [item()]})

    assert cart_ids(client) == ["sku-1"]
