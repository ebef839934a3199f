"""The in-memory Sailthru account behind the sandbox: profiles and what happened to them.

No HTTP here: each operation takes the decoded ``json`` parameters of one API call and
returns the answer body, or raises `ApiError`. Every operation validates all of
its input before touching anything, so a refused call never leaves a partial change.

Choices made where Sailthru's behaviour is not documented (or not certain):

- Keys: ``sid`` (generated, 24 hex digits), ``email`` and ``extid``. Emails are matched
  ignoring case and stored lower-cased, as Sailthru does.
- Default ``key``: ``sid`` for POST /user (as the older API docs and the brief say);
  ``email`` for GET and DELETE /user and for POST /event (the current docs).
- Unknown users: POST /user, POST /event and the pageview API create the profile when
  it is looked up by ``email`` or ``extid`` (Sailthru creates profiles on first sight);
  POST /purchase creates it by email. A ``sid`` nobody holds is "User not found".
- POST /user with ``keys`` naming a value another profile holds fails with error 99
  unless ``keysconflict`` is ``merge``. Merging keeps the profile the call's ``id``
  names (one profile remains); the other's vars, lists, purchases, events and pageviews
  are folded in, the surviving profile's own values win over the other's and the call's
  values win over both; the cart is the surviving profile's, or the other's when the
  survivor has none; the stricter ``optout_email`` of the two is kept, so a merge never
  re-subscribes anyone; a key the call does not set is taken from the other profile
  when the survivor has none.
- POST /user answers ``{"ok": true, "keys": {...}}`` plus any ``fields`` asked for.
  POST /event and DELETE /user answer ``{"ok": true}``; POST /purchase answers
  ``{"purchase": {...}}`` in GET shape.
- GET /user without ``fields`` returns keys, vars, lists, engagement and optout_email
  (Sailthru's documented defaults). ``purchase_incomplete`` is ``null`` when the cart
  is empty, including after ``items: []``. List sign-up times and the cart's ``time`` (its
  last update) are RFC 2822 strings, as Sailthru writes them; purchase ``time`` is
  integer epoch seconds.
- Cart reads may lag: each cart post is kept as a version with its time, and a read
  with a lag returns the version current ``lag`` seconds ago. Everything else is read
  current.
- POST /return finds or creates the buyer by email, as /purchase does, and answers
  ``{"ok": true}``; returns show in the inspection API with the profile's
  ``net_revenue`` (purchases less returns, in cents).
- Purchases are recorded every time, duplicates included (Sailthru cannot edit or
  de-duplicate them either), so at-least-once delivery shows up in the sandbox.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from sailbridge.clock import Clock
from sailbridge.sandbox.errors import invalid, missing
from sailbridge.sandbox.params import (
    check_creatable,
    fields_param,
    key_type,
    list_changes,
    new_keys,
    not_found,
    object_param,
    optional_id,
    required_id,
)
from sailbridge.sandbox.profile import (
    KEY_TYPES,
    OPTOUT_STRICTNESS,
    SETTABLE_KEYS,
    Cart,
    Profile,
    Purchase,
    Return,
)
from sailbridge.sandbox.purchases import PurchaseRequest, parse_purchase, parse_return

RESERVED_EVENTS: Final = frozenset({"send", "cancel", "open", "click", "purchase", "daily"})
DEFAULT_FIELDS: Final = {"keys": 1, "vars": 1, "lists": 1, "engagement": 1, "optout_email": 1}
CART_HISTORY_SECONDS: Final = 3600.0
"""How long superseded cart versions are kept for lagged reads; lags are seconds."""


def random_sid() -> str:
    """A fresh profile id shaped like Sailthru's (a 24-hex-digit object id)."""
    return secrets.token_hex(12)


class Account:
    """One Sailthru account's profiles, with the REST operations that change them."""

    def __init__(
        self,
        clock: Clock = time.time,
        new_sid: Callable[[], str] = random_sid,
        cart_history_seconds: float = CART_HISTORY_SECONDS,
    ) -> None:
        self._clock = clock
        self._new_sid = new_sid
        self._cart_history_seconds = cart_history_seconds
        self._profiles: dict[str, Profile] = {}
        self._by_email: dict[str, Profile] = {}
        self._by_extid: dict[str, Profile] = {}

    # -- lookups ---------------------------------------------------------------------

    def profiles(self) -> list[Profile]:
        return list(self._profiles.values())

    def find(self, key: str, value: str) -> Profile | None:
        """The profile holding ``key`` = ``value``, if any."""
        if key == "sid":
            return self._profiles.get(value)
        if key == "email":
            return self._by_email.get(value.lower())
        if key == "extid":
            return self._by_extid.get(value)
        raise ValueError(f"unknown key type {key!r}")

    def reset(self) -> None:
        self._profiles.clear()
        self._by_email.clear()
        self._by_extid.clear()

    # -- REST operations -------------------------------------------------------------

    def post_user(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /user: create or update a profile, possibly merging another into it."""
        key = key_type(params, default="sid")
        ident = optional_id(params, key)
        keys_to_set = new_keys(params.get("keys"))
        conflict_mode = params.get("keysconflict", "error")
        if conflict_mode not in ("error", "merge"):
            raise invalid(f"keysconflict must be 'error' or 'merge', not {conflict_mode!r}")
        new_vars = object_param(params, "vars")
        lists_to_change = list_changes(params.get("lists"))
        optout = params.get("optout_email")
        if optout is not None and optout not in OPTOUT_STRICTNESS:
            raise invalid(f"Invalid optout_email value: {optout!r} (use none, basic, blast or all)")
        fields = fields_param(params)

        profile = self.find(key, ident) if ident is not None else None
        if profile is None and key == "sid" and ident is not None:
            raise not_found(key, ident)
        others: list[Profile] = []
        for name, value in keys_to_set.items():
            holder = self.find(name, value)
            if holder is None or holder is profile or holder in others:
                continue
            if conflict_mode != "merge":
                raise invalid(
                    f"Key conflict: {name} {value} already belongs to another user "
                    f"(sid {holder.sid}); pass keysconflict=merge to merge the two profiles"
                )
            others.append(holder)

        now = self._clock()
        if profile is None:
            profile = Profile(sid=self._new_sid(), create_time=now)
            self._profiles[profile.sid] = profile
            if ident is not None:
                self._set_key(profile, key, ident)
        for other in others:
            self._merge(survivor=profile, absorbed=other, keys_set=keys_to_set.keys())
        for name, value in keys_to_set.items():
            self._set_key(profile, name, value)
        profile.vars.update(new_vars)
        for name, subscribe in lists_to_change.items():
            if subscribe:
                profile.lists.setdefault(name, now)
            else:
                profile.lists.pop(name, None)
        if optout is not None:
            profile.optout_email = optout
        answer: dict[str, Any] = {"ok": True, "keys": profile.keys()}
        if fields:
            answer.update(profile.requested_fields(fields, cart_time=now))
        return answer

    def get_user(self, params: Mapping[str, Any], cart_read_lag: float = 0.0) -> dict[str, Any]:
        """GET /user: the requested fields; the cart as it was ``cart_read_lag`` s ago."""
        key = key_type(params, default="email")
        ident = required_id(params)
        fields = fields_param(params) or DEFAULT_FIELDS
        profile = self.find(key, ident)
        if profile is None:
            raise not_found(key, ident)
        return profile.requested_fields(fields, cart_time=self._clock() - cart_read_lag)

    def delete_user(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """DELETE /user: forget the profile entirely."""
        key = key_type(params, default="email")
        ident = required_id(params)
        profile = self.find(key, ident)
        if profile is None:
            raise not_found(key, ident)
        self._remove(profile)
        return {"ok": True}

    def post_event(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /event: record a custom event on the user (created when unknown)."""
        key = key_type(params, default="email")
        ident = required_id(params)
        name = params.get("event")
        if name is None or name == "":
            raise missing("event")
        if not isinstance(name, str):
            raise invalid("event must be a string")
        if name.strip().lower() in RESERVED_EVENTS:
            raise invalid(
                f"Event name '{name}' is reserved by Sailthru "
                f"({', '.join(sorted(RESERVED_EVENTS))}) and cannot be posted"
            )
        event_vars = object_param(params, "vars")
        check_creatable(key, ident)
        now = self._clock()
        profile = self._find_or_create(key, ident, now)
        profile.events.append({"event": name, "vars": event_vars, "time": now})
        return {"ok": True}

    def post_purchase(self, params: Mapping[str, Any], templates: frozenset[str]) -> dict[str, Any]:
        """POST /purchase: replace the cart (``incomplete: 1``) or record an order."""
        request = parse_purchase(params, templates)
        now = self._clock()
        profile = self._find_or_create("email", request.email, now)
        if request.incomplete:
            cart = (
                Cart(
                    items=request.items,
                    time=now,
                    reminder_template=request.reminder_template,
                    reminder_time=request.reminder_time,
                    adjustments=request.adjustments,
                    extra=request.extra,
                )
                if request.items
                else None
            )
            profile.set_cart(cart, now, self._cart_history_seconds)
            shaped = cart.get_shape() if cart is not None else {"items": [], "price": 0, "qty": 0}
            return {"purchase": {**shaped, "incomplete": 1}}
        purchase = Purchase(
            items=request.items, time=now, adjustments=request.adjustments, extra=request.extra
        )
        profile.purchases.append(purchase)
        profile.set_cart(None, now, self._cart_history_seconds)
        return {"purchase": purchase.get_shape()}

    def post_return(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /return: record returned items on the buyer (found or created by email,
        as /purchase does), which lowers the profile's net revenue."""
        request = parse_return(params)
        now = self._clock()
        profile = self._find_or_create("email", request.email, now)
        profile.returns.append(Return(items=request.items, time=now, extra=request.extra))
        return {"ok": True}

    def import_purchase(self, request: PurchaseRequest, at: float) -> None:
        """A historical purchase from a ``purchase_import`` job: filed at ``at``, in date
        order, without touching the user's current cart (it is history, not news)."""
        profile = self._find_or_create("email", request.email, self._clock())
        profile.purchases.append(
            Purchase(
                items=request.items, time=at, adjustments=request.adjustments, extra=request.extra
            )
        )
        profile.purchases.sort(key=lambda purchase: purchase.time)

    def record_pageview(self, key: str, ident: str, url: str, tags: list[str]) -> Profile:
        """A pageview from the tracking API, on the user (created when unknown)."""
        if key not in KEY_TYPES:
            raise invalid(f"Unsupported userIdKey: {key}")
        check_creatable(key, ident)
        now = self._clock()
        profile = self._find_or_create(key, ident, now)
        profile.pageviews.append({"url": url, "tags": tags, "time": now})
        return profile

    # -- internals -------------------------------------------------------------------

    def _find_or_create(self, key: str, ident: str, now: float) -> Profile:
        profile = self.find(key, ident)
        if profile is None:
            profile = Profile(sid=self._new_sid(), create_time=now)
            self._profiles[profile.sid] = profile
            self._set_key(profile, key, ident)
        return profile

    def _set_key(self, profile: Profile, key: str, value: str) -> None:
        if key == "email":
            if profile.email is not None:
                self._by_email.pop(profile.email, None)
            profile.email = value.lower()
            self._by_email[profile.email] = profile
        elif key == "extid":
            if profile.extid is not None:
                self._by_extid.pop(profile.extid, None)
            profile.extid = value
            self._by_extid[value] = profile

    def _remove(self, profile: Profile) -> None:
        del self._profiles[profile.sid]
        if profile.email is not None:
            self._by_email.pop(profile.email, None)
        if profile.extid is not None:
            self._by_extid.pop(profile.extid, None)

    def _merge(self, survivor: Profile, absorbed: Profile, keys_set: Any) -> None:
        self._remove(absorbed)
        survivor.vars = {**absorbed.vars, **survivor.vars}
        survivor.lists = {**absorbed.lists, **survivor.lists}
        survivor.purchases = sorted(absorbed.purchases + survivor.purchases, key=lambda p: p.time)
        survivor.events = sorted(absorbed.events + survivor.events, key=lambda e: e["time"])
        survivor.returns = sorted(absorbed.returns + survivor.returns, key=lambda r: r.time)
        survivor.pageviews = sorted(
            absorbed.pageviews + survivor.pageviews, key=lambda e: e["time"]
        )
        if survivor.cart is None and absorbed.cart is not None:
            survivor.cart_versions = list(absorbed.cart_versions)
        survivor.optout_email = max(
            survivor.optout_email, absorbed.optout_email, key=OPTOUT_STRICTNESS.index
        )
        survivor.create_time = min(survivor.create_time, absorbed.create_time)
        for key in SETTABLE_KEYS:
            value = getattr(absorbed, key)
            if key not in keys_set and getattr(survivor, key) is None and value is not None:
                self._set_key(survivor, key, value)
