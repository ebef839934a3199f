"""One sandbox profile and what it holds: keys, vars, lists, the cart and purchases.

Pure data with the shapes Sailthru answers in; the `Account` (`sailbridge.sandbox.account`)
finds, creates, merges and indexes profiles. Cart reads may lag: each cart post is kept
as a version with its time, so `Profile.cart_as_of` can return the cart current
``lag`` seconds ago, as Sailthru's eventually consistent reads do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Final

from sailbridge.sandbox.purchases import Item, item_get_shape, total_price, total_qty

KEY_TYPES: Final = ("sid", "email", "extid")
SETTABLE_KEYS: Final = ("email", "extid")
OPTOUT_STRICTNESS: Final = ("none", "basic", "blast", "all")
"""``optout_email`` values, least strict first (a merge keeps the stricter)."""


@dataclass
class Cart:
    """A user's incomplete purchase as last posted (items in POST shape)."""

    items: list[Item]
    time: float
    reminder_template: str | None = None
    reminder_time: str | None = None
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def get_shape(self) -> dict[str, Any]:
        """``purchase_incomplete`` as GET /user returns it; ``time`` (the last cart
        update) in RFC 2822, as Sailthru writes it."""
        shaped: dict[str, Any] = {
            "items": [item_get_shape(item) for item in self.items],
            "price": total_price(self.items, self.adjustments),
            "qty": total_qty(self.items),
            "time": _date(self.time),
        }
        if self.reminder_template is not None:
            shaped["reminder_template"] = self.reminder_template
        if self.reminder_time is not None:
            shaped["reminder_time"] = self.reminder_time
        if self.adjustments:
            shaped["adjustments"] = self.adjustments
        return {**self.extra, **shaped}

    def inspect(self) -> dict[str, Any]:
        """The cart as it was posted, for the inspection API."""
        return {
            "items": self.items,
            "time": self.time,
            "reminder_template": self.reminder_template,
            "reminder_time": self.reminder_time,
            "adjustments": self.adjustments,
            **self.extra,
        }


@dataclass(frozen=True)
class CartVersion:
    """The cart from ``time`` on (``None``: empty), kept so reads can lag."""

    time: float
    cart: Cart | None


@dataclass
class Purchase:
    """A completed order; Sailthru cannot edit these once posted."""

    items: list[Item]
    time: float
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def get_shape(self) -> dict[str, Any]:
        return {
            **self.extra,
            "items": [item_get_shape(item) for item in self.items],
            "adjustments": self.adjustments,
            "price": total_price(self.items, self.adjustments),
            "qty": total_qty(self.items),
            "time": int(self.time),
        }

    def inspect(self) -> dict[str, Any]:
        return {
            **self.extra,
            "items": self.items,
            "adjustments": self.adjustments,
            "price": total_price(self.items, self.adjustments),
            "time": self.time,
        }


@dataclass
class Return:
    """Items a buyer returned (POST /return): they lower the profile's net revenue."""

    items: list[Item]
    time: float
    extra: dict[str, Any] = field(default_factory=dict)

    def inspect(self) -> dict[str, Any]:
        return {
            **self.extra,
            "items": self.items,
            "price": total_price(self.items),
            "time": self.time,
        }


@dataclass
class Profile:
    """One Sailthru user profile."""

    sid: str
    create_time: float
    email: str | None = None
    extid: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, float] = field(default_factory=dict)
    optout_email: str = "none"
    cart_versions: list[CartVersion] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pageviews: list[dict[str, Any]] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)

    @property
    def net_revenue(self) -> int:
        """Cents: every purchase's total less every return's (what /return corrects)."""
        bought = sum(total_price(p.items, p.adjustments) for p in self.purchases)
        return bought - sum(total_price(r.items) for r in self.returns)

    def keys(self) -> dict[str, str]:
        """The keys this profile holds (``sid`` always; ``email``, ``extid`` when set)."""
        keys = {"sid": self.sid}
        if self.email is not None:
            keys["email"] = self.email
        if self.extid is not None:
            keys["extid"] = self.extid
        return keys

    @property
    def cart(self) -> Cart | None:
        """The current cart, without lag."""
        return self.cart_versions[-1].cart if self.cart_versions else None

    def cart_as_of(self, when: float) -> Cart | None:
        """The cart a read at time ``when`` would have seen."""
        for version in reversed(self.cart_versions):
            if version.time <= when:
                return version.cart
        return None

    def set_cart(self, cart: Cart | None, now: float, keep_seconds: float) -> None:
        if cart is None and self.cart is None:
            return
        self.cart_versions.append(CartVersion(now, cart))
        # The oldest version is needed only until its successor is older than any lag.
        while len(self.cart_versions) > 1 and self.cart_versions[1].time <= now - keep_seconds:
            del self.cart_versions[0]

    def inspect(self) -> dict[str, Any]:
        """Everything about the profile, as JSON-ready data (cart current, unlagged)."""
        cart = self.cart
        return {
            "sid": self.sid,
            "keys": self.keys(),
            "vars": self.vars,
            "lists": self.lists,
            "optout_email": self.optout_email,
            "cart": cart.inspect() if cart is not None else None,
            "purchases": [purchase.inspect() for purchase in self.purchases],
            "events": self.events,
            "pageviews": self.pageviews,
            "returns": [returned.inspect() for returned in self.returns],
            "net_revenue": self.net_revenue,
            "create_time": self.create_time,
        }

    def requested_fields(self, fields: Mapping[str, Any], cart_time: float) -> dict[str, Any]:
        """The ``fields`` asked for, as GET /user shapes them (the cart as of ``cart_time``)."""
        wanted = {name for name, on in fields.items() if on}
        answer: dict[str, Any] = {}
        if "keys" in wanted:
            answer["keys"] = self.keys()
        if "vars" in wanted:
            answer["vars"] = dict(self.vars)
        if "lists" in wanted:
            answer["lists"] = {name: _date(at) for name, at in self.lists.items()}
        if "engagement" in wanted:
            answer["engagement"] = "new"
        if "optout_email" in wanted:
            answer["optout_email"] = self.optout_email
        if "purchase_incomplete" in wanted:
            cart = self.cart_as_of(cart_time)
            answer["purchase_incomplete"] = cart.get_shape() if cart is not None else None
        if "purchases" in wanted:
            answer["purchases"] = [purchase.get_shape() for purchase in self.purchases]
        if "activity" in wanted:
            answer["activity"] = {"create_time": _date(self.create_time)}
        return answer


def _date(epoch: float) -> str:
    """RFC 2822, as Sailthru shows list sign-up and profile creation times."""
    return formatdate(epoch, localtime=False)
