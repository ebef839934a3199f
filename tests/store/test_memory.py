"""The store's memory: emails, carts and merges learned from delivered events."""

from __future__ import annotations

from sailbridge.delivery.executor import (
    LookupRecord,
    MemoryFirstFacts,
    PlaceholderFacts,
    resolve_plan,
)
from sailbridge.events import event_from_dict
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, RememberCart, RememberEmail, RememberMerge
from sailbridge.store.base import Store
from sailbridge.store.memory import RememberedCart

from .helpers import FakeClock


async def test_email_is_unknown_until_remembered(store: Store) -> None:
    assert await store.email("u1") is None

    await store.apply([RememberEmail("u1", "a@example.com")])

    assert await store.email("u1") == "a@example.com"


async def test_the_latest_email_wins(store: Store) -> None:
    await store.apply([RememberEmail("u1", "a@example.com")])
    await store.apply([RememberEmail("u1", "b@example.com")])

    assert await store.email("u1") == "b@example.com"


async def test_cart_is_returned_while_younger_than_max_age(store: Store, clock: FakeClock) -> None:
    items = ({"id": "sku-1", "qty": 2, "title": "Socks", "price": 1299, "url": "https://x"},)
    posted = clock.now
    await store.apply([RememberCart("u1", items)])
    clock.now += 599

    # With the time it was posted: the cart's age for clearIncompleteCartAfterNHours.
    assert await store.cart("u1", max_age=600.0) == RememberedCart(items, posted)


async def test_cart_older_than_max_age_is_forgotten(store: Store, clock: FakeClock) -> None:
    await store.apply([RememberCart("u1", ({"id": "sku-1", "qty": 1},))])
    clock.now += 601

    assert await store.cart("u1", max_age=600.0) is None


async def test_an_emptied_cart_is_remembered_as_empty(store: Store) -> None:
    await store.apply([RememberCart("u1", ())])

    remembered = await store.cart("u1", max_age=600.0)
    assert remembered is not None and remembered.items == ()


async def test_merges_are_remembered_per_pair(store: Store) -> None:
    await store.apply([RememberMerge("anon1", "u1")])

    assert await store.merged("anon1", "u1") is True
    assert await store.merged("anon1", "u2") is False


async def test_apply_records_several_facts_at_once(store: Store) -> None:
    await store.apply(
        [RememberEmail("u1", "a@example.com"), RememberMerge("anon1", "u1"), RememberCart("u1", ())]
    )

    assert await store.email("u1") == "a@example.com"
    assert await store.merged("anon1", "u1")
    remembered = await store.cart("u1", 60.0)
    assert remembered is not None and remembered.items == ()


async def test_a_remembered_cart_is_as_old_as_its_post_for_cart_expiry(
    store: Store, clock: FakeClock
) -> None:
    """Delivery's fact source gives the remembered cart its age, so a Product Added with
    clearIncompleteCartAfterNHours starts a new cart when the remembered one is stale."""
    old = {"id": "old", "title": "Old", "qty": 1, "price": 100, "url": "https://shop/old"}
    await store.apply([RememberEmail("u1", "a@example.com"), RememberCart("u1", (old,))])
    clock.now += 30 * 3600
    event = event_from_dict(
        {
            "type": "track",
            "userId": "u1",
            "event": "Product Added",
            "messageId": "m1",
            "properties": {
                "product_id": "new",
                "price": 1,
                "url": "https://shop/new",
                "clearIncompleteCartAfterNHours": 24,
            },
        }
    )
    lookups: list[LookupRecord] = []
    facts = MemoryFirstFacts(store, PlaceholderFacts(), 48 * 3600, lookups, clock)

    resolved = await resolve_plan(event, MappingOptions(), facts, lookups)

    assert [lookup.source for lookup in lookups] == ["memory"]
    assert isinstance(resolved.plan, Deliver)
    assert [item["id"] for item in resolved.plan.calls[0].params["items"]] == ["new"]
    assert "30.0 hours ago" in resolved.plan.notes[0]
