"""Consent: the Sailthru destination's consent categories against the event's consent.

Segment's Consent Management stamps events with ``context.consent.categoryPreferences``
(category name → boolean). A destination mapped to categories receives an event only
if the person granted every one of them; an event without the consent object flows
unenforced, unless this destination requires consent. Consent is looked at first,
before the ``integrations`` object (as Segment does), so ``"Sailthru": true`` never
overrides a refusal. A batch's ``context`` is merged under each event's at intake, so
a batch-level consent object counts.

A ``User Deleted`` event is never held back: deleting a person's data is what someone
who withdrew consent may well be asking for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sailbridge.events import Event, EventType
from sailbridge.mapping.plan import Skip
from sailbridge.mapping.routing import normalize_event_name

_DELETION: Final = normalize_event_name("User Deleted")


@dataclass(frozen=True)
class ConsentPolicy:
    """The consent categories the destination belongs to (none: no enforcement), and
    whether an event without a consent object is held back."""

    categories: tuple[str, ...] = ()
    required: bool = False


NO_CONSENT_POLICY: Final = ConsentPolicy()


@dataclass(frozen=True)
class WithoutConsent(Skip):
    """Skipped because the person did not grant ``category`` (``None``: the event
    carries no consent object and consent is required)."""

    category: str | None


def consent_verdict(event: Event, policy: ConsentPolicy) -> WithoutConsent | str | None:
    """`WithoutConsent` when the event may not go; else a sentence saying why it may
    (for ``explain``), or ``None`` when no categories are configured."""
    if not policy.categories:
        return None
    if (
        event.type == EventType.TRACK
        and event.event
        and normalize_event_name(event.event) == _DELETION
    ):
        return "a deletion is sent whatever the consent"
    consent = event.context.get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        if policy.required:
            return WithoutConsent(
                "no consent: the event has no context.consent."
                "categoryPreferences and consent is required",
                None,
            )
        return "no consent object: sent unenforced (consent is not required)"
    for category in policy.categories:
        if preferences.get(category) is not True:
            state = "declined" if category in preferences else "not given"
            return WithoutConsent(f"no consent for category {category!r} ({state})", category)
    return "consent granted for " + ", ".join(policy.categories)
