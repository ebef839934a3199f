"""`plan_event`: one event, the settings and the facts known so far → a `Plan`."""

from __future__ import annotations

from sailbridge.events import Event, EventType
from sailbridge.mapping.consent import WithoutConsent, consent_verdict
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.filters import Filtered, apply_filters
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.pageviews import plan_page, plan_screen
from sailbridge.mapping.plan import Facts, Fail, Plan, Skip
from sailbridge.mapping.routing import disabled_reason
from sailbridge.mapping.track import plan_track
from sailbridge.mapping.users import plan_alias, plan_identify
from sailbridge.mapping.var_names import rename_plan_vars

NOTHING_KNOWN = Facts()
"""The facts before any lookup: every one `UNKNOWN`."""


def plan_event(
    event: Event,
    options: MappingOptions,
    facts: Facts = NOTHING_KNOWN,
    *,
    write_key: str | None = None,
) -> Plan:
    """What to do for ``event``: calls to make, a fact to look up first, or a verdict.

    Pure: the same arguments always give the same plan, so the executor may plan again
    after every lookup, and retries replay exactly the same calls. Consent comes first,
    then the ``integrations`` object, then the destination filters (which may see
    ``write_key``, the one the event came in with), then the mapping, and last the var
    names of the calls are made ones Sailthru accepts (`rename_plan_vars`).
    """
    consent = consent_verdict(event, options.consent)
    if isinstance(consent, WithoutConsent):
        return consent
    disabled = disabled_reason(event.integrations)
    if disabled is not None:
        return Skip(disabled)
    filtered = apply_filters(options.filters, event, write_key)
    if isinstance(filtered, Filtered):
        return filtered
    try:
        planned = _plan(filtered.event, options, facts)
    except Unmappable as exc:
        return Fail(str(exc))
    if options.rename_vars:
        return rename_plan_vars(planned, options.var_name_max_length)
    return planned


def _plan(event: Event, options: MappingOptions, facts: Facts) -> Plan:
    match event.type:
        case EventType.IDENTIFY:
            return plan_identify(event, options, facts)
        case EventType.TRACK:
            return plan_track(event, options, facts)
        case EventType.PAGE:
            return plan_page(event, options)
        case EventType.SCREEN:
            return plan_screen(event, options)
        case EventType.ALIAS:
            return plan_alias(event)
        case EventType.GROUP:
            return Skip("Sailthru has no groups")
        case other:
            raise Unmappable(f"unknown event type {other!r}")
