"""Destination filters: ordered rules that decide which events reach Sailthru, and with
which fields (Segment's Destination Filters; RudderStack's allow and deny lists).

A rule is data: a name, an optional condition over the event and one action. The
rules are read from the settings file once, at start (`parse_filters`, which refuses a
rule written wrong with one line naming it), and evaluated for each event by the pure
`apply_filters`, which `plan_event` calls, so delivery, ``explain`` and the console's
tester agree. The set is a value handed to planning (`MappingOptions.filters`), never a
global, so it can later come from one account's settings.

Rules run in order; the first that skips the event ends it, and a rule that removes
fields hands the smaller event to the rules after it.
"""

from sailbridge.mapping.filters.apply import Filtered, Passed, apply_filters, sample_point
from sailbridge.mapping.filters.conditions import (
    AllOf,
    AnyOf,
    Condition,
    EventIs,
    FieldEquals,
    FieldExists,
    FieldMatches,
    Not,
    TypeIs,
    WriteKeyIs,
    compile_condition,
)
from sailbridge.mapping.filters.parsing import parse_filters
from sailbridge.mapping.filters.rules import ACTIONS, NO_FILTERS, FilterError, FilterSet, Rule

__all__ = [
    "ACTIONS",
    "NO_FILTERS",
    "AllOf",
    "AnyOf",
    "Condition",
    "EventIs",
    "FieldEquals",
    "FieldExists",
    "FieldMatches",
    "FilterError",
    "FilterSet",
    "Filtered",
    "Not",
    "Passed",
    "Rule",
    "TypeIs",
    "WriteKeyIs",
    "apply_filters",
    "compile_condition",
    "parse_filters",
    "sample_point",
]
