"""`parse_filters`: the rules as written in the settings file (``[[filters]]`` tables,
or JSON of the same shape), read and checked once, at start; a rule written wrong raises
`FilterError` with one line naming it."""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from sailbridge.events import EVENT_TYPES
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
)
from sailbridge.mapping.filters.paths import OBJECT_ROOTS, ROOTS
from sailbridge.mapping.filters.rules import ACTIONS, NO_FILTERS, FilterError, FilterSet, Rule
from sailbridge.mapping.routing import normalize_event_name


class _ConditionSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A condition as written: exactly one of its forms."""

    type: str | list[str] | None = None
    event: str | list[str] | None = None
    write_key: str | list[str] | None = None
    field: str | None = None
    equals: Any = msgspec.UNSET
    one_of: list[Any] | None = None
    exists: bool | None = None
    matches: str | None = None
    all: list[_ConditionSpec] | None = None
    any: list[_ConditionSpec] | None = None
    not_: _ConditionSpec | None = msgspec.field(default=None, name="not")


class _RuleSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A rule as written in the settings file."""

    name: str
    action: str
    when: _ConditionSpec | None = None
    share: float | None = None
    fields: list[str] | None = None


_FORMS: Final = ("type", "event", "write_key", "field", "all", "any", "not")


def parse_filters(raw: Any) -> FilterSet:
    """The rules from the settings file's ``[[filters]]`` tables (or JSON of the same
    shape), checked; a rule written wrong raises `FilterError` naming it."""
    if raw is None or raw == "" or raw == []:
        return NO_FILTERS
    if not isinstance(raw, list):
        raise FilterError("must be a list of rules ([[filters]] tables in the settings file)")
    rules: list[Rule] = []
    for number, item in enumerate(raw, start=1):
        label = f"rule {number}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label += f" ({item['name']!r})"
        try:
            spec = msgspec.convert(item, _RuleSpec)
            rules.append(_rule(spec))
        except (msgspec.ValidationError, FilterError) as exc:
            raise FilterError(f"{label}: {exc}") from None
    names = [rule.name for rule in rules]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        raise FilterError(
            f"two rules are named {repeated!r}: each needs its own name (skips are counted by it)"
        )
    return FilterSet(tuple(rules))


def _rule(spec: _RuleSpec) -> Rule:
    name = spec.name.strip()
    if not name:
        raise FilterError("name is blank")
    action = spec.action.strip().lower().replace("-", "_").replace(" ", "_")
    if action not in ACTIONS:
        raise FilterError(f"unknown action {spec.action!r} (one of {', '.join(ACTIONS)})")
    when = None if spec.when is None else _condition(spec.when, "when")
    if action == "only_send" and when is None:
        raise FilterError("only_send needs a condition (when): it sends only what matches it")
    if action == "drop" and when is None:
        raise FilterError("drop needs a condition (when); without one it drops every event")
    if (spec.share is not None) != (action == "sample"):
        raise FilterError(
            "share is for action sample, which needs one"
            if action == "sample"
            else f"share is only for action sample, not {action}"
        )
    share = 1.0 if spec.share is None else spec.share
    if action == "sample" and not 0 < share < 1:
        raise FilterError(f"share must be above 0 and below 1 (0.1 is 10 %), got {share}")
    reshapes = action in ("drop_fields", "keep_fields")
    if reshapes != bool(spec.fields):
        raise FilterError(
            f"{action} needs fields (a list of paths)"
            if reshapes
            else f"fields are only for drop_fields and keep_fields, not {action}"
        )
    fields = tuple(_path(text, "fields", objects_only=True) for text in spec.fields or ())
    return Rule(name, action, when, share, fields)  # type: ignore[arg-type] # checked above


def _condition(spec: _ConditionSpec, where: str) -> Condition:
    given = [
        form for form in _FORMS if getattr(spec, "not_" if form == "not" else form) is not None
    ]
    if len(given) != 1:
        raise FilterError(
            f"{where}: a condition is exactly one of {', '.join(_FORMS)}, "
            f"got {', '.join(given) or 'none'}"
        )
    comparisons = [
        name
        for name in ("equals", "one_of", "exists", "matches")
        if getattr(spec, name) not in (None, msgspec.UNSET)
    ]
    if given[0] != "field" and comparisons:
        raise FilterError(f"{where}: {comparisons[0]} goes with field")
    match given[0]:
        case "type":
            types = _texts(spec.type)
            unknown = sorted(types - EVENT_TYPES)
            if unknown:
                raise FilterError(
                    f"{where}: unknown event type {unknown[0]!r} "
                    f"(one of {', '.join(sorted(EVENT_TYPES))})"
                )
            return TypeIs(types)
        case "event":
            return EventIs(frozenset(normalize_event_name(name) for name in _texts(spec.event)))
        case "write_key":
            return WriteKeyIs(_texts(spec.write_key))
        case "field":
            return _field_condition(spec, where)
        case "all" | "any":
            parts = getattr(spec, given[0])
            if not parts:
                raise FilterError(f"{where}: {given[0]} needs at least one condition")
            compiled = tuple(
                _condition(part, f"{where}.{given[0]}[{index}]") for index, part in enumerate(parts)
            )
            return AllOf(compiled) if given[0] == "all" else AnyOf(compiled)
    assert spec.not_ is not None
    return Not(_condition(spec.not_, f"{where}.not"))


def _texts(value: str | list[str] | None) -> frozenset[str]:
    values = [value] if isinstance(value, str) else list(value or ())
    if not values or any(not text.strip() for text in values):
        raise FilterError("names must be non-blank")
    return frozenset(text.strip() for text in values)


def _field_condition(spec: _ConditionSpec, where: str) -> Condition:
    assert spec.field is not None
    path = _path(spec.field, f"{where}.field")
    given = [
        name
        for name in ("equals", "one_of", "exists", "matches")
        if getattr(spec, name) not in (None, msgspec.UNSET)
    ]
    if len(given) != 1:
        raise FilterError(
            f"{where}: field {spec.field!r} needs exactly one of equals, "
            f"one_of, exists, matches; got {', '.join(given) or 'none'}"
        )
    match given[0]:
        case "equals":
            return FieldEquals(path, (spec.equals,))
        case "one_of":
            if not spec.one_of:
                raise FilterError(f"{where}: one_of needs at least one value")
            return FieldEquals(path, tuple(spec.one_of))
        case "exists":
            return FieldExists(path, bool(spec.exists))
    try:
        pattern = re.compile(spec.matches or "")
    except re.error as exc:
        raise FilterError(
            f"{where}: matches {spec.matches!r} is not a valid regular expression: {exc}"
        ) from None
    return FieldMatches(path, pattern)


def _path(text: str, where: str, *, objects_only: bool = False) -> tuple[str, ...]:
    path = tuple(text.strip().split("."))
    if any(not part for part in path):
        raise FilterError(f"{where}: {text!r} is not a field path (like properties.plan)")
    roots = OBJECT_ROOTS if objects_only else tuple(ROOTS)
    if path[0] not in roots:
        raise FilterError(
            f"{where}: unknown field root {path[0]!r} in {text!r} (one of {', '.join(roots)})"
        )
    if objects_only and len(path) < 2:
        raise FilterError(
            f"{where}: {text!r} names a whole object; name fields in it (like {path[0]}.x)"
        )
    return path
