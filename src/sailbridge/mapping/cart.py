"""Product Added / Product Removed → POST /purchase with ``incomplete: 1`` (SPEC §4).

Sailthru keeps one incomplete purchase per user and each ``incomplete: 1`` post
REPLACES it, so a cart event must post the user's whole updated cart: the current
cart is looked up first (sailbridge's fresh memory, else GET /user), then changed. A
cart older than ``clearIncompleteCartAfterNHours`` starts empty (`cart_expiry`); a
Removed event on such a cart posts the empty cart, clearing the stale one.
"""

from __future__ import annotations

from typing import Any

from sailbridge.events import Event
from sailbridge.mapping.cart_expiry import (
    EXPIRY_PROPERTY,
    SECONDS_PER_HOUR,
    expiry_hours,
    is_expired,
)
from sailbridge.mapping.context import page_url
from sailbridge.mapping.emails import purchase_email
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    UNKNOWN,
    CartLookup,
    Deliver,
    Facts,
    Item,
    Lookup,
    Plan,
    RememberCart,
    Skip,
)
from sailbridge.mapping.products import product_id, product_quantity, purchase_item
from sailbridge.mapping.routing import read_overrides
from sailbridge.mapping.values import text
from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.times import sailthru_time

PRODUCT = "the product"
"""How failure reasons name a cart event's product (its properties are the product)."""

NOTHING_TO_REMOVE = "Nothing to remove from Incomplete Cart for this user."
"""Segment's classic destination's wording, kept so existing runbooks still match."""


def plan_product_added(event: Event, options: MappingOptions, facts: Facts) -> Plan:
    """Add the product to the cart: more of an item already there, else a new item."""
    user_id = _require_user_id(event)
    item = purchase_item(event.properties, PRODUCT, page_url(event))
    reminder = _reminder(event, options)
    if facts.cart is UNKNOWN:
        return Lookup(CartLookup(user_id))
    cart, notes = _current_cart(event, options, facts.cart, facts.cart_age)
    index = _find(cart, item["id"])
    if index is None:
        return _post_cart(event, facts, user_id, (*cart, item), reminder, notes)
    grown = {**cart[index], "qty": _qty(cart[index]) + item["qty"]}
    return _post_cart(event, facts, user_id, _replace(cart, index, (grown,)), reminder, notes)


def plan_product_removed(event: Event, options: MappingOptions, facts: Facts) -> Plan:
    """Take the product's quantity out of the cart; an item at zero or below leaves it.

    Only the id and quantity are read: the item being removed is already in the cart
    with its url and price, so a Removed event needs neither.
    """
    user_id = _require_user_id(event)
    removed_id = product_id(event.properties, PRODUCT)
    quantity = product_quantity(event.properties, PRODUCT)
    reminder = _reminder(event, options)
    if facts.cart is UNKNOWN:
        return Lookup(CartLookup(user_id))
    cart, notes = _current_cart(event, options, facts.cart, facts.cart_age)
    if notes:
        # The stale cart is cleared in Sailthru too; nothing is left to remove from.
        return _post_cart(event, facts, user_id, (), reminder, notes)
    if not cart:
        raise Unmappable(NOTHING_TO_REMOVE)
    index = _find(cart, removed_id)
    if index is None:
        # Removing what is not there changes nothing; the event is not wrong, just late
        # or duplicated, so it is skipped rather than failed.
        return Skip(
            f"product {removed_id!r} is not in this user's Incomplete Cart; nothing to remove"
        )
    left = _qty(cart[index]) - quantity
    kept = ({**cart[index], "qty": left},) if left > 0 else ()
    return _post_cart(event, facts, user_id, _replace(cart, index, kept), reminder)


def _current_cart(
    event: Event, options: MappingOptions, cart: tuple[Item, ...], age: float | None
) -> tuple[tuple[Item, ...], tuple[str, ...]]:
    """The cart to change, and a note when it was too old and starts empty instead."""
    hours = expiry_hours(event, options)
    if not cart or not is_expired(age, hours):
        return cart, ()
    assert age is not None and hours is not None  # is_expired checked both
    note = (
        f"the cart read back was last updated {age / SECONDS_PER_HOUR:.1f} hours ago, "
        f"older than {EXPIRY_PROPERTY}={hours}: it starts empty"
    )
    return (), (note,)


def _require_user_id(event: Event) -> str:
    if event.user_id is None:
        raise Unmappable(
            f"{event.event} needs a userId: Sailthru's cart is read by extid = userId, "
            "and an anonymousId cannot identify it"
        )
    return event.user_id


def _find(cart: tuple[Item, ...], wanted: str) -> int | None:
    """The position of the item with id ``wanted``; cart ids read back may be numbers."""
    for index, item in enumerate(cart):
        if str(item.get("id")) == wanted:
            return index
    return None


def _replace(cart: tuple[Item, ...], index: int, by: tuple[Item, ...]) -> tuple[Item, ...]:
    """A new cart with the item at ``index`` replaced by ``by`` (the facts stay as they were)."""
    return (*cart[:index], *by, *cart[index + 1 :])


def _qty(item: Item) -> int:
    return int(item.get("qty", 1))


def _post_cart(
    event: Event,
    facts: Facts,
    user_id: str,
    items: tuple[Item, ...],
    reminder: dict[str, str],
    notes: tuple[str, ...] = (),
) -> Plan:
    email = purchase_email(event, facts, user_id)
    if isinstance(email, Lookup):
        return email
    params: dict[str, Any] = {"email": email.address, "items": list(items), "incomplete": 1}
    if items:
        # An empty cart has nothing to remind about.
        params.update(reminder)
    return Deliver(
        calls=(Call("POST", "/purchase", params),),
        remember=(RememberCart(user_id, items), *email.remember(user_id)),
        notes=notes,
    )


def _reminder(event: Event, options: MappingOptions) -> dict[str, str]:
    """``reminder_template`` and ``reminder_time``, only when both are known.

    Each comes from the event's override, else the setting. A template without a time
    (or the reverse) is not a reminder Sailthru can schedule, so neither is sent and
    the cart is still updated.
    """
    overrides = read_overrides(event)
    template = overrides.reminder_template or text(options.reminder_template)
    time = overrides.reminder_time or text(options.reminder_time)
    if template is None or time is None:
        return {}
    return {"reminder_template": template, "reminder_time": sailthru_time(time)}
