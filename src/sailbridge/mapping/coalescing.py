"""Merging one user's consecutive queued events into fewer Sailthru calls (SPEC §13).

During a backlog a user's events wait side by side in the queue, and many add up to
one call with the same final state in Sailthru: identify after identify is one
POST /user with the vars merged, and a run of cart changes is one cart post carrying
the final cart (each ``incomplete: 1`` post replaces the whole cart anyway). This
module says which events may ride together and what their one call is; it is pure,
like the rest of the mapping, and the worker carries it out.

Two steps, both conservative — when in doubt, an event goes alone:

1. `partition` looks at the events alone (no facts): consecutive events of one kind
   (`Kind.PROFILE` or `Kind.CART`), one user, the same per-event overrides and no
   conflicting email form a run, at most `MAX_MEMBERS` long. Everything else is a
   barrier that travels on its own: an identify that may merge an anonymous profile,
   an alias, a deletion, an order, a custom event, a page or screen.
2. `plan_group` plans every member with `plan_event` as one-by-one delivery would,
   folding the facts forward (the cart each member posted is the next one's current
   cart; an email one member teaches, the next one knows), and combines the calls.
   A member that is skipped or fails keeps that verdict; the others still ride. A
   plan of an unexpected shape, or a merged call larger than `MAX_PARAMS_BYTES`,
   gives `Unmergeable`: the caller then delivers the events one by one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeAlias

import msgspec

from sailbridge.events import Event
from sailbridge.mapping.context import identify_traits
from sailbridge.mapping.emails import event_email
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    Deliver,
    Facts,
    Fail,
    Lookup,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    Skip,
)
from sailbridge.mapping.planner import plan_event
from sailbridge.mapping.routing import Overrides, normalize_event_name, read_overrides
from sailbridge.mapping.values import text
from sailbridge.sailthru.calls import Call

MAX_MEMBERS: Final = 25
"""Events merged into one call at most. Sailthru documents no cap on a POST /user's
vars, so the cap is ours: it keeps one refused call from sending 25 events back
through one-by-one delivery, and a group's records readable."""

MAX_PARAMS_BYTES: Final = 256 * 1024
"""The largest merged call's JSON, in bytes. Sailthru documents none for the REST API;
ingest caps one event at 32 KB, and the tracking API a batch at 500 KB, so a quarter
of a megabyte stays well inside what any HTTP front end accepts in a form body."""

PROFILE_FIELDS: Final = frozenset({"id", "key", "keys", "vars", "lists", "optout_email"})
"""The POST /user parameters a mergeable profile update may carry. Anything else (a
``keysconflict`` above all: an identity change) makes the plan unmergeable."""


class Kind(StrEnum):
    """What a run of merged events updates in Sailthru."""

    PROFILE = "profile"
    """identify without an identity change → one POST /user."""
    CART = "cart"
    """Product Added / Product Removed → one POST /purchase with ``incomplete: 1``."""


@dataclass(frozen=True)
class Member:
    """One queued event of a user's line, with the write key it came in with (filters
    may read it)."""

    event: Event
    write_key: str | None = None


@dataclass(frozen=True)
class Run:
    """Consecutive members (``start`` to ``stop``, exclusive) that may ride together;
    ``kind`` is ``None`` for an event that goes alone."""

    start: int
    stop: int
    kind: Kind | None

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class _Signature:
    """What must be equal for two consecutive events to share a call."""

    kind: Kind
    user_key: str
    overrides: Overrides


def merge_kind(event: Event) -> Kind | None:
    """The kind of call ``event`` may share, or ``None`` when it must go alone.

    An identify with a userId and a different anonymousId may merge the anonymous
    profile into the known one (SPEC §4): an identity change, so it goes alone, as do
    every track other than the two cart events (orders, deletions, Subscribed, custom
    events), pages, screens, aliases and groups. A cart event without a userId fails
    on its own.
    """
    if event.type == "identify":
        if event.user_key is None:
            return None
        if event.user_id is not None and event.anonymous_id not in (None, event.user_id):
            return None
        return Kind.PROFILE
    if (
        event.type == "track"
        and event.event
        and event.user_id is not None
        and normalize_event_name(event.event) in ("productadded", "productremoved")
    ):
        return Kind.CART
    return None


def _signature(event: Event) -> _Signature | None:
    kind = merge_kind(event)
    if kind is None or event.user_key is None:
        return None
    try:
        overrides = read_overrides(event)
    except Unmappable:
        return None  # a bad override fails its own event, alone
    return _Signature(kind, event.user_key, overrides)


def own_email(event: Event, kind: Kind) -> str | None:
    """The email ``event`` itself gives the call: traits.email for an identify, the
    event's email for a cart post."""
    if kind is Kind.PROFILE:
        return text(identify_traits(event).get("email"))
    return event_email(event)


def partition(events: Sequence[Event], max_members: int = MAX_MEMBERS) -> list[Run]:
    """Split one user's consecutive events (in queue order) into runs that may share
    a call. Every event is in exactly one run, in order; a run of one is delivered as
    today. Two events with different emails of their own are never merged: the first
    call might be refused (the email taken) where the merged one would not."""
    runs: list[Run] = []
    start = 0
    while start < len(events):
        signature = _signature(events[start])
        if signature is None:
            runs.append(Run(start, start + 1, None))
            start += 1
            continue
        email = own_email(events[start], signature.kind)
        stop = start + 1
        while stop < len(events) and stop - start < max_members:
            candidate = events[stop]
            if _signature(candidate) != signature:
                break
            theirs = own_email(candidate, signature.kind)
            if theirs is not None and email is not None and theirs != email:
                break
            email = email or theirs
            stop += 1
        runs.append(Run(start, stop, signature.kind))
        start = stop
    return runs


MemberPlan: TypeAlias = Deliver | Skip | Fail
"""Each member's own plan: what one-by-one delivery would have done with it."""


@dataclass(frozen=True)
class GroupPlan:
    """The calls that deliver a run together, and each member's verdict.

    A member whose plan is `Deliver` rides in ``calls`` (and its memory updates are in
    ``remember``, in member order); a `Skip` or `Fail` member ends as it would alone.
    """

    kind: Kind
    calls: tuple[Call, ...]
    remember: tuple[MemoryUpdate, ...]
    members: tuple[MemberPlan, ...]

    @property
    def riders(self) -> tuple[int, ...]:
        """The positions of the members the calls deliver."""
        return tuple(i for i, plan in enumerate(self.members) if isinstance(plan, Deliver))


@dataclass(frozen=True)
class Unmergeable:
    """These members cannot share a call after all; deliver them one by one."""

    reason: str


GroupResult: TypeAlias = GroupPlan | Lookup | Unmergeable


def plan_group(
    members: Sequence[Member], kind: Kind, options: MappingOptions, facts: Facts
) -> GroupResult:
    """The merged plan of one run (from `partition`), the lookup it needs first, or
    `Unmergeable`.

    ``facts`` are the group's facts, looked up once for all members: each member is
    planned with them as one-by-one delivery would have found them after the earlier
    members (their remembered cart and email folded in). A lookup any member asks for
    is the group's; the caller answers it and plans the group again.
    """
    plans: list[MemberPlan] = []
    running = facts
    for member in members:
        plan = plan_event(member.event, options, running, write_key=member.write_key)
        if isinstance(plan, Lookup):
            return plan
        if isinstance(plan, Deliver):
            shape = _shape_problem(plan, kind)
            if shape is not None:
                return Unmergeable(shape)
            running = _fold(running, plan.remember, member.event)
        plans.append(plan)
    riders = [plan for plan in plans if isinstance(plan, Deliver)]
    merged = merge_profiles(riders) if kind is Kind.PROFILE else _merge_carts(riders)
    if isinstance(merged, Unmergeable):
        return merged
    remember = tuple(update for plan in riders for update in plan.remember)
    return GroupPlan(kind, merged, remember, tuple(plans))


def _shape_problem(plan: Deliver, kind: Kind) -> str | None:
    """Why a member's plan is not the one call its kind merges, or ``None``."""
    if len(plan.calls) != 1:
        return f"a member plans {len(plan.calls)} calls"
    call = plan.calls[0]
    if kind is Kind.PROFILE:
        if call.route != "POST /user" or call.api != "rest":
            return f"a profile member plans {call.route}"
        extra = set(call.params) - PROFILE_FIELDS
        if extra:
            return f"a profile member's call carries {', '.join(sorted(extra))}"
        return None
    if call.route != "POST /purchase" or call.params.get("incomplete") != 1:
        return f"a cart member plans {call.route} that is not a cart post"
    return None


def _fold(facts: Facts, remember: Sequence[MemoryUpdate], event: Event) -> Facts:
    """The facts the next member would find: what this member taught memory about its
    user (the cart it posted, an email) replaces what was known. A cart just posted is
    no age at all, so cart expiry never clears it for the next member."""
    user_keys = {event.user_key, event.user_id}
    for update in remember:
        match update:
            case RememberCart(user_id, items) if user_id in user_keys:
                facts = dataclasses.replace(facts, cart=items, cart_age=0.0)
            case RememberEmail(user_key, email) if user_key in user_keys:
                facts = dataclasses.replace(facts, email=email)
    return facts


def merge_profiles(riders: Sequence[Deliver]) -> tuple[Call, ...] | Unmergeable:
    """One POST /user: the later value wins per var, per list and per key; the last
    opt-out given. The same result as posting each in turn, since Sailthru sets the
    given vars, lists and keys and leaves the others."""
    if not riders:
        return ()
    params: dict[str, Any] = {}
    for plan in riders:
        given = plan.calls[0].params
        for field in ("id", "key"):
            if field in params and params[field] != given.get(field):
                return Unmergeable(f"members address different profiles ({field})")
        for field, value in given.items():
            if field in ("keys", "vars", "lists"):
                params[field] = {**params.get(field, {}), **value}
            else:
                params[field] = value
    return _within_size(Call("POST", "/user", params))


def _merge_carts(riders: Sequence[Deliver]) -> tuple[Call, ...] | Unmergeable:
    """The last cart post: it carries the final cart (each was planned on the one
    before) and the last event's reminder, and it replaces every earlier one. Posts
    for different emails would reach different profiles, so they do not merge."""
    if not riders:
        return ()
    emails = {plan.calls[0].params.get("email") for plan in riders}
    if len(emails) > 1:
        return Unmergeable("cart members post under different emails")
    return _within_size(riders[-1].calls[0])


def _within_size(call: Call) -> tuple[Call, ...] | Unmergeable:
    size = len(msgspec.json.encode(call.params))
    if size > MAX_PARAMS_BYTES:
        return Unmergeable(f"the merged call would be {size} bytes (at most {MAX_PARAMS_BYTES})")
    return (call,)
