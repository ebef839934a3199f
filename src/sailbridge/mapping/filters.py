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

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal, TypeAlias

import msgspec

from sailbridge.events import EVENT_TYPES, Event
from sailbridge.mapping.plan import Skip
from sailbridge.mapping.routing import normalize_event_name


class FilterError(ValueError):
    """A rule written wrong; the message names the rule and what to change."""


# -- the compiled conditions ----------------------------------------------------------


@dataclass(frozen=True)
class TypeIs:
    """The event's type is one of ``types``."""

    types: frozenset[str]


@dataclass(frozen=True)
class EventIs:
    """A track event whose name, normalised as track names are, is one of ``names``."""

    names: frozenset[str]


@dataclass(frozen=True)
class WriteKeyIs:
    """The event came in with one of these write keys (never shown: they are secrets)."""

    keys: frozenset[str]


@dataclass(frozen=True)
class FieldEquals:
    """The field at ``path`` is one of ``values`` (``equals`` is a one-value ``one_of``)."""

    path: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class FieldExists:
    """The field at ``path`` is present (``exists = false``: absent), ``null`` included."""

    path: tuple[str, ...]
    present: bool


@dataclass(frozen=True)
class FieldMatches:
    """The field at ``path`` is a string in which ``pattern`` is found."""

    path: tuple[str, ...]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition: TypeAlias = (TypeIs | EventIs | WriteKeyIs | FieldEquals | FieldExists
                        | FieldMatches | AllOf | AnyOf | Not)

Action = Literal["drop", "only_send", "sample", "drop_fields", "keep_fields"]
ACTIONS: Final[tuple[str, ...]] = ("drop", "only_send", "sample", "drop_fields",
                                   "keep_fields")


Test: TypeAlias = Callable[[Event, "str | None"], bool]
"""A compiled condition: whether the event, received with this write key (``None``:
it had none), meets it."""


@dataclass(frozen=True)
class Rule:
    """One destination filter. ``when`` ``None``: every event. ``share`` is the sampled
    fraction (``sample``); ``fields`` the paths dropped or kept. ``test`` is ``when``
    compiled once (`compile_condition`), which is what runs for each event."""

    name: str
    action: Action
    when: Condition | None = None
    share: float = 1.0
    fields: tuple[tuple[str, ...], ...] = ()
    test: Test | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.test is None and self.when is not None:
            object.__setattr__(self, "test", compile_condition(self.when))


@dataclass(frozen=True)
class FilterSet:
    """The destination's rules, in the order they run."""

    rules: tuple[Rule, ...] = ()


NO_FILTERS: Final = FilterSet()


@dataclass(frozen=True)
class Filtered(Skip):
    """Skipped by the destination filter ``rule`` (counted per rule in metrics)."""

    rule: str


@dataclass(frozen=True)
class Passed:
    """The event (perhaps with fields removed) goes on to the mapping; ``changed_by``
    are the rules that removed fields from it."""

    event: Event
    changed_by: tuple[Rule, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What the rules changed, in words (for ``explain``)."""
        return tuple(f"filter {rule.name!r} "
                     f"{'dropped' if rule.action == 'drop_fields' else 'kept only'} "
                     + ", ".join(".".join(path) for path in rule.fields)
                     for rule in self.changed_by)


# -- evaluation (pure) ----------------------------------------------------------------

_MISSING: Final = object()


def _reader(path: tuple[str, ...]) -> Callable[[Event], Any]:
    """A function reading ``path`` from an event (the root looked up once, here)."""
    root = _ROOTS[path[0]]
    rest = path[1:]

    def read(event: Event) -> Any:
        value: Any = root(event)
        for part in rest:
            if type(value) is dict:
                value = value.get(part, _MISSING)
                if value is _MISSING:
                    return _MISSING
            elif type(value) is list and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _MISSING
        return value

    return read


def _same(left: Any, right: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, ``"1"`` is not ``1``."""
    if type(left) is type(right):
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right) and isinstance(left, str) == isinstance(right, str)


@lru_cache(maxsize=1024)
def _event_key(name: str) -> str:
    """`normalize_event_name`, remembered: a site sends few distinct names, many times."""
    return normalize_event_name(name)


def compile_condition(condition: Condition) -> Test:
    """``condition`` as a function of the event and its write key, built once at start
    so that each event costs only the comparisons themselves."""
    match condition:
        case TypeIs(types):
            return lambda event, write_key: event.type in types
        case EventIs(names):
            return lambda event, write_key: (event.type == "track" and event.event is not None
                                             and _event_key(event.event) in names)
        case WriteKeyIs(keys):
            return lambda event, write_key: write_key is not None and write_key in keys
        case FieldEquals(path, (value,)):
            read = _reader(path)
            return lambda event, write_key: _equals(read(event), value)
        case FieldEquals(path, values):
            read = _reader(path)
            return lambda event, write_key: any(_equals(read(event), want) for want in values)
        case FieldExists(path, present):
            read = _reader(path)
            return lambda event, write_key: (read(event) is not _MISSING) == present
        case FieldMatches(path, pattern):
            read, search = _reader(path), pattern.search
            return lambda event, write_key: _search(read(event), search)
        case AllOf(parts):
            return _all_of(tuple(compile_condition(part) for part in parts))
        case AnyOf(parts):
            return _any_of(tuple(compile_condition(part) for part in parts))
        case Not(part):
            test = compile_condition(part)
            return lambda event, write_key: not test(event, write_key)
    raise TypeError(f"not a condition: {condition!r}")


def _equals(value: Any, want: Any) -> bool:
    return value is not _MISSING and _same(value, want)


def _all_of(tests: tuple[Test, ...]) -> Test:
    def test(event: Event, write_key: str | None) -> bool:
        for part in tests:
            if not part(event, write_key):
                return False
        return True

    return test


def _any_of(tests: tuple[Test, ...]) -> Test:
    def test(event: Event, write_key: str | None) -> bool:
        for part in tests:
            if part(event, write_key):
                return True
        return False

    return test


def _search(value: Any, search: Callable[[str], object]) -> bool:
    return isinstance(value, str) and search(value) is not None


def sample_point(user_key: str) -> float:
    """Where ``user_key`` falls in [0, 1): a stable hash, the same in every process and
    every release, so a person is always in or always out of a sample."""
    digest = hashlib.blake2b(user_key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def apply_filters(filters: FilterSet, event: Event, write_key: str | None) -> Passed | Filtered:
    """Run the rules in order over ``event``: `Filtered` by the first that skips it,
    else `Passed` with the event as the later rules and the mapping see it."""
    changed_by: tuple[Rule, ...] = ()
    for rule in filters.rules:
        test = rule.test
        action = rule.action
        if test is not None and not test(event, write_key):
            if action == "only_send":
                return Filtered(f"not sent: filter {rule.name!r} only sends events that "
                                "match it", rule.name)
        elif action == "drop":
            return Filtered(f"dropped by filter {rule.name!r}", rule.name)
        elif action == "sample":
            if sample_point(event.user_key or "") >= rule.share:
                return Filtered(f"left out of the {rule.share:.4g} sample of filter "
                                f"{rule.name!r}", rule.name)
        elif action != "only_send":
            event, changed = _reshape(event, rule)
            if changed:
                changed_by += (rule,)
    return Passed(event, changed_by)


_OBJECT_ROOTS: Final = ("properties", "traits", "context", "integrations")
"""Roots whose fields a rule may drop or keep (the event's own objects)."""


def _reshape(event: Event, rule: Rule) -> tuple[Event, bool]:
    """``event`` with ``rule.fields`` dropped, or with only them kept under each root
    they name (roots they do not name are left whole); whether anything changed."""
    changes: dict[str, dict[str, Any]] = {}
    for root, paths in _by_root(rule.fields):
        current: dict[str, Any] = getattr(event, root)
        reshaped = _without(current, paths) if rule.action == "drop_fields" \
            else _only(current, paths)
        if reshaped is not current:
            changes[root] = reshaped
    if not changes:
        return event, False
    return msgspec.structs.replace(event, **changes), True


@lru_cache(maxsize=256)
def _by_root(fields: tuple[tuple[str, ...], ...]
             ) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """The paths grouped by their first part, each without it (in the order given)."""
    return tuple((root, tuple(path[1:] for path in fields if path[0] == root))
                 for root in dict.fromkeys(path[0] for path in fields))


def _without(value: dict[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    """``value`` without the fields at ``paths``, copied only along them: ``value``
    itself when none of them is there."""
    result = value
    for path in paths:
        head, rest = path[0], path[1:]
        if head not in result:
            continue
        if rest and type(result[head]) is not dict:
            continue
        replaced = _without(result[head], [rest]) if rest else None
        if rest and replaced is result[head]:
            continue
        if result is value:
            result = dict(value)
        if rest:
            result[head] = replaced
        else:
            del result[head]
    return result


def _only(value: dict[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    """Only the fields of ``value`` at ``paths`` (a path to an object keeps it whole):
    ``value`` itself when that is all it holds."""
    result: dict[str, Any] = {}
    for head in dict.fromkeys(path[0] for path in paths):
        if head not in value:
            continue
        rests = [path[1:] for path in paths if path[0] == head]
        if any(not rest for rest in rests) or type(value[head]) is not dict:
            result[head] = value[head]
        else:
            result[head] = _only(value[head], rests)
    unchanged = len(result) == len(value) and all(result[key] is value[key] for key in result)
    return value if unchanged else result


# -- reading the rules (once, at start) -------------------------------------------------

_ROOTS: Final[dict[str, Any]] = {
    "properties": lambda e: e.properties, "traits": lambda e: e.traits,
    "context": lambda e: e.context, "integrations": lambda e: e.integrations,
    "type": lambda e: e.type, "event": lambda e: _or_missing(e.event),
    "name": lambda e: _or_missing(e.name), "userId": lambda e: _or_missing(e.user_id),
    "anonymousId": lambda e: _or_missing(e.anonymous_id),
    "previousId": lambda e: _or_missing(e.previous_id),
    "groupId": lambda e: _or_missing(e.group_id),
    "messageId": lambda e: _or_missing(e.message_id),
    "timestamp": lambda e: _or_missing(e.timestamp),
}
"""The fields a path may start with, spelled as on the wire."""


def _or_missing(value: str | None) -> Any:
    return _MISSING if value is None else value


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
        raise FilterError(f"two rules are named {repeated!r}: each needs its own name "
                          "(skips are counted by it)")
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
        raise FilterError("share is for action sample, which needs one" if action == "sample"
                          else f"share is only for action sample, not {action}")
    share = 1.0 if spec.share is None else spec.share
    if action == "sample" and not 0 < share < 1:
        raise FilterError(f"share must be above 0 and below 1 (0.1 is 10 %), got {share}")
    reshapes = action in ("drop_fields", "keep_fields")
    if reshapes != bool(spec.fields):
        raise FilterError(f"{action} needs fields (a list of paths)" if reshapes
                          else f"fields are only for drop_fields and keep_fields, not {action}")
    fields = tuple(_path(text, "fields", objects_only=True) for text in spec.fields or ())
    return Rule(name, action, when, share, fields)  # type: ignore[arg-type] # checked above


def _condition(spec: _ConditionSpec, where: str) -> Condition:
    given = [form for form in _FORMS if getattr(spec, "not_" if form == "not" else form)
             is not None]
    if len(given) != 1:
        raise FilterError(f"{where}: a condition is exactly one of {', '.join(_FORMS)}, "
                          f"got {', '.join(given) or 'none'}")
    comparisons = [name for name in ("equals", "one_of", "exists", "matches")
                   if getattr(spec, name) not in (None, msgspec.UNSET)]
    if given[0] != "field" and comparisons:
        raise FilterError(f"{where}: {comparisons[0]} goes with field")
    match given[0]:
        case "type":
            types = _texts(spec.type)
            unknown = sorted(types - EVENT_TYPES)
            if unknown:
                raise FilterError(f"{where}: unknown event type {unknown[0]!r} "
                                  f"(one of {', '.join(sorted(EVENT_TYPES))})")
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
            compiled = tuple(_condition(part, f"{where}.{given[0]}[{index}]")
                             for index, part in enumerate(parts))
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
    given = [name for name in ("equals", "one_of", "exists", "matches")
             if getattr(spec, name) not in (None, msgspec.UNSET)]
    if len(given) != 1:
        raise FilterError(f"{where}: field {spec.field!r} needs exactly one of equals, "
                          f"one_of, exists, matches; got {', '.join(given) or 'none'}")
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
        raise FilterError(f"{where}: matches {spec.matches!r} is not a valid regular "
                          f"expression: {exc}") from None
    return FieldMatches(path, pattern)


def _path(text: str, where: str, *, objects_only: bool = False) -> tuple[str, ...]:
    path = tuple(text.strip().split("."))
    if any(not part for part in path):
        raise FilterError(f"{where}: {text!r} is not a field path (like properties.plan)")
    roots = _OBJECT_ROOTS if objects_only else tuple(_ROOTS)
    if path[0] not in roots:
        raise FilterError(f"{where}: unknown field root {path[0]!r} in {text!r} "
                          f"(one of {', '.join(roots)})")
    if objects_only and len(path) < 2:
        raise FilterError(f"{where}: {text!r} names a whole object; name fields in it "
                          f"(like {path[0]}.x)")
    return path
