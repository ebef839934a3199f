"""Reading the loosely typed JSON values that events carry.

Segment events come from many producers, so the same field may arrive as a string, a
number or something unusable. These helpers decide once, in one place, what counts as
"present" and how numbers are read, so every event type treats them alike.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sailbridge.mapping.errors import Unmappable

_CENT = Decimal(1)


def text(value: Any) -> str | None:
    """A non-blank string, stripped; ``None`` for blanks and non-strings.

    Blank strings count as absent because settings UIs and SDKs send ``""`` for
    "not set", and stray spaces would otherwise name a different list or template.
    """
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def identifier(value: Any) -> str | None:
    """An id as Sailthru stores it: a non-blank string, or a number written as text.

    Numeric ids are common (``product_id: 42``); Segment's SDKs stringify them too.
    Booleans are not ids.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return text(value)


def string_list(value: Any) -> list[str] | None:
    """A list of strings (blank ones dropped), or a comma-separated string split up.

    Returns ``None`` when nothing usable is left, or when ``value`` is neither form
    (a list holding non-strings included): a half-kept list would be a silent guess.
    """
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = value
    else:
        return None
    kept = [part.strip() for part in parts if part.strip()]
    return kept or None


def whole_number(value: Any, what: str) -> int:
    """A count of at least 1, from an int, an integral float or a numeric string."""
    number = _decimal(value)
    if number is None or number != number.to_integral_value() or number < 1:
        raise Unmappable(f"{what} must be a whole number of at least 1, got {value!r}")
    return int(number)


def cents(value: Any, what: str) -> int:
    """An amount in currency units as integer cents, rounded half up, computed exactly.

    ``Decimal(str(value))`` reads ``18.99`` as written instead of as the binary float
    ``18.989999...``, so ``18.99`` is always 1899. Numeric strings are accepted.
    """
    number = _decimal(value)
    if number is None:
        raise Unmappable(f"{what} must be a number, got {value!r}")
    return int((number * 100).quantize(_CENT, rounding=ROUND_HALF_UP))


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string; ``None`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
