"""``clearIncompleteCartAfterNHours``: a stale cart starts empty (Segment's Sailthru v2).

Product Added / Removed may carry the property; ``SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS``
is the default for events without it. When the cart read back (Sailthru's
``purchase_incomplete.time``, or the time sailbridge remembers posting it) is older than
that many hours, the cart is cleared before the event's change is applied, so items a
shopper abandoned weeks ago do not ride along forever.

Pure: the age comes in as a fact (`Facts.cart_age`, measured by the executor when it
read the cart), so the decision here never reads a clock.
"""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime
from typing import Any, Final

from sailbridge.events import Event
from sailbridge.mapping.options import MappingOptions

EXPIRY_PROPERTY: Final = "clearIncompleteCartAfterNHours"

SECONDS_PER_HOUR: Final = 3600


def parse_expiry_hours(value: Any) -> int | str:
    """Whole hours from ``value``, or why it is not a number of hours.

    v2's rules: a positive integer; a float is truncated (``24.9`` → 24); a numeric
    string is read as its number (``"48"``, ``" 12.5 "``). Booleans, zero and below
    (after truncation: ``0.5`` is 0), non-numbers, NaN and infinities are refused.
    """
    if isinstance(value, bool):
        return f"must be a positive number of hours, not {value!r}"
    number: float
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return f"must be a positive number of hours, not {value!r}"
    else:
        return f"must be a positive number of hours, not {type(value).__name__}"
    if not math.isfinite(number):
        return f"must be a positive number of hours, not {value!r}"
    hours = math.trunc(number)
    if hours < 1:
        return f"must be at least 1 hour once truncated to whole hours, not {value!r}"
    return hours


def expiry_hours(event: Event, options: MappingOptions) -> int | None:
    """The event's hours, else the setting's; an unusable property counts as absent
    (`expiry_warning` says so in ``explain``) rather than failing the cart event."""
    raw = event.properties.get(EXPIRY_PROPERTY)
    parsed = None if raw is None else parse_expiry_hours(raw)
    if isinstance(parsed, int):
        return parsed
    return options.clear_cart_after_hours


def expiry_warning(event: Event) -> str | None:
    """Why the event's ``clearIncompleteCartAfterNHours`` is ignored, or ``None``."""
    raw = event.properties.get(EXPIRY_PROPERTY)
    if raw is None:
        return None
    parsed = parse_expiry_hours(raw)
    if isinstance(parsed, int):
        return None
    return (
        f"properties.{EXPIRY_PROPERTY} is ignored: it {parsed} "
        "(the SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS default applies, if set)"
    )


def is_expired(cart_age: float | None, hours: int | None) -> bool:
    """Whether a cart last changed ``cart_age`` seconds ago is older than ``hours``."""
    return cart_age is not None and hours is not None and cart_age > hours * SECONDS_PER_HOUR


def cart_time(purchase_incomplete: dict[str, Any] | None) -> float | None:
    """When the cart GET /user returned was last updated (epoch seconds), or ``None``.

    Sailthru writes ``purchase_incomplete.time`` as an RFC 2822 date
    (``Mon, 07 Dec 2026 18:40:00 -0000``); an epoch number is read too, and anything
    else counts as unknown: an unreadable time never clears a cart.
    """
    if not purchase_incomplete:
        return None
    value = purchase_incomplete.get("time")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
    return None
