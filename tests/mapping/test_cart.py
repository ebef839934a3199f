"""SPEC §4 Product Added / Product Removed → POST /purchase with the whole cart."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.events import Event
from sailbridge.mapping import cart_from_sailthru
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    CartLookup,
    Deliver,
    EmailLookup,
    Facts,
    Fail,
    Item,
    Lookup,
    Plan,
    RememberCart,
    RememberEmail,
    Skip,
)

from .builders import NO_SETTINGS, only_call, params, plan, track

MONOPOLY: dict[str, Any] = {
    "cart_id": "skdjsidjsdkdj29j",
    "product_id": "507f1f77bcf86cd799439011",
    "sku": "G-32",
    "category": "Games",
    "name": "Monopoly: 3rd Edition",
    "brand": "Hasbro",
    "variant": "200 pieces",
    "price": 18.99,
    "quantity": 1,
    "coupon": "MAYDEALS",
    "position": 3,
    "url": "https://shop/monopoly",
}
MONOPOLY_ITEM: Item = {
    "id": "507f1f77bcf86cd799439011",
    "title": "Monopoly: 3rd Edition",
    "qty": 1,
    "price": 1899,
    "url": "https://shop/monopoly",
    "vars": {
        "cart_id": "skdjsidjsdkdj29j",
        "sku": "G-32",
        "category": "Games",
        "brand": "Hasbro",
        "variant": "200 pieces",
        "coupon": "MAYDEALS",
        "position": 3,
    },
}
OTHER: Item = {"id": "other", "title": "Risk", "qty": 1, "price": 2500, "url": "https://shop/risk"}
EMAIL = "a@example.com"


def added(properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    return track("Product Added", {**MONOPOLY, **(properties or {})}, **fields)


def removed(properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    wanted = {"product_id": MONOPOLY["product_id"], **(properties or {})}
    return track("Product Removed", wanted, **fields)


def cart(*items: Item) -> Facts:
    return Facts(email=EMAIL, cart=items)


def items_after(result: Plan) -> list[Item]:
    items: list[Item] = params(result)["items"]
    return items


# --- both events --------------------------------------------------------------------


@pytest.mark.parametrize("make", [added, removed])
def test_cart_events_without_a_user_id_fail(make: Any) -> None:
    result = plan(make(userId=None, anonymousId="anon-1"))
    assert isinstance(result, Fail)
    assert "needs a userId" in result.reason and "extid" in result.reason


@pytest.mark.parametrize("make", [added, removed])
def test_cart_events_first_look_up_the_cart_by_user_id(make: Any) -> None:
    assert plan(make(userId="u1")) == Lookup(CartLookup("u1"))


@pytest.mark.parametrize("make", [added, removed])
def test_cart_events_look_up_the_email_once_the_cart_is_known(make: Any) -> None:
    facts = Facts(cart=(MONOPOLY_ITEM,))
    assert plan(make(userId="u1"), facts=facts) == Lookup(EmailLookup("u1"))


def test_a_cart_event_with_an_email_needs_no_email_lookup() -> None:
    result = plan(added({"email": EMAIL}), facts=Facts(cart=()))
    assert params(result)["email"] == EMAIL


def test_a_cart_email_in_context_traits_wins_over_properties() -> None:
    event_ = added({"email": "props@example.com"}, context={"traits": {"email": "ctx@example.com"}})
    assert params(plan(event_, facts=Facts(cart=())))["email"] == "ctx@example.com"


def test_a_cart_event_for_a_user_without_email_fails_asking_to_identify_first() -> None:
    result = plan(added(), facts=Facts(email=None, cart=()))
    assert isinstance(result, Fail) and "identify the user with traits.email first" in result.reason


def test_cart_event_posts_an_incomplete_purchase() -> None:
    call = only_call(plan(added(), facts=cart()))
    assert (call.method, call.endpoint) == ("POST", "/purchase")
    assert call.params == {"email": EMAIL, "items": [MONOPOLY_ITEM], "incomplete": 1}


def test_a_cart_post_remembers_the_new_cart() -> None:
    result = plan(added(userId="u1"), facts=cart())
    assert isinstance(result, Deliver)
    assert result.remember == (RememberCart("u1", (MONOPOLY_ITEM,)),)


def test_a_cart_post_remembers_an_email_learned_from_the_event() -> None:
    result = plan(added({"email": EMAIL}, userId="u1"), facts=Facts(cart=()))
    assert isinstance(result, Deliver)
    assert RememberEmail("u1", EMAIL) in result.remember


# --- Product Added ------------------------------------------------------------------


def test_product_added_maps_the_product_like_an_order_product() -> None:
    assert items_after(plan(added(), facts=cart())) == [MONOPOLY_ITEM]


def test_product_added_does_not_copy_the_buyer_email_into_item_vars() -> None:
    (item,) = items_after(plan(added({"email": EMAIL}), facts=Facts(cart=())))
    assert "email" not in item["vars"]


def test_product_added_without_url_uses_the_page_url() -> None:
    event_ = added({"url": None}, context={"page": {"url": "https://shop/cart"}})
    assert items_after(plan(event_, facts=cart()))[0]["url"] == "https://shop/cart"


def test_an_invalid_added_product_fails_before_the_cart_lookup() -> None:
    result = plan(added({"url": None}))
    assert isinstance(result, Fail) and "the product has no url" in result.reason


def test_product_added_appends_a_new_item_after_the_existing_ones() -> None:
    assert items_after(plan(added(), facts=cart(OTHER))) == [OTHER, MONOPOLY_ITEM]


def test_product_added_grows_the_qty_of_an_item_already_in_the_cart() -> None:
    result = plan(added({"quantity": 2}), facts=cart({**MONOPOLY_ITEM, "qty": 3}, OTHER))
    assert items_after(result) == [{**MONOPOLY_ITEM, "qty": 5}, OTHER]


def test_product_added_without_quantity_grows_the_qty_by_one() -> None:
    result = plan(added({"quantity": None}), facts=cart({**MONOPOLY_ITEM, "qty": 3}))
    assert items_after(result)[0]["qty"] == 4


def test_product_added_matches_a_numeric_cart_id() -> None:
    result = plan(added({"product_id": 42}), facts=cart({**OTHER, "id": 42}))
    assert items_after(result) == [{**OTHER, "id": 42, "qty": 2}]


def test_product_added_leaves_the_looked_up_cart_untouched() -> None:
    existing = {**MONOPOLY_ITEM, "qty": 3}
    plan(added(), facts=cart(existing))
    assert existing["qty"] == 3


def test_product_added_to_a_cart_read_from_sailthru_posts_it_back_in_post_shape() -> None:
    stored = {"items": [{**OTHER, "images": {"full": "https://img/risk.png"}}]}
    facts = Facts(email=EMAIL, cart=cart_from_sailthru(stored))
    assert items_after(plan(added(), facts=facts)) == [
        {**OTHER, "images": {"full": {"url": "https://img/risk.png"}}},
        MONOPOLY_ITEM,
    ]


# --- Product Removed ----------------------------------------------------------------


def test_product_removed_from_empty_cart_fails_with_sailthrus_message() -> None:
    result = plan(removed(), facts=cart())
    assert result == Fail("Nothing to remove from Incomplete Cart for this user.")


def test_product_removed_that_is_not_in_the_cart_is_skipped_naming_it() -> None:
    result = plan(removed({"product_id": "ghost"}), facts=cart(OTHER))
    assert isinstance(result, Skip) and "'ghost'" in result.reason


def test_product_removed_shrinks_the_qty_by_the_event_quantity() -> None:
    result = plan(removed({"quantity": 2}), facts=cart({**MONOPOLY_ITEM, "qty": 5}, OTHER))
    assert items_after(result) == [{**MONOPOLY_ITEM, "qty": 3}, OTHER]


def test_product_removed_without_quantity_shrinks_the_qty_by_one() -> None:
    result = plan(removed(), facts=cart({**MONOPOLY_ITEM, "qty": 2}))
    assert items_after(result)[0]["qty"] == 1


@pytest.mark.parametrize("quantity", [1, 3])
def test_product_removed_drops_the_item_at_zero_or_below(quantity: int) -> None:
    result = plan(removed({"quantity": quantity}), facts=cart(OTHER, MONOPOLY_ITEM))
    assert items_after(result) == [OTHER]


def test_removing_the_last_item_posts_an_empty_cart() -> None:
    result = plan(removed(), facts=cart(MONOPOLY_ITEM))
    assert params(result) == {"email": EMAIL, "items": [], "incomplete": 1}


def test_removing_the_last_item_remembers_an_empty_cart() -> None:
    result = plan(removed(userId="u1"), facts=cart(MONOPOLY_ITEM))
    assert isinstance(result, Deliver) and result.remember == (RememberCart("u1", ()),)


def test_product_removed_needs_only_the_product_id() -> None:
    bare = track("Product Removed", {"product_id": MONOPOLY["product_id"]})
    assert items_after(plan(bare, facts=cart(MONOPOLY_ITEM, OTHER))) == [OTHER]


def test_product_removed_without_any_product_id_fails() -> None:
    result = plan(track("Product Removed", {"name": "Monopoly"}))
    assert isinstance(result, Fail) and "the product has no product_id, id or sku" in result.reason


# --- reminders ----------------------------------------------------------------------

REMINDING = MappingOptions(reminder_template="abandoned cart", reminder_time="60 minutes")


def test_reminder_template_and_time_come_from_the_settings() -> None:
    sent = params(plan(added(), REMINDING, cart()))
    assert (sent["reminder_template"], sent["reminder_time"]) == ("abandoned cart", "+60 minutes")


def test_reminder_overrides_beat_the_settings() -> None:
    override = {"Sailthru": {"reminder_template": "cart v2", "reminder_time": "+20 minutes"}}
    sent = params(plan(added(integrations=override), REMINDING, cart()))
    assert (sent["reminder_template"], sent["reminder_time"]) == ("cart v2", "+20 minutes")


def test_reminder_parts_combine_override_and_setting() -> None:
    override = {"Sailthru": {"reminder_template": "cart v2"}}
    settings = MappingOptions(reminder_time="2 weeks")
    sent = params(plan(added(integrations=override), settings, cart()))
    assert (sent["reminder_template"], sent["reminder_time"]) == ("cart v2", "+2 weeks")


@pytest.mark.parametrize(
    ("time", "sent_time"),
    [("20 minutes", "+20 minutes"), ("+20 minutes", "+20 minutes"), ("  24 hours ", "+24 hours")],
)
def test_reminder_time_gets_a_plus_prefix_when_missing(time: str, sent_time: str) -> None:
    settings = MappingOptions(reminder_template="abandoned cart", reminder_time=time)
    assert params(plan(added(), settings, cart()))["reminder_time"] == sent_time


@pytest.mark.parametrize(
    "settings",
    [MappingOptions(reminder_template="abandoned cart"), MappingOptions(reminder_time="1 hour")],
)
def test_no_reminder_is_sent_without_both_template_and_time(settings: MappingOptions) -> None:
    sent = params(plan(added(), settings, cart()))
    assert "reminder_template" not in sent and "reminder_time" not in sent
    assert sent["items"] == [MONOPOLY_ITEM]


def test_an_emptied_cart_gets_no_reminder() -> None:
    sent = params(plan(removed(), REMINDING, cart(MONOPOLY_ITEM)))
    assert "reminder_template" not in sent


def test_product_removed_keeps_the_reminder_while_items_remain() -> None:
    sent = params(plan(removed(), REMINDING, cart(MONOPOLY_ITEM, OTHER)))
    assert sent["reminder_time"] == "+60 minutes"


def test_segments_documented_product_added_example_posts_cart_and_reminder() -> None:
    documented = added(
        integrations={
            "Sailthru": {"reminder_template": "abandoned cart", "reminder_time": "+20 minutes"}
        }
    )
    assert params(plan(documented, NO_SETTINGS, cart())) == {
        "email": EMAIL,
        "items": [MONOPOLY_ITEM],
        "incomplete": 1,
        "reminder_template": "abandoned cart",
        "reminder_time": "+20 minutes",
    }


# --- properties of a sequence of cart events ----------------------------------------


def run(events: list[Event]) -> tuple[Item, ...]:
    """Apply cart events one by one, feeding each posted cart into the next plan."""
    current: tuple[Item, ...] = ()
    for cart_event in events:
        result = plan(cart_event, facts=cart(*current))
        if isinstance(result, Deliver):
            current = tuple(params(result)["items"])
    return current


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6))
def test_adding_a_product_repeatedly_sums_the_quantities(quantities: list[int]) -> None:
    final = run([added({"quantity": q}) for q in quantities])
    assert [(i["id"], i["qty"]) for i in final] == [(MONOPOLY["product_id"], sum(quantities))]


@given(st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=10))
def test_removing_leaves_the_difference_or_nothing(had: int, take: int) -> None:
    final = run([added({"quantity": had}), removed({"quantity": take})])
    assert [i["qty"] for i in final] == ([had - take] if had > take else [])


def test_an_absolute_reminder_time_is_sent_as_written() -> None:
    settings = MappingOptions(reminder_template="abandoned cart", reminder_time="2026-12-24 09:00")
    assert params(plan(added(), settings, cart()))["reminder_time"] == "2026-12-24 09:00"
