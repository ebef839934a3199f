"""One event → one line of a Job API file, derived from live delivery's own plan.

Pure, like `sailbridge.mapping`: the event is planned by `plan_event` exactly as live
delivery plans it, and the planned call is then re-shaped into a job line. So the vars,
lists, items, cents and reasons of a backfilled event are those live delivery would
have sent; only the envelope differs.

- ``POST /user`` (identify, alias, Subscribed) → an ``update`` line. Per-user fields
  stay in the line; ``lists`` and ``optout_email`` become the job's ``update`` object
  (``{"lists": ..., "optout": ...}``), the documented way to apply them to every line
  of a file, so lines with different ones go to different files.
- ``POST /purchase`` with ``incomplete: 0`` (Order Completed) → a ``purchase_import``
  line: the purchase without ``incomplete``, ``date`` in the documented
  ``2019-06-01 12:00:00 +0000`` form.
- Anything else (custom events, carts, pageviews, deletions) has no bulk form.

How ``update`` lines address a profile is a setting (`LineKey`). ``extid`` (default)
writes the user API's own parameters (``id`` = userId, ``key: extid``, ``keys`` with
the email, ``keysconflict``), so a backfilled profile is the one live delivery
addresses afterwards, and merges are expressed. ``email`` writes only the documented
``{"email", "vars"}`` form, for accounts without extid lookup: its profiles carry no
extid, and a live identify that follows meets a key conflict (docs/backfill.md).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC
from typing import Any, Final, Literal, TypeAlias

import msgspec

from sailbridge.events import Event, InvalidEvent, parse_time
from sailbridge.mapping import plan_event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    UNKNOWN,
    CartLookup,
    Deliver,
    EmailLookup,
    Facts,
    Fail,
    Lookup,
    MemoryUpdate,
    ProfileState,
    RememberEmail,
    Skip,
    Unknown,
)
from sailbridge.sailthru.calls import Call

LineKey = Literal["email", "extid"]
LINE_KEYS: Final[tuple[str, ...]] = ("email", "extid")
JobKind = Literal["update", "purchase_import"]
UPDATE: Final = "update"
PURCHASE_IMPORT: Final = "purchase_import"

_JOB_WIDE_FIELDS: Final = (("lists", "lists"), ("optout_email", "optout"))
"""POST /user fields moved to the job's ``update`` object: (user API name, job name)."""

_NO_BULK_ROUTES: Final[dict[str, str]] = {
    "POST /event": "custom events have no bulk form in Sailthru's Job API",
    "POST /v1/track/event/pageview": "pageviews have no bulk form in Sailthru's Job API",
    "DELETE /user": "user deletions have no bulk form in Sailthru's Job API",
    "POST /return": "returns (Order Refunded) have no bulk form in Sailthru's Job API",
}
CART_NO_BULK: Final = (
    "cart events (Product Added / Removed) replace the user's whole "
    "current cart, which only live delivery can read; no bulk form"
)
NO_EMAIL_FOR_UPDATE: Final = (
    "no traits.email, and update lines are addressed by email (backfill_update_key=email)"
)
MERGE_NEEDS_EXTID: Final = (
    "a merge needs extid keys, which update lines carry only with backfill_update_key=extid"
)


class JobLine(msgspec.Struct, frozen=True):
    """One line of a job file, the job-level parameters its file must have, and the
    facts the event taught (an identify's email, for later orders in the input).

    A msgspec Struct, not a dataclass: one is made per event of a backfill, and a
    frozen dataclass costs several times as much to construct."""

    kind: JobKind
    line: dict[str, Any]
    job_params: dict[str, Any]
    remember: tuple[RememberEmail, ...] = ()


class NoBulkForm(msgspec.Struct, frozen=True):
    """The event is deliverable, but only live: Sailthru's Job API has no form for it."""

    reason: str


LinePlan: TypeAlias = JobLine | NoBulkForm | Skip | Fail | Lookup
"""A `Lookup` is only ever an `EmailLookup` (an order without an email of its own)."""


def backfill_facts(key: LineKey, email: str | Unknown | None = UNKNOWN) -> Facts:
    """The facts a backfill plans with: no Sailthru lookups are made, so an anonymous
    profile is taken to exist when merges can be expressed (a merge into a profile that
    does not exist just sets the keys) and to be absent otherwise."""
    profile = ProfileState.EXISTS if key == "extid" else ProfileState.ABSENT
    return Facts(email=email, anonymous_profile=profile)


def plan_line(event: Event, options: MappingOptions, key: LineKey, facts: Facts) -> LinePlan:
    """The job line for ``event``, why it has none, or the email lookup it needs."""
    plan = plan_event(event, options, facts)
    # isinstance checks, most frequent first: this runs once per event of a backfill.
    if isinstance(plan, Deliver):
        if len(plan.calls) == 1:
            return _line_for(plan.calls[0], key, plan.remember)
        routes = ", ".join(call.route for call in plan.calls)
        return NoBulkForm(f"several calls ({routes}) have no single bulk form")
    if isinstance(plan, Lookup):
        if isinstance(plan.request, EmailLookup):
            return plan
        if isinstance(plan.request, CartLookup):
            return NoBulkForm(CART_NO_BULK)
        # Not reached: backfill_facts always answers a ProfileLookup; kept total.
        return plan_line(
            event, options, key, dataclasses.replace(facts, anonymous_profile=ProfileState.ABSENT)
        )
    return plan  # Skip or Fail


def _line_for(call: Call, key: LineKey, remember: tuple[MemoryUpdate, ...]) -> LinePlan:
    emails = tuple([update for update in remember if type(update) is RememberEmail])
    if call.route == "POST /user":
        return update_line(call.params, key, emails)
    if call.route == "POST /purchase" and call.params.get("incomplete") == 0:
        return purchase_line(call.params, emails)
    return NoBulkForm(
        _NO_BULK_ROUTES.get(call.route, f"{call.route} has no bulk form in the Job API")
    )


def update_line(
    params: dict[str, Any], key: LineKey, remember: tuple[RememberEmail, ...] = ()
) -> JobLine | NoBulkForm:
    """POST /user parameters as an ``update`` line plus its job's ``update`` object."""
    job_params: dict[str, Any] = {}
    if "lists" in params or "optout_email" in params:
        job_params["update"] = {
            job_name: params[name] for name, job_name in _JOB_WIDE_FIELDS if name in params
        }
    if key == "extid":
        line = {
            name: value for name, value in params.items() if name not in ("lists", "optout_email")
        }
        return JobLine(UPDATE, line, job_params, remember)
    if "keysconflict" in params:
        return NoBulkForm(MERGE_NEEDS_EXTID)
    keys = params.get("keys")
    email = keys.get("email") if isinstance(keys, dict) else None
    if email is None:
        return NoBulkForm(NO_EMAIL_FOR_UPDATE)
    line = {"email": email}
    if "vars" in params:
        line["vars"] = params["vars"]
    return JobLine(UPDATE, line, job_params, remember)


def purchase_line(
    params: dict[str, Any], remember: tuple[RememberEmail, ...] = ()
) -> JobLine | Fail:
    """A completed POST /purchase as a ``purchase_import`` line."""
    line = {name: value for name, value in params.items() if name != "incomplete"}
    date = line.get("date")
    if isinstance(date, str):
        try:
            line["date"] = import_date(date)
        except InvalidEvent as exc:
            return Fail(f"timestamp: {exc}")
    return JobLine(PURCHASE_IMPORT, line, {}, remember)


_SEGMENT_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
"""``2024-01-02T03:04:05.678Z``: how Segment writes times, rewritten without parsing."""


def import_date(timestamp: str) -> str:
    """An ISO-8601 timestamp in the form Sailthru's purchase import documents
    (``2019-06-01 12:00:00 +0000``, UTC; fractions of a second dropped)."""
    if _SEGMENT_UTC.fullmatch(timestamp):
        return f"{timestamp[:10]} {timestamp[11:19]} +0000"
    return parse_time(timestamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
