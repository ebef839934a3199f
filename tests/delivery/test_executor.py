"""Executing plans against the sandbox: lookups, memory, and the final Sailthru state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sailbridge.delivery.executor import Outcome, answer_record, deliver_event
from sailbridge.events import event_from_dict
from sailbridge.mapping.options import MappingOptions
from sailbridge.sailthru.client import SailthruClient
from sailbridge.sailthru.errors import RetryableError
from sailbridge.sandbox.server import SandboxHandle
from sailbridge.store.memory import Memory
from sailbridge.store.sqlite import SqliteStore

OPTIONS = MappingOptions(
    reminder_template="abandoned cart", reminder_time="20 minutes", customer_id="sandbox-customer"
)


class Harness:
    def __init__(self, client: SailthruClient, memory: Memory) -> None:
        self.client = client
        self.memory = memory

    async def deliver(self, raw: dict[str, Any], options: MappingOptions = OPTIONS) -> Outcome:
        return await deliver_event(
            event_from_dict(raw), options, self.memory, self.client, cart_ttl=600
        )


def client_for(session: aiohttp.ClientSession, sandbox: SandboxHandle) -> SailthruClient:
    return SailthruClient(
        session,
        api_key=sandbox.config.api_key,
        api_secret=sandbox.config.api_secret,
        base_url=sandbox.url,
        pageview_base_url=sandbox.url,
        customer_id=sandbox.config.customer_id,
    )


@pytest.fixture
async def harness(sandbox: SandboxHandle, tmp_path: Path) -> AsyncIterator[Harness]:
    async with (
        await SqliteStore.open(tmp_path / "memory.db") as memory,
        aiohttp.ClientSession() as session,
    ):
        yield Harness(client_for(session, sandbox), memory)


@pytest.fixture
async def other_memory(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A second store, which knows nothing the harness's memory learned."""
    async with await SqliteStore.open(tmp_path / "other.db") as memory:
        yield memory


def product_added(product_id: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "shopper",
        "event": "Product Added",
        "context": {"traits": {"email": "shopper@example.com"}},
        "properties": {
            "product_id": product_id,
            "name": product_id.title(),
            "price": 10.5,
            "quantity": quantity,
            "url": f"https://shop.example/{product_id}",
            **extra,
        },
    }


SHOPPER = {"type": "identify", "userId": "shopper", "traits": {"email": "shopper@example.com"}}


def cart_items(sandbox: SandboxHandle, extid: str) -> list[tuple[str, int]]:
    cart = sandbox.user(extid)["cart"]
    return [(item["id"], item["qty"]) for item in cart["items"]] if cart else []


async def test_burst_of_cart_events_is_right_despite_read_lag(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    sandbox.configure(cart_read_lag=3.0)
    for raw in [
        SHOPPER,
        product_added("mug"),
        product_added("mug", 2),
        product_added("hat"),
        {**product_added("mug"), "event": "Product Removed"},
    ]:
        assert (await harness.deliver(raw)).status == "delivered"
    assert cart_items(sandbox, "shopper") == [("mug", 2), ("hat", 1)]


async def test_cart_is_read_from_sailthru_when_memory_has_none(
    sandbox: SandboxHandle, harness: Harness, other_memory: SqliteStore
) -> None:
    await harness.deliver(SHOPPER)
    await harness.deliver(product_added("mug"))
    forgetful = Harness(harness.client, other_memory)
    outcome = await forgetful.deliver(product_added("mug"))
    assert [lookup.source for lookup in outcome.lookups] == ["sailthru"]
    assert cart_items(sandbox, "shopper") == [("mug", 2)]


async def test_cart_post_carries_the_reminder_with_a_plus(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver(SHOPPER)
    await harness.deliver(product_added("mug"))
    cart = sandbox.user("shopper")["cart"]
    assert cart["reminder_template"] == "abandoned cart"
    assert cart["reminder_time"] == "+20 minutes"


async def test_removing_from_an_empty_cart_fails_with_sailthrus_message(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    outcome = await harness.deliver({**product_added("mug"), "event": "Product Removed"})
    assert outcome.status == "failed"
    assert outcome.reason == "Nothing to remove from Incomplete Cart for this user."


async def test_order_email_is_looked_up_from_sailthru_by_extid(
    sandbox: SandboxHandle, harness: Harness, other_memory: SqliteStore
) -> None:
    await harness.deliver(
        {"type": "identify", "userId": "buyer", "traits": {"email": "buyer@example.com"}}
    )
    forgetful = Harness(harness.client, other_memory)
    outcome = await forgetful.deliver(
        {
            "type": "track",
            "userId": "buyer",
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
    )
    assert outcome.status == "delivered"
    assert [lookup.source for lookup in outcome.lookups] == ["sailthru"]
    assert sandbox.user("buyer")["purchases"][0]["items"][0]["price"] == 300
    [record] = [lookup.request_record() for lookup in outcome.lookups]  # as history keeps it
    assert record is not None
    assert (record["method"], record["endpoint"]) == ("GET", "/user")
    assert record["answer"]["found"] is True
    assert record["answer"]["keys"]["email"] == "buyer@example.com"


async def test_order_email_comes_from_memory_without_a_get(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver(
        {"type": "identify", "userId": "buyer", "traits": {"email": "buyer@example.com"}}
    )
    outcome = await harness.deliver(
        {
            "type": "track",
            "userId": "buyer",
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
    )
    assert [lookup.source for lookup in outcome.lookups] == ["memory"]
    assert not [r for r in sandbox.requests() if r["method"] == "GET"]


async def test_order_for_a_user_sailthru_does_not_know_fails_asking_for_identify(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    outcome = await harness.deliver(
        {
            "type": "track",
            "userId": "stranger",
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
    )
    assert outcome.status == "failed"
    assert outcome.reason is not None and "identify" in outcome.reason


async def test_identify_merges_an_existing_anonymous_profile_once(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver({"type": "track", "anonymousId": "anon", "event": "Browsed"})
    merge = {
        "type": "identify",
        "userId": "known",
        "anonymousId": "anon",
        "traits": {"email": "known@example.com"},
    }
    first = await harness.deliver(merge)
    assert [lookup.source for lookup in first.lookups] == ["sailthru"]
    profile = sandbox.user("known")
    assert profile["keys"]["email"] == "known@example.com"
    assert [event["event"] for event in profile["events"]] == ["Browsed"]
    assert sandbox.user("anon") is None
    again = await harness.deliver(merge)
    assert [lookup.source for lookup in again.lookups] == ["memory"]


async def test_identify_without_an_anonymous_profile_is_a_plain_post(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    outcome = await harness.deliver(
        {"type": "identify", "userId": "fresh", "anonymousId": "never-seen"}
    )
    assert outcome.status == "delivered"
    assert outcome.calls[0].params["id"] == "fresh"
    assert sandbox.user("fresh") is not None


async def test_failed_call_teaches_memory_nothing(sandbox: SandboxHandle, harness: Harness) -> None:
    sandbox.configure(fail_rate=1.0)
    outcome = await harness.deliver(
        {"type": "identify", "userId": "u", "traits": {"email": "u@example.com"}}
    )
    assert isinstance(outcome.error, RetryableError)
    assert await harness.memory.email("u") is None


async def test_page_becomes_a_pageview(sandbox: SandboxHandle, harness: Harness) -> None:
    await harness.deliver(
        {
            "type": "page",
            "userId": "reader",
            "context": {"page": {"url": "https://e.com/story"}},
            "properties": {"keywords": ["news"]},
        }
    )
    assert sandbox.user("reader")["pageviews"][0]["tags"] == ["news"]


async def test_user_deleted_removes_the_profile(sandbox: SandboxHandle, harness: Harness) -> None:
    await harness.deliver({"type": "identify", "userId": "leaver"})
    await harness.deliver({"type": "track", "userId": "leaver", "event": "User Deleted"})
    assert sandbox.user("leaver") is None


async def test_subscribed_adds_the_list_and_opts_in(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver(
        {"type": "track", "userId": "fan", "event": "Subscribed", "properties": {"list": "Weekly"}}
    )
    profile = sandbox.user("fan")
    assert "Weekly" in profile["lists"]
    assert profile["optout_email"] == "none"


async def test_alias_merges_previous_id_into_user_id(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver({"type": "identify", "userId": "old-id", "traits": {"a": 1}})
    await harness.deliver({"type": "alias", "previousId": "old-id", "userId": "new-id"})
    assert sandbox.user("new-id")["vars"] == {"a": 1}
    assert sandbox.user("old-id") is None


def test_a_recorded_answer_keeps_the_asked_fields_and_drops_the_cookie() -> None:
    profile = {
        "keys": {"sid": "s1", "cookie": "c-secret", "email": "a@example.com"},
        "vars": {"plan": "gold"},
        "purchase_incomplete": None,
    }

    assert answer_record(profile) == {
        "found": True,
        "keys": {"sid": "s1", "email": "a@example.com"},
        "purchase_incomplete": None,
    }


async def test_a_get_for_an_unknown_user_records_not_found(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    outcome = await harness.deliver(
        {
            "type": "track",
            "userId": "stranger",
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
    )

    [record] = [lookup.request_record() for lookup in outcome.lookups]
    assert record is not None
    assert record["answer"]["found"] is False
    assert record["answer"]["code"] == 99


def profile_by_email(sandbox: SandboxHandle, email: str) -> dict[str, Any] | None:
    found = sandbox.sandbox.account.find("email", email)
    return None if found is None else found.inspect()


async def test_a_cart_after_the_memory_ttl_uses_the_remembered_email(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # Sailthru knows this buyer by email only (no identify, so no extid): once the
    # remembered cart is too old, GET /user by extid finds nobody, and the email
    # sailbridge remembered from the order is what lets the cart be posted.
    memory = await SqliteStore.open(tmp_path / "ttl.db")
    async with aiohttp.ClientSession() as session:
        harness = Harness(client_for(session, sandbox), memory)
        order = {
            "type": "track",
            "userId": "buyer",
            "event": "Order Completed",
            "context": {"traits": {"email": "buyer@example.com"}},
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
        assert (await harness.deliver(order)).status == "delivered"
        assert sandbox.user("buyer") is None
        added = {**product_added("mug"), "userId": "buyer", "context": {}}
        outcome = await deliver_event(
            event_from_dict(added), OPTIONS, memory, harness.client, cart_ttl=0
        )
    await memory.close()
    assert outcome.status == "delivered", outcome.reason
    assert [(lookup.source, type(lookup.request).__name__) for lookup in outcome.lookups] == [
        ("sailthru", "CartLookup")
    ]
    assert outcome.calls[0].params["email"] == "buyer@example.com"
    cart = profile_by_email(sandbox, "buyer@example.com")
    assert cart is not None and [item["id"] for item in cart["cart"]["items"]] == ["mug"]


async def test_deleting_a_user_sailthru_does_not_know_is_done(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    outcome = await harness.deliver({"type": "track", "userId": "nobody", "event": "User Deleted"})
    assert outcome.status == "delivered"
    assert [call.method for call in outcome.calls] == ["DELETE"]


async def test_after_a_deletion_nothing_remembered_comes_back(
    sandbox: SandboxHandle, harness: Harness
) -> None:
    await harness.deliver(
        {
            "type": "identify",
            "userId": "ada",
            "anonymousId": "anon-ada",
            "traits": {"email": "ada@example.com"},
        }
    )
    await harness.deliver({**product_added("mug"), "userId": "ada", "context": {}})
    assert (
        await harness.deliver({"type": "track", "userId": "ada", "event": "User Deleted"})
    ).status == "delivered"
    assert sandbox.user("ada") is None

    assert await harness.memory.email("ada") is None
    assert await harness.memory.cart("ada", 600) is None
    assert not await harness.memory.merged("anon-ada", "ada")
    # No email left: an order without one fails instead of re-creating the profile.
    order = await harness.deliver(
        {
            "type": "track",
            "userId": "ada",
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
        }
    )
    assert order.status == "failed" and "no email is known" in (order.reason or "")
    # A new cart starts empty instead of posting the old items for the deleted person.
    await harness.deliver(
        {"type": "identify", "userId": "ada", "traits": {"email": "ada.new@example.com"}}
    )
    await harness.deliver({**product_added("hat"), "userId": "ada", "context": {}})
    assert cart_items(sandbox, "ada") == [("hat", 1)]
