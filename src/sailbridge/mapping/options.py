"""The destination settings the mapping reads: plain values, no secrets, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sailbridge.mapping.consent import NO_CONSENT_POLICY, ConsentPolicy
from sailbridge.mapping.filters import NO_FILTERS, FilterSet

OptoutValue = Literal["none", "basic", "blast", "all"]
OPTOUT_VALUES: Final[tuple[str, ...]] = ("none", "basic", "blast", "all")


@dataclass(frozen=True)
class MappingOptions:
    """Settings of one Sailthru destination that shape the calls (SPEC §2).

    ``optout_value`` is ``None`` unless explicitly configured: sending ``none`` by default
    would re-subscribe people who unsubscribed.
    """

    default_list_name: str | None = None
    optout_value: OptoutValue | None = None
    reminder_template: str | None = None
    reminder_time: str | None = None
    customer_id: str | None = None
    track_screens_as_pageviews: bool = False
    # What reaches Sailthru at all (docs/filters.md): checked before the mapping.
    filters: FilterSet = NO_FILTERS
    consent: ConsentPolicy = NO_CONSENT_POLICY
    clear_cart_after_hours: int | None = None
    """Default ``clearIncompleteCartAfterNHours`` for cart events without one (issue 21)."""
    rename_vars: bool = True
    """Make every var name valid by Sailthru's rules (`sailbridge.mapping.var_names`)."""
    var_name_max_length: int | None = None
