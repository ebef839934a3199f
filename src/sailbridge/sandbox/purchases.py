"""POST /purchase validation and the two item shapes Sailthru speaks.

Validation is strict on purpose: the sandbox exists to catch the mistakes real
Sailthru punishes (dollar prices, missing urls, unknown templates) before production
does. Every check runs before any state changes, so a refused purchase leaves no trace.

Shapes: POST takes ``images: {"full": {"url": "https://..."}}``; GET /user returns
``images: {"full": "https://..."}``. Prices are integer cents both ways.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sailbridge.sailthru.times import accepted_by_sailthru
from sailbridge.sandbox.errors import (
    INVALID_EMAIL,
    INVALID_TIME,
    UNKNOWN_TEMPLATE,
    ApiError,
    invalid,
    missing,
)

Item = dict[str, Any]

EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

REQUIRED_ITEM_FIELDS: Final = ("id", "title", "qty", "price", "url")

RETURN_ITEM_FIELDS: Final = ("qty", "price", "url")
"""What POST /return requires of each item (``id`` optional, no title)."""


@dataclass(frozen=True)
class PurchaseRequest:
    """A POST /purchase that passed validation; items are kept in POST shape."""

    email: str
    items: list[Item]
    incomplete: bool
    reminder_template: str | None = None
    reminder_time: str | None = None
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """``date``, ``vars``, ``purchase_keys``, ``message_id`` and any other parameter, as sent."""


def is_email(value: Any) -> bool:
    return isinstance(value, str) and EMAIL.match(value) is not None


def parse_purchase(params: Mapping[str, Any], templates: frozenset[str]) -> PurchaseRequest:
    """Validate a POST /purchase in the order Sailthru reports problems."""
    email = params.get("email")
    if email is None or email == "":
        raise missing("email")
    if not is_email(email):
        raise ApiError(INVALID_EMAIL, f"Invalid email: {email}")
    incomplete = _incomplete(params.get("incomplete", 0))
    if "items" not in params:
        raise missing("items")
    raw_items = params["items"]
    if not isinstance(raw_items, list):
        raise invalid("items must be an array of items")
    if not raw_items and not incomplete:
        raise invalid("No items in purchase")
    items = [_item(index, item) for index, item in enumerate(raw_items)]
    template = params.get("reminder_template")
    if template is not None and template not in templates:
        raise ApiError(UNKNOWN_TEMPLATE, f"Unknown template: {template}")
    reminder_time = params.get("reminder_time")
    if reminder_time is not None and (
        not isinstance(reminder_time, str) or not accepted_by_sailthru(reminder_time)
    ):
        raise ApiError(INVALID_TIME, f"Invalid time: {reminder_time}")
    adjustments = _adjustments(params.get("adjustments", []))
    for name in ("vars", "purchase_keys"):
        if name in params and not isinstance(params[name], dict):
            raise invalid(f"{name} must be an object")
    known = {"email", "items", "incomplete", "reminder_template", "reminder_time", "adjustments"}
    extra = {name: value for name, value in params.items() if name not in known}
    return PurchaseRequest(
        email=email,
        items=items,
        incomplete=incomplete,
        reminder_template=template,
        reminder_time=reminder_time,
        adjustments=adjustments,
        extra=extra,
    )


def _incomplete(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if (isinstance(value, int) and value in (0, 1)) or value in ("0", "1"):
        return int(value) == 1
    raise invalid(f"incomplete must be 0 or 1, not {value!r}")


@dataclass(frozen=True)
class ReturnRequest:
    """A POST /return that passed validation: returned items, and any other parameter."""

    email: str
    items: list[Item]
    extra: dict[str, Any] = field(default_factory=dict)


def parse_return(params: Mapping[str, Any]) -> ReturnRequest:
    """Validate a POST /return: ``email`` and ``items`` required, each item with
    ``qty``, ``price`` (integer cents per item) and ``url``; ``id`` optional."""
    email = params.get("email")
    if email is None or email == "":
        raise missing("email")
    if not is_email(email):
        raise ApiError(INVALID_EMAIL, f"Invalid email: {email}")
    if "items" not in params:
        raise missing("items")
    raw_items = params["items"]
    if not isinstance(raw_items, list):
        raise invalid("items must be an array of items")
    if not raw_items:
        raise invalid("No items in return")
    items = [_item(index, item, RETURN_ITEM_FIELDS) for index, item in enumerate(raw_items)]
    for name in ("vars", "purchase_keys"):
        if name in params and not isinstance(params[name], dict):
            raise invalid(f"{name} must be an object")
    extra = {name: value for name, value in params.items() if name not in ("email", "items")}
    return ReturnRequest(email=email, items=items, extra=extra)


def _item(index: int, item: Any, required: tuple[str, ...] = REQUIRED_ITEM_FIELDS) -> Item:
    if not isinstance(item, dict):
        raise invalid(f"Item {index} must be an object")
    for name in required:
        if name not in item or item[name] is None or item[name] == "":
            raise invalid(f"Item {index} is missing required field: {name}")
    qty = item["qty"]
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
        raise invalid(f"Item {index} qty must be a positive integer, not {qty!r}")
    price = item["price"]
    if isinstance(price, bool) or not isinstance(price, int):
        raise invalid(
            f"Item {index} price must be an integer number of cents, not {price!r} "
            "(prices are integer cents: send 1099 for $10.99)"
        )
    if price < 0:
        raise invalid(f"Item {index} price must not be negative, not {price}")
    if not isinstance(item["url"], str):
        raise invalid(f"Item {index} url must be a string")
    if "title" in item and not isinstance(item["title"], str):
        raise invalid(f"Item {index} title must be a string")
    if "id" in item and (not isinstance(item["id"], str | int) or isinstance(item["id"], bool)):
        raise invalid(f"Item {index} id must be a string or an integer")
    tags = item.get("tags")
    if tags is not None and not (
        isinstance(tags, str) or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
    ):
        raise invalid(f"Item {index} tags must be an array of strings or a comma-separated string")
    if "vars" in item and not isinstance(item["vars"], dict):
        raise invalid(f"Item {index} vars must be an object")
    images = item.get("images")
    if images is not None:
        if not isinstance(images, dict):
            raise invalid(f"Item {index} images must be an object")
        for name, image in images.items():
            if not (isinstance(image, dict) and isinstance(image.get("url"), str)):
                raise invalid(
                    f"Item {index} images.{name} must be an object with a url, "
                    f'like {{"{name}": {{"url": "https://..."}}}}'
                )
    return dict(item)


def _adjustments(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid("adjustments must be an array of {title, price}")
    for index, adjustment in enumerate(value):
        if (
            not isinstance(adjustment, dict)
            or "title" not in adjustment
            or "price" not in adjustment
        ):
            raise invalid(f"Adjustment {index} needs a title and a price")
        price = adjustment["price"]
        if isinstance(price, bool) or not isinstance(price, int):
            raise invalid(
                f"Adjustment {index} price must be an integer number of cents, not {price!r} "
                "(prices are integer cents)"
            )
    return [dict(adjustment) for adjustment in value]


def item_get_shape(item: Item) -> Item:
    """An item as GET /user returns it: image objects flattened to their URL strings."""
    shaped: Item = {
        "id": item["id"],
        "title": item["title"],
        "qty": item["qty"],
        "price": item["price"],
        "url": item["url"],
        "tags": _tag_list(item.get("tags")),
        "vars": dict(item.get("vars") or {}),
    }
    images = item.get("images")
    if images:
        shaped["images"] = {name: image["url"] for name, image in images.items()}
    for name, value in item.items():
        if name not in shaped and name != "images":
            shaped[name] = value
    return shaped


def _tag_list(tags: str | list[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tag.strip() for tag in tags.split(",") if tag.strip()]
    return list(tags)


def total_price(items: Sequence[Item], adjustments: Sequence[Mapping[str, Any]] = ()) -> int:
    """Cents: price × qty for every item, plus every adjustment (discounts are negative)."""
    items_total: int = sum(item["price"] * item["qty"] for item in items)
    adjustments_total: int = sum(adjustment["price"] for adjustment in adjustments)
    return items_total + adjustments_total


def total_qty(items: Sequence[Item]) -> int:
    return sum(item["qty"] for item in items)
