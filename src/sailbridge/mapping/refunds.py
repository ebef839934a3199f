"""Order Refunded → POST /return (Segment ecommerce v2; SPEC §4 and §10).

Sailthru cannot edit a purchase; a refund is told to it as a return, which corrects
the profile's net revenue. /return files the buyer by email and needs the returned
items (``qty``, ``price`` in cents per item, ``url``, optional ``id``), so the email is
found as for Order Completed and the products are mapped as for purchases.

Where the documentation is silent (docs/mapping.md): the order id goes out as
``purchase_keys: {"extid": order_id}``, as on /purchase, and stays in ``vars`` with the
refund's other properties (its exact parameter name on /return is unconfirmed). A
refund without products fails: Segment's spec reads that as "the whole order", but
sailbridge does not know the order's items and Sailthru would refuse an empty return.
"""

from __future__ import annotations

from typing import Any, Final

from sailbridge.events import Event
from sailbridge.mapping.emails import purchase_email
from sailbridge.mapping.orders import order_items, order_keys_and_vars
from sailbridge.mapping.plan import Deliver, Facts, Lookup, Plan
from sailbridge.mapping.routing import require_user_key
from sailbridge.sailthru.calls import Call

NO_PRODUCTS: Final = (
    "Sailthru's POST /return needs the returned items (qty, price, url each): list the "
    "refunded products in properties.products, every product of the order for a full refund"
)

_NOT_RETURN_VARS: Final = frozenset(("products", "email"))
"""Refund properties sent as return fields; every other one goes to the return's vars."""


def plan_order_refunded(event: Event, facts: Facts) -> Plan:
    """The return, or the email lookup it still needs (the event is checked first)."""
    user_key = require_user_key(event)
    params: dict[str, Any] = {"items": order_items(event, "Order Refunded", NO_PRODUCTS)}
    params.update(order_keys_and_vars(event, _NOT_RETURN_VARS))
    email = purchase_email(event, facts, user_key)
    if isinstance(email, Lookup):
        return email
    return Deliver(
        calls=(Call("POST", "/return", {"email": email.address, **params}),),
        remember=email.remember(user_key),
    )
