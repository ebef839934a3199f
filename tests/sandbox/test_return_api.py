"""POST /return: required fields as Sailthru documents them, returns kept, net revenue."""

from __future__ import annotations

from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle

EMAIL = "ann@example.com"
RETURNED = {"qty": 1, "price": 1099, "url": "https://shop.example/sku-1", "id": "sku-1"}


def test_a_return_lowers_the_profiles_net_revenue(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    client.api_post("purchase", {"email": EMAIL, "items": [item(qty=3)]})

    response = client.api_post(
        "return", {"email": EMAIL, "items": [RETURNED], "purchase_keys": {"extid": "o-1"}}
    )

    assert response.is_ok(), response.get_body()
    [profile] = sandbox.state()["profiles"]
    [returned] = profile["returns"]
    assert returned["purchase_keys"] == {"extid": "o-1"}
    assert returned["price"] == 1099
    assert profile["net_revenue"] == 3 * 1099 - 1099


def test_an_item_needs_no_id_or_title_on_a_return(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    response = client.api_post(
        "return",
        {"email": EMAIL, "items": [{"qty": 2, "price": 500, "url": "https://shop.example/x"}]},
    )

    assert response.is_ok(), response.get_body()
    assert sandbox.state()["profiles"][0]["net_revenue"] == -1000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"items": [RETURNED]}, "email"),
        ({"email": EMAIL}, "items"),
        ({"email": EMAIL, "items": []}, "No items"),
        ({"email": EMAIL, "items": [{**RETURNED, "qty": None}]}, "qty"),
        ({"email": EMAIL, "items": [{"qty": 1, "url": "https://s/x"}]}, "price"),
        ({"email": EMAIL, "items": [{"qty": 1, "price": 100}]}, "url"),
        ({"email": EMAIL, "items": [{**RETURNED, "price": 10.99}]}, "integer number of cents"),
        ({"email": "not-an-email", "items": [RETURNED]}, "Invalid email"),
    ],
)
def test_a_return_without_what_sailthru_requires_is_refused_and_changes_nothing(
    client: SailthruClient, sandbox: SandboxHandle, params: dict[str, Any], message: str
) -> None:
    response = client.api_post("return", params)

    assert not response.is_ok()
    assert message in response.get_error().get_message()
    assert sandbox.state()["profiles"] == []


def test_post_return_has_its_own_rate_limit_route(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    sandbox.configure(rate_limits={"POST /return": 1})

    first = client.api_post("return", {"email": EMAIL, "items": [RETURNED]})
    second = client.api_post("return", {"email": EMAIL, "items": [RETURNED]})
    purchase = client.api_post("purchase", {"email": EMAIL, "items": [item()]})

    assert first.is_ok()
    assert second.get_status_code() == 429
    assert purchase.is_ok()
