"""Carry out the pure mapping's plan: resolve lookups, make the calls, remember.

The mapping asks for one fact at a time (`Lookup`); a `FactSource` answers it. Delivery
and ``sailbridge explain`` both use `MemoryFirstFacts` (sailbridge's memory first),
falling back to a GET to Sailthru (`SailthruFacts`) or to placeholders that never touch
the network (`PlaceholderFacts`). Both share `resolve_plan`, so what ``explain`` prints
is what delivery does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from sailbridge.clock import Clock
from sailbridge.events import Event
from sailbridge.mapping import cart_from_sailthru, plan_event
from sailbridge.mapping.cart_expiry import cart_time
from sailbridge.mapping.coalescing import GroupPlan, Kind, Member, Unmergeable, plan_group
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    UNKNOWN,
    CartLookup,
    Deliver,
    EmailLookup,
    Facts,
    Fail,
    Lookup,
    LookupRequest,
    Plan,
    ProfileLookup,
    ProfileState,
    Skip,
)
from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.client import Sender, is_user_not_found
from sailbridge.sailthru.errors import PermanentError, SailthruError
from sailbridge.store.base import Result
from sailbridge.store.memory import Memory

MAX_LOOKUPS = 6
"""More lookups than facts exist means a mapping bug; stop rather than loop forever."""


def lookup_call(request: LookupRequest) -> Call:
    """The GET /user that answers a lookup when memory cannot."""
    match request:
        case EmailLookup(user_id):
            return Call("GET", "/user", {"id": user_id, "key": "extid", "fields": {"keys": 1}})
        case CartLookup(user_id):
            return Call(
                "GET",
                "/user",
                {"id": user_id, "key": "extid", "fields": {"keys": 1, "purchase_incomplete": 1}},
            )
        case ProfileLookup(anonymous_id, _):
            return Call("GET", "/user", {"id": anonymous_id, "key": "extid", "fields": {"keys": 1}})
    raise TypeError(f"not a lookup: {request!r}")


@dataclass
class LookupRecord:
    """One lookup as it happened: answered from memory, by Sailthru, or only planned."""

    request: LookupRequest
    source: Literal["memory", "sailthru", "planned"]
    call: Call | None = None
    answer: dict[str, Any] | None = None
    """What Sailthru answered the GET (`answer_record`); ``None`` before it answered."""

    def request_record(self) -> dict[str, Any] | None:
        """The GET as an attempt's history records it, with Sailthru's answer."""
        if self.call is None:
            return None
        record = self.call.to_dict()
        if self.answer is not None:
            record["answer"] = self.answer
        return record

    def to_dict(self) -> dict[str, Any]:
        what = {EmailLookup: "email", CartLookup: "cart", ProfileLookup: "anonymous profile"}
        result: dict[str, Any] = {
            "fact": what[type(self.request)],
            "source": self.source,
            **dataclasses.asdict(self.request),
        }
        if self.call is not None:
            result["call"] = self.call.to_dict()
        return result


class FactSource(Protocol):
    async def resolve(self, request: LookupRequest, facts: Facts) -> Facts: ...


@dataclass
class ResolvedPlan:
    """The final plan for an event, with the lookups made on the way."""

    plan: Deliver | Skip | Fail
    lookups: list[LookupRecord] = field(default_factory=list)


async def resolve_plan(
    event: Event,
    options: MappingOptions,
    source: FactSource,
    lookups: list[LookupRecord],
    *,
    write_key: str | None = None,
) -> ResolvedPlan:
    """Plan ``event`` (received with ``write_key``), resolving each requested fact
    through ``source`` until done."""
    facts = Facts()
    plan: Plan = plan_event(event, options, facts, write_key=write_key)
    for _ in range(MAX_LOOKUPS):
        if not isinstance(plan, Lookup):
            return ResolvedPlan(plan, lookups)
        facts = await source.resolve(plan.request, facts)
        plan = plan_event(event, options, facts, write_key=write_key)
    raise RuntimeError(f"mapping kept asking for lookups for event {event.message_id!r}")


async def resolve_group(
    members: Sequence[Member],
    kind: Kind,
    options: MappingOptions,
    source: FactSource,
) -> GroupPlan | Unmergeable:
    """The merged plan of a run of one user's events (`plan_group`), each fact the
    group needs resolved once through ``source``."""
    facts = Facts()
    result = plan_group(members, kind, options, facts)
    for _ in range(MAX_LOOKUPS):
        if not isinstance(result, Lookup):
            return result
        facts = await source.resolve(result.request, facts)
        result = plan_group(members, kind, options, facts)
    raise RuntimeError("mapping kept asking for lookups for a group")


class Fallback(Protocol):
    """Where a fact comes from when sailbridge's memory does not have it."""

    source: Literal["sailthru", "planned"]

    async def answer(self, request: LookupRequest, facts: Facts, record: LookupRecord) -> Facts:
        """``facts`` with the fact ``request`` names filled in; what was asked and
        answered goes into ``record`` (already in the lookups)."""


class MemoryFirstFacts:
    """The one fact source of delivery and ``explain``: memory first, then a fallback.

    Delivery falls back to Sailthru (`SailthruFacts`), ``explain`` to placeholders
    (`PlaceholderFacts`); the memory step is this class alone, so the two cannot drift.
    Each lookup is recorded once, with where its answer came from. A cart lookup fills
    the email from memory too (even when the remembered cart is too old to use), so a
    profile Sailthru keys by email only is still found for the purchase post.
    """

    def __init__(
        self,
        memory: Memory | None,
        fallback: Fallback,
        cart_ttl: float,
        lookups: list[LookupRecord],
        clock: Clock = time.time,
    ) -> None:
        self._memory = memory
        self._fallback = fallback
        self._cart_ttl = cart_ttl
        self._lookups = lookups
        self._clock = clock

    async def resolve(self, request: LookupRequest, facts: Facts) -> Facts:
        facts, answered = await self._remembered(request, facts)
        if answered:
            self._lookups.append(LookupRecord(request, "memory"))
            return facts
        record = LookupRecord(request, self._fallback.source, lookup_call(request))
        self._lookups.append(record)
        return await self._fallback.answer(request, facts, record)

    async def _remembered(self, request: LookupRequest, facts: Facts) -> tuple[Facts, bool]:
        """``facts`` with what memory knows for ``request``; whether that answers it."""
        memory = self._memory
        if memory is None:
            return facts, False
        match request:
            case EmailLookup(user_id):
                email = await memory.email(user_id)
                return (
                    (facts, False)
                    if email is None
                    else (dataclasses.replace(facts, email=email), True)
                )
            case CartLookup(user_id):
                if facts.email is UNKNOWN:
                    email = await memory.email(user_id)
                    if email is not None:
                        facts = dataclasses.replace(facts, email=email)
                cart = await memory.cart(user_id, self._cart_ttl)
                return (
                    (facts, False)
                    if cart is None
                    else (
                        dataclasses.replace(
                            facts, cart=cart.items, cart_age=self._clock() - cart.posted_at
                        ),
                        True,
                    )
                )
            case ProfileLookup(anonymous_id, user_id):
                if await memory.merged(anonymous_id, user_id):
                    return dataclasses.replace(
                        facts, anonymous_profile=ProfileState.ALREADY_MERGED
                    ), True
                return facts, False
        raise TypeError(f"not a lookup: {request!r}")


class SailthruFacts:
    """Delivery's fallback: a GET /user to Sailthru."""

    source: Literal["sailthru", "planned"] = "sailthru"

    def __init__(self, sender: Sender, clock: Clock = time.time) -> None:
        self._sender = sender
        self._clock = clock

    async def answer(self, request: LookupRequest, facts: Facts, record: LookupRecord) -> Facts:
        profile = await self._get(record)
        match request:
            case EmailLookup():
                return dataclasses.replace(facts, email=_email_of(profile))
            case CartLookup():
                email = facts.email if facts.email is not UNKNOWN else _email_of(profile)
                incomplete = profile.get("purchase_incomplete") if profile else None
                updated = cart_time(incomplete)
                return dataclasses.replace(
                    facts,
                    cart=cart_from_sailthru(incomplete),
                    email=email,
                    cart_age=None if updated is None else self._clock() - updated,
                )
            case ProfileLookup():
                state = ProfileState.EXISTS if profile is not None else ProfileState.ABSENT
                return dataclasses.replace(facts, anonymous_profile=state)
        raise TypeError(f"not a lookup: {request!r}")

    async def _get(self, record: LookupRecord) -> dict[str, Any] | None:
        """GET /user, its answer kept in ``record``; ``None`` when Sailthru has no such
        user."""
        call = record.call
        assert call is not None  # a fallback lookup always has its GET
        try:
            response = await self._sender.send(call)
        except SailthruError as error:
            if is_user_not_found(error):
                record.answer = {"found": False, "code": error.code, "message": error.message}
                return None
            raise
        body: dict[str, Any] = response.body
        record.answer = answer_record(body)
        return body


class PlaceholderFacts:
    """``explain``'s fallback: placeholders, never the network.

    A placeholder email reads ``<email of USER from GET /user>``; an unknown cart is
    taken as empty and an unknown anonymous profile as existing (the merge is shown),
    and each such assumption is listed so the reader knows what depends on Sailthru.
    """

    source: Literal["sailthru", "planned"] = "planned"

    def __init__(self) -> None:
        self.assumptions: list[str] = []

    async def answer(self, request: LookupRequest, facts: Facts, record: LookupRecord) -> Facts:
        match request:
            case EmailLookup(user_id):
                self.assumptions.append(f"the email is whatever GET /user returns for {user_id}")
                return dataclasses.replace(facts, email=placeholder_email(user_id))
            case CartLookup(user_id):
                self.assumptions.append(f"the cart of {user_id} in Sailthru is taken as empty")
                email = facts.email if facts.email is not UNKNOWN else placeholder_email(user_id)
                return dataclasses.replace(facts, cart=(), email=email)
            case ProfileLookup(anonymous_id, _):
                self.assumptions.append(
                    f"a profile with extid {anonymous_id} is taken to exist (so it is merged)"
                )
                return dataclasses.replace(facts, anonymous_profile=ProfileState.EXISTS)
        raise TypeError(f"not a lookup: {request!r}")


def placeholder_email(user_id: str) -> str:
    return f"<email of {user_id} from GET /user>"


SECRET_PROFILE_KEYS = frozenset({"cookie"})
"""Profile keys kept out of history: Sailthru's cookie id identifies the user's browser."""


def answer_record(profile: dict[str, Any]) -> dict[str, Any]:
    """A GET /user answer as history keeps it: found, with the fields sailbridge asked
    for (keys, cart), the browser cookie id left out."""
    record: dict[str, Any] = {"found": True}
    keys = profile.get("keys")
    if isinstance(keys, dict):
        record["keys"] = {
            name: value for name, value in keys.items() if name not in SECRET_PROFILE_KEYS
        }
    if "purchase_incomplete" in profile:
        record["purchase_incomplete"] = profile["purchase_incomplete"]
    return record


def _email_of(profile: dict[str, Any] | None) -> str | None:
    if not profile:
        return None
    keys = profile.get("keys")
    email = keys.get("email") if isinstance(keys, dict) else None
    return email if isinstance(email, str) and email else None


Status: TypeAlias = Literal[Result.DELIVERED, Result.SKIPPED, Result.FAILED]


@dataclass
class Outcome:
    """How one event ended: delivered, skipped (by design) or failed (with the error,
    if Sailthru's; without one when the mapping failed it). The worker's `decide`
    turns a failure into a retry, a dead letter, a pause or a release."""

    status: Status
    reason: str | None = None
    calls: list[Call] = field(default_factory=list)
    lookups: list[LookupRecord] = field(default_factory=list)
    error: SailthruError | None = None
    skip: Skip | None = None
    """The planned skip (a filter's or consent's, counted by the metrics)."""

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"status": self.status}
        if self.reason:
            result["reason"] = self.reason
        if self.error is not None:
            result["error"] = self.error.to_dict()
        result["lookups"] = [lookup.to_dict() for lookup in self.lookups]
        result["calls"] = [call.to_dict() for call in self.calls]
        return result


async def deliver_event(
    event: Event,
    options: MappingOptions,
    memory: Memory,
    sender: Sender,
    cart_ttl: float,
    write_key: str | None = None,
) -> Outcome:
    """Deliver one event: plan with live facts, make its calls, then remember.

    A Sailthru error on a lookup or a call ends the attempt as ``failed`` carrying the
    classified error, so the caller decides between retry, pause and dead-letter.
    Memory is updated only after every call succeeded, so a failed attempt teaches
    nothing false.
    """
    lookups: list[LookupRecord] = []
    try:
        facts = MemoryFirstFacts(memory, SailthruFacts(sender), cart_ttl, lookups)
        resolved = await resolve_plan(event, options, facts, lookups, write_key=write_key)
    except SailthruError as error:
        return Outcome(Result.FAILED, error.message, lookups=lookups, error=error)
    match resolved.plan:
        case Skip(reason):
            return Outcome(Result.SKIPPED, reason, lookups=lookups, skip=resolved.plan)
        case Fail(reason):
            return Outcome(Result.FAILED, reason, lookups=lookups)
        case Deliver(calls, remember):
            return await _make_calls(calls, remember, memory, sender, lookups)


async def _make_calls(
    calls: Sequence[Call],
    remember: Sequence[Any],
    memory: Memory,
    sender: Sender,
    lookups: list[LookupRecord],
) -> Outcome:
    made: list[Call] = []
    for call in calls:
        made.append(call)
        try:
            await sender.send(call)
        except SailthruError as error:
            if call.method == "DELETE" and is_user_not_found(error):
                continue  # already gone (deleted before, or never created): done
            return Outcome(Result.FAILED, error.message, calls=made, lookups=lookups, error=error)
    await memory.apply(remember)
    return Outcome(Result.DELIVERED, calls=made, lookups=lookups)


@dataclass
class GroupDelivered:
    """The run's calls were made: one outcome per member, in order (riders delivered
    with the shared calls, the others skipped or failed as they would be alone)."""

    outcomes: list[Outcome]


@dataclass
class GroupFailed:
    """A lookup or a shared call failed for a reason that is no one member's (Sailthru
    down, 429s, credentials): the attempt belongs to the run's first member, and the
    others wait behind it untouched."""

    outcome: Outcome


@dataclass
class GroupRefused:
    """Not delivered together: the plan could not merge, or Sailthru refused the merged
    call (`PermanentError`, e.g. one var, a template). The members go one by one, so
    the reason lands on the event it belongs to."""

    reason: str


GroupOutcome: TypeAlias = GroupDelivered | GroupFailed | GroupRefused


async def deliver_group(
    members: Sequence[Member],
    kind: Kind,
    options: MappingOptions,
    memory: Memory,
    sender: Sender,
    cart_ttl: float,
) -> GroupOutcome:
    """Deliver a run of one user's events (`partition`) in as few calls as merge.

    The facts are looked up once for the run; memory learns every member's updates, in
    order, only after the shared calls succeeded (as one by one would, event by event).
    """
    lookups: list[LookupRecord] = []
    try:
        facts = MemoryFirstFacts(memory, SailthruFacts(sender), cart_ttl, lookups)
        result = await resolve_group(members, kind, options, facts)
    except SailthruError as error:
        return GroupFailed(Outcome(Result.FAILED, error.message, lookups=lookups, error=error))
    if isinstance(result, Unmergeable):
        return GroupRefused(result.reason)
    made = await _make_calls(result.calls, result.remember, memory, sender, lookups)
    if made.status is not Result.DELIVERED:
        if isinstance(made.error, PermanentError):
            return GroupRefused(f"Sailthru refused the merged call: {made.reason}")
        return GroupFailed(made)
    outcomes = []
    for plan in result.members:
        match plan:
            case Deliver():
                outcomes.append(Outcome(Result.DELIVERED, calls=made.calls, lookups=lookups))
            case Skip(reason):
                outcomes.append(Outcome(Result.SKIPPED, reason, lookups=lookups, skip=plan))
            case Fail(reason):
                outcomes.append(Outcome(Result.FAILED, reason, lookups=lookups))
    return GroupDelivered(outcomes)
