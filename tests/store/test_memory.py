"""The store's memory: emails, carts and merges learned from delivered events."""

from __future__ import annotations

from sailbridge.mapping.plan import RememberCart, RememberEmail, RememberMerge
from sailbridge.store.base import Store

from .helpers import FakeClock


async def test_email_is_unknown_until_remembered(store: Store) -> None:
    assert await store.email("u1") is None

    await store.apply([RememberEmail("u1", "a@example.com")])

    assert await store.email("u1") == "a@example.com"


async def test_the_latest_email_wins(store: Store) -> None:
    await store.apply([RememberEmail("u1", "a@example.com")])
    await store.apply([RememberEmail("u1", "b@example.com")])

    assert await store.email("u1") == "b@example.com"


async def test_cart_is_returned_while_younger_than_max_age(store: Store,
                                                           clock: FakeClock) -> None:
    items = ({"id": "sku-1", "qty": 2, "title": "Socks", "price": 1299, "url": "https://x"},)
    await store.apply([RememberCart("u1", items)])
    clock.now += 599

    assert await store.cart("u1", max_age=600.0) == items


async def test_cart_older_than_max_age_is_forgotten(store: Store, clock: FakeClock) -> None:
    await store.apply([RememberCart("u1", ({"id": "sku-1", "qty": 1},))])
    clock.now += 601

    assert await store.cart("u1", max_age=600.0) is None


async def test_an_emptied_cart_is_remembered_as_empty(store: Store) -> None:
    await store.apply([RememberCart("u1", ())])

    assert await store.cart("u1", max_age=600.0) == ()


async def test_merges_are_remembered_per_pair(store: Store) -> None:
    await store.apply([RememberMerge("anon1", "u1")])

    assert await store.merged("anon1", "u1") is True
    assert await store.merged("anon1", "u2") is False


async def test_apply_records_several_facts_at_once(store: Store) -> None:
    await store.apply([RememberEmail("u1", "a@example.com"), RememberMerge("anon1", "u1"),
                       RememberCart("u1", ())])

    assert await store.email("u1") == "a@example.com"
    assert await store.merged("anon1", "u1")
    assert await store.cart("u1", 60.0) == ()
