"""Which mapping a track event gets: Segment's spec events by name, else a custom event."""

from __future__ import annotations

from sailbridge.events import Event
from sailbridge.mapping.cart import plan_product_added, plan_product_removed
from sailbridge.mapping.custom import plan_custom_event
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.orders import plan_order_completed
from sailbridge.mapping.plan import Facts, Plan
from sailbridge.mapping.refunds import plan_order_refunded
from sailbridge.mapping.routing import normalize_event_name
from sailbridge.mapping.users import plan_subscribed, plan_user_deleted
from sailbridge.mapping.values import text


def plan_track(event: Event, options: MappingOptions, facts: Facts) -> Plan:
    """Route by the normalised event name (``Order Completed`` = ``order_completed``).

    ``Subscribed`` without a ``properties.list`` names no list to join, so it stays
    an ordinary custom event that a Lifecycle Optimizer flow can still react to.
    """
    name = event.event
    if name is None or not name.strip():
        raise Unmappable("track needs an event name")
    match normalize_event_name(name):
        case "ordercompleted":
            return plan_order_completed(event, facts)
        case "orderrefunded":
            return plan_order_refunded(event, facts)
        case "productadded":
            return plan_product_added(event, options, facts)
        case "productremoved":
            return plan_product_removed(event, options, facts)
        case "userdeleted":
            return plan_user_deleted(event)
        case "subscribed" if (list_name := text(event.properties.get("list"))) is not None:
            return plan_subscribed(event, list_name)
        case _:
            return plan_custom_event(event, name)
