"""Order Completed → POST /purchase with ``incomplete: 0`` (SPEC §4)."""

from __future__ import annotations

from typing import Any, Final

from sailbridge.events import Event
from sailbridge.flatten import flatten
from sailbridge.mapping.context import page_url
from sailbridge.mapping.emails import purchase_email
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.plan import Deliver, Facts, Item, Lookup, Plan, RememberCart
from sailbridge.mapping.products import purchase_item
from sailbridge.mapping.routing import require_user_key
from sailbridge.mapping.values import cents, identifier, text
from sailbridge.sailthru.calls import Call

_NOT_ORDER_VARS: Final = frozenset(("products", "email", "adjustments"))
"""Order properties sent as purchase fields; every other one goes to the order's vars."""

_ADJUSTMENT_FIELDS: Final = (("shipping", "Shipping"), ("tax", "Tax"), ("discount", "Discount"))


def plan_order_completed(event: Event, facts: Facts) -> Plan:
    """The purchase, or the email lookup it still needs.

    Everything the event alone decides is checked first, so a malformed order fails at
    once instead of after a GET to Sailthru.
    """
    user_key = require_user_key(event)
    params: dict[str, Any] = {
        "items": order_items(event, "Order Completed", "Sailthru rejects a purchase with no items"),
        "incomplete": 0,
    }
    adjustments = _adjustments(event.properties)
    if adjustments:
        params["adjustments"] = adjustments
    if event.timestamp:
        params["date"] = event.timestamp
    params.update(order_keys_and_vars(event, _NOT_ORDER_VARS))
    email = purchase_email(event, facts, user_key)
    if isinstance(email, Lookup):
        return email
    # The buyer's cart became this order; a remembered cart would resurrect it.
    return Deliver(
        calls=(Call("POST", "/purchase", {"email": email.address, **params}),),
        remember=(RememberCart(user_key, ()), *email.remember(user_key)),
    )


def order_keys_and_vars(event: Event, not_vars: frozenset[str]) -> dict[str, Any]:
    """The order id as ``purchase_keys`` and the other properties, flattened, as ``vars``
    (each left out when empty).

    A purchase and a return file the same order the same way, so Sailthru can tie a
    refund to its order; ``not_vars`` names the properties the call sends as fields.
    """
    fields: dict[str, Any] = {}
    order_id = identifier(event.properties.get("order_id"))
    if order_id is not None:
        fields["purchase_keys"] = {"extid": order_id}
    order_vars = flatten({k: v for k, v in event.properties.items() if k not in not_vars})
    if order_vars:
        fields["vars"] = order_vars
    return fields


def order_items(event: Event, name: str, why: str) -> list[Item]:
    """The event's ``products`` as purchase items; `Unmappable` when there are none.

    ``name`` and ``why`` word the failure: which event lacks products, and why
    Sailthru needs them (Order Completed and Order Refunded share this).
    """
    products = event.properties.get("products")
    if not isinstance(products, list) or not products:
        raise Unmappable(f"{name} has no products; {why}")
    url = page_url(event)
    items: list[Item] = []
    for index, product in enumerate(products):
        label = f"products[{index}]"
        if not isinstance(product, dict):
            raise Unmappable(f"{label} must be an object, got {type(product).__name__}")
        items.append(purchase_item(product, label, url))
    return items


def _adjustments(properties: dict[str, Any]) -> list[Any]:
    """``properties.adjustments`` as given, else shipping, tax and discount in cents.

    Given adjustments are passed through untouched (Segment's documented behaviour),
    so their prices must already be Sailthru's integer cents: one that is not fails
    the event here, before any call, because Sailthru would reject the whole order.
    Built ones leave out zero amounts, which would only clutter the purchase log.
    """
    given = properties.get("adjustments")
    if given is not None:
        if not isinstance(given, list):
            raise Unmappable(
                "adjustments must be a list of {title, price} objects, "
                f"got {type(given).__name__}"
            )
        for index, adjustment in enumerate(given):
            check_adjustment(adjustment, f"adjustments[{index}]")
        return given
    built: list[dict[str, Any]] = []
    for field, title in _ADJUSTMENT_FIELDS:
        value = properties.get(field)
        if value is None:
            continue
        amount = cents(value, field)
        if field == "discount":
            # Segment sends discounts as positive amounts; Sailthru subtracts negatives.
            amount = -abs(amount)
        if amount:
            built.append({"title": title, "price": amount})
    return built


def check_adjustment(adjustment: Any, label: str) -> None:
    """Fail unless ``adjustment`` is what Sailthru takes: a title and integer cents.

    Sailthru reads adjustment prices as integer cents (discounts negative) and rejects
    the whole purchase otherwise, and purchases cannot be corrected afterwards, so a
    price in dollars (``5.99``) is refused here with the value it should have been.
    """
    if not isinstance(adjustment, dict):
        raise Unmappable(
            f"{label} must be a {{title, price}} object, got {type(adjustment).__name__}"
        )
    if text(adjustment.get("title")) is None:
        raise Unmappable(f"{label} needs a title; Sailthru requires one for every adjustment")
    price = adjustment.get("price")
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise Unmappable(
            f"{label} price must be a number of cents (an integer, e.g. 599 for $5.99), "
            f"got {price!r}"
        )
    if isinstance(price, float) and not price.is_integer():
        raise Unmappable(
            f"{label} price {price!r} is not a whole number of cents: Sailthru expects "
            f"adjustment prices in integer cents (e.g. {round(price * 100)} for {price}); "
            "properties.adjustments is sent as given, so convert it before sending"
        )
