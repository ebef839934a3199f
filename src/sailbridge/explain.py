"""``sailbridge explain``: what Sailthru would receive for each event, without sending.

Uses the same planning loop and the same memory-first fact source as delivery
(`resolve_plan`, `MemoryFirstFacts`), falling back to placeholders where delivery asks
Sailthru, so the output cannot drift from what delivery does. The store's memory is
opened read-only and never migrated (`sailbridge.store.readonly`). Secrets never
appear: calls are shown as their real parameters, and the signature is described
rather than computed.

When coalescing is on, events that would share one call if they were queued together
(a backlog: the worker merges a user's consecutive profile updates and cart changes)
say so in ``sentTogether``: the positions riding together and the merged call. Each
event's own ``calls`` are what it costs when delivered alone, as at light load.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sailbridge.delivery.executor import (
    LookupRecord,
    MemoryFirstFacts,
    PlaceholderFacts,
    resolve_group,
    resolve_plan,
)
from sailbridge.events import Event, EventType
from sailbridge.inputs import Entry
from sailbridge.mapping import ignored_overrides
from sailbridge.mapping.cart_expiry import expiry_warning
from sailbridge.mapping.coalescing import Kind, Member, Unmergeable, partition
from sailbridge.mapping.consent import consent_verdict
from sailbridge.mapping.filters import Filtered, Passed, apply_filters
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    Deliver,
    Fail,
    ForgetUser,
    MemoryUpdate,
    RememberCart,
    RememberEmail,
    RememberMerge,
    Skip,
)
from sailbridge.sailthru.calls import Call
from sailbridge.settings import Settings
from sailbridge.settings.accounts import DEFAULT_ACCOUNT
from sailbridge.store.base import SEND_WRITE_KEY
from sailbridge.store.factory import open_read_only_memory
from sailbridge.store.memory import Memory, RememberedCart, linked_ids


class DryRunMemory:
    """What delivering the events so far *would* have taught, over the real memory.

    Lets ``explain`` show, for a file with an identify followed by an order, that the
    order's email comes from the identify — as it will when delivered — while the real
    memory is only read, never written.
    """

    def __init__(self, underlying: Memory | None) -> None:
        self._underlying = underlying
        self._emails: dict[str, str] = {}
        self._carts: dict[str, RememberedCart] = {}
        self._merges: set[tuple[str, str]] = set()
        self._forgotten: set[str] = set()
        """Ids a deletion earlier in the file forgot: the stored memory no longer counts."""

    def _stored(self, *keys: str) -> Memory | None:
        return None if self._forgotten.intersection(keys) else self._underlying

    async def email(self, user_key: str) -> str | None:
        if user_key in self._emails:
            return self._emails[user_key]
        stored = self._stored(user_key)
        return await stored.email(user_key) if stored else None

    async def cart(self, user_id: str, max_age: float) -> RememberedCart | None:
        if user_id in self._carts:
            return self._carts[user_id]
        stored = self._stored(user_id)
        return await stored.cart(user_id, max_age) if stored else None

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        if (anonymous_id, user_id) in self._merges:
            return True
        stored = self._stored(anonymous_id, user_id)
        return await stored.merged(anonymous_id, user_id) if stored else False

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        for update in updates:
            match update:
                case RememberEmail(user_key, email):
                    self._emails[user_key] = email
                case RememberCart(user_id, items):
                    self._carts[user_id] = RememberedCart(items, time.time())
                case RememberMerge(anonymous_id, user_id):
                    self._merges.add((anonymous_id, user_id))
                case ForgetUser(user_key):
                    self._forget(user_key)

    def _forget(self, user_key: str) -> None:
        """As the store forgets: the id and those merged with it (learned in the file)."""
        keys = set(linked_ids([pair for pair in self._merges if user_key in pair], user_key))
        self._forgotten |= keys
        self._merges = {pair for pair in self._merges if not keys.intersection(pair)}
        for key in keys:
            self._emails.pop(key, None)
            self._carts.pop(key, None)


def call_view(call: Call, settings: Settings) -> dict[str, Any]:
    """A call as the reader needs it: full URL, method and the parameters sent."""
    base = settings.pageview_base_url if call.api == "pageview" else settings.sailthru_base_url
    view: dict[str, Any] = {
        "method": call.method,
        "url": base + call.endpoint,
        "params": call.params,
    }
    if call.api == "rest":
        view["signed"] = "api_key, format=json, json=<params as JSON>, sig=md5(secret + values)"
    else:
        view["auth"] = "Authorization: Bearer <customer id>"
    return view


async def explain_entries(
    entries: list[Entry],
    settings: Settings,
    memory: Memory | None = None,
    *,
    write_key: str = SEND_WRITE_KEY,
    account: str = DEFAULT_ACCOUNT,
) -> list[dict[str, Any]]:
    """One JSON-ready explanation per input entry, in input order, planned with
    ``account``'s settings and memory.

    ``memory`` is what sailbridge learned so far (the console passes its store); by
    default the store ``settings.database`` names, opened read-only and never migrated
    (`open_read_only_memory`). What earlier entries would teach is kept in a
    `DryRunMemory`. The events are planned as if received with ``write_key``: the one
    `sailbridge send` queues a file under, unless the caller queues under another.
    """
    stored = await open_read_only_memory(settings.database, account) if memory is None else None
    dry_run = DryRunMemory(memory if memory is not None else stored)
    explained = []
    try:
        for entry in entries:
            if entry.event is None:
                explained.append(
                    {"position": entry.position, "outcome": "invalid", "reason": str(entry.error)}
                )
                continue
            explained.append(
                {
                    "position": entry.position,
                    **await explain_event(
                        entry.event, settings, dry_run, write_key=write_key, account=account
                    ),
                }
            )
        if settings.coalescing:
            await _show_groups(
                entries,
                explained,
                settings,
                DryRunMemory(memory if memory is not None else stored),
                write_key,
            )
    finally:
        if stored is not None:
            await stored.close()
    return explained


async def explain_event(
    event: Event,
    settings: Settings,
    memory: DryRunMemory,
    *,
    write_key: str | None = SEND_WRITE_KEY,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """What Sailthru would receive for ``event``: lookups, assumptions, calls or the
    reason there are none. What delivering it would teach goes into ``memory``."""
    lookups: list[LookupRecord] = []
    placeholders = PlaceholderFacts()
    facts = MemoryFirstFacts(memory, placeholders, settings.cart_memory_ttl, lookups)
    options = settings.deployment().account(account).settings.mapping_options()
    resolved = await resolve_plan(event, options, facts, lookups, write_key=write_key)
    view: dict[str, Any] = {
        "messageId": event.message_id,
        "type": event.type,
        **({"event": event.event} if event.type == EventType.TRACK else {}),
        "userKey": event.user_key,
    }
    if isinstance(resolved.plan, Deliver):
        await memory.apply(resolved.plan.remember)
    if lookups:
        view["lookups"] = [
            {
                **lookup.to_dict(),
                **({"call": call_view(lookup.call, settings)} if lookup.call else {}),
            }
            for lookup in lookups
        ]
    if placeholders.assumptions:
        view["assumptions"] = placeholders.assumptions
    warnings = [*ignored_overrides(event), *filter(None, [expiry_warning(event)])]
    if warnings:
        view["warnings"] = list(warnings)
    view.update(gate_view(event, options, write_key, resolved.plan))
    view.update(_plan_view(resolved.plan, settings))
    return view


async def _show_groups(
    entries: list[Entry],
    explained: list[dict[str, Any]],
    settings: Settings,
    memory: DryRunMemory,
    write_key: str,
) -> None:
    """Mark the events that would share a call when queued together (a backlog): each
    member of a merged run gets ``sentTogether`` with the run's positions and its calls.

    The file is replayed user line by user line, run by run, over a fresh dry-run
    memory, as the worker would deliver a backlog of it (`partition`, `resolve_group`).
    """
    lines: dict[str | None, list[int]] = {}
    for index, entry in enumerate(entries):
        if entry.event is not None:
            lines.setdefault(entry.event.user_key, []).append(index)
    runs: list[tuple[list[int], Kind | None]] = []
    for indexes in lines.values():
        events = [entries[i].event for i in indexes]
        for run in partition([event for event in events if event is not None]):
            runs.append((indexes[run.start : run.stop], run.kind if len(run) > 1 else None))
    options = settings.mapping_options()
    for indexes, kind in sorted(runs, key=lambda run: run[0][0]):
        lookups: list[LookupRecord] = []
        facts = MemoryFirstFacts(memory, PlaceholderFacts(), settings.cart_memory_ttl, lookups)
        members = [
            Member(event, write_key) for i in indexes if (event := entries[i].event) is not None
        ]
        if kind is None:
            resolved = await resolve_plan(
                members[0].event, options, facts, lookups, write_key=write_key
            )
            if isinstance(resolved.plan, Deliver):
                await memory.apply(resolved.plan.remember)
            continue
        group = await resolve_group(members, kind, options, facts)
        if isinstance(group, Unmergeable):
            continue  # delivered one by one
        await memory.apply(group.remember)
        riders = [indexes[i] for i in group.riders]
        if len(riders) < 2:
            continue
        together = {
            "kind": kind.value,
            "positions": [entries[i].position for i in riders],
            "calls": [call_view(call, settings) for call in group.calls],
        }
        for i in riders:
            explained[i]["sentTogether"] = together


def _plan_view(plan: Deliver | Skip | Fail, settings: Settings) -> dict[str, Any]:
    match plan:
        case Deliver(calls, _, notes, renamed):
            return {
                "outcome": "deliver",
                "calls": [call_view(c, settings) for c in calls],
                **({"notes": list(notes)} if notes else {}),
                **({"renamed": [r.to_dict() for r in renamed]} if renamed else {}),
            }
        case Skip(reason):
            return {"outcome": "skip", "reason": reason}
        case Fail(reason):
            return {"outcome": "fail", "reason": reason}


def gate_view(
    event: Event, options: MappingOptions, write_key: str | None, plan: Deliver | Skip | Fail
) -> dict[str, Any]:
    """The consent verdict (when categories are configured), the filter that skipped
    the event, or what the filters changed in it: the same pure steps `plan_event`
    takes, shown."""
    view: dict[str, Any] = {}
    consent = consent_verdict(event, options.consent)
    if consent is not None:
        view["consent"] = consent if isinstance(consent, str) else consent.reason
    if isinstance(plan, Filtered):
        view["filter"] = plan.rule
    elif options.filters.rules and not isinstance(plan, Skip):  # the filters passed it
        passed = apply_filters(options.filters, event, write_key)
        if isinstance(passed, Passed) and passed.notes:
            view["filters"] = list(passed.notes)
    return view
