"""``sailbridge explain``: what Sailthru would receive for each event, without sending.

Uses the same planning loop as delivery (`resolve_plan`) with `PlannedFacts`, so the
output cannot drift from what delivery does. Secrets never appear: calls are shown as
their real parameters, and the signature is described rather than computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sailbridge.executor import LookupRecord, PlannedFacts, resolve_plan
from sailbridge.inputs import Entry
from sailbridge.mapping.plan import Call, Deliver, Fail, Skip
from sailbridge.settings import Settings
from sailbridge.store.memory import SqliteMemory


def call_view(call: Call, settings: Settings) -> dict[str, Any]:
    """A call as the reader needs it: full URL, method and the parameters sent."""
    base = settings.pageview_base_url if call.api == "pageview" else settings.sailthru_base_url
    view: dict[str, Any] = {"method": call.method, "url": base + call.endpoint,
                            "params": call.params}
    if call.api == "rest":
        view["signed"] = "api_key, format=json, json=<params as JSON>, sig=md5(secret + values)"
    else:
        view["auth"] = "Authorization: Bearer <customer id>"
    return view


async def explain_entries(entries: list[Entry], settings: Settings) -> list[dict[str, Any]]:
    """One JSON-ready explanation per input entry, in input order."""
    memory = SqliteMemory(settings.database) if Path(settings.database).is_file() else None
    options = settings.mapping_options()
    explained = []
    try:
        for entry in entries:
            if entry.event is None:
                explained.append({"position": entry.position, "outcome": "invalid",
                                  "reason": str(entry.error)})
                continue
            lookups: list[LookupRecord] = []
            facts = PlannedFacts(memory, settings.cart_memory_ttl, lookups)
            resolved = await resolve_plan(entry.event, options, facts, lookups)
            event = entry.event
            view: dict[str, Any] = {
                "position": entry.position,
                "messageId": event.message_id,
                "type": event.type,
                **({"event": event.event} if event.type == "track" else {}),
                "userKey": event.user_key,
            }
            view.update(_plan_view(resolved.plan, settings))
            if lookups:
                view["lookups"] = [
                    {**lookup.to_dict(), **({"call": call_view(lookup.call, settings)}
                                            if lookup.call else {})}
                    for lookup in lookups
                ]
            if facts.assumptions:
                view["assumptions"] = facts.assumptions
            explained.append(view)
    finally:
        if memory is not None:
            memory.close()
    return explained


def _plan_view(plan: Deliver | Skip | Fail, settings: Settings) -> dict[str, Any]:
    match plan:
        case Deliver(calls, _):
            return {"outcome": "deliver", "calls": [call_view(c, settings) for c in calls]}
        case Skip(reason):
            return {"outcome": "skip", "reason": reason}
        case Fail(reason):
            return {"outcome": "fail", "reason": reason}
