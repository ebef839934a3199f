"""Finding the email a purchase must be filed under.

Sailthru's purchase API identifies the buyer by email only (extid is not accepted
there), while Segment events identify users by userId. So the email comes from the
event when it carries one, else from what an earlier identify taught sailbridge, else
from Sailthru's profile (SPEC §4, Order Completed).
"""

from __future__ import annotations

from dataclasses import dataclass

from sailbridge.events import Event
from sailbridge.mapping.context import context_email
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.plan import UNKNOWN, EmailLookup, Facts, Lookup, RememberEmail
from sailbridge.mapping.values import text


@dataclass(frozen=True)
class KnownEmail:
    """An email, and whether this event is where it came from (so worth remembering)."""

    address: str
    from_event: bool

    def remember(self, user_key: str) -> tuple[RememberEmail, ...]:
        """The memory update for an email the event taught us; nothing otherwise."""
        return (RememberEmail(user_key, self.address),) if self.from_event else ()


def event_email(event: Event) -> str | None:
    """``context.traits.email``, else ``properties.email``: the event's own email."""
    return context_email(event) or text(event.properties.get("email"))


def purchase_email(event: Event, facts: Facts, user_key: str) -> KnownEmail | Lookup:
    """The buyer's email, a lookup to find it, or `Unmappable` when none exists."""
    own = event_email(event)
    if own is not None:
        return KnownEmail(own, from_event=True)
    if facts.email is UNKNOWN:
        return Lookup(EmailLookup(user_key))
    if facts.email is None:
        raise Unmappable(
            f"no email is known for user {user_key!r}, and Sailthru files purchases by "
            "email only: identify the user with traits.email first, or send "
            "context.traits.email on this event"
        )
    return KnownEmail(facts.email, from_event=False)
