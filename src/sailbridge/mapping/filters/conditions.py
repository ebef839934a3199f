"""The conditions a rule may test, as data, and `compile_condition`, which turns one into
a plain function once, at start, so each event costs only the comparisons themselves."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from sailbridge.events import Event, EventType
from sailbridge.mapping.filters.paths import MISSING, reader
from sailbridge.mapping.routing import normalize_event_name


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


Condition: TypeAlias = (
    TypeIs | EventIs | WriteKeyIs | FieldEquals | FieldExists | FieldMatches | AllOf | AnyOf | Not
)

Test: TypeAlias = Callable[[Event, "str | None"], bool]
"""A compiled condition: whether the event, received with this write key (``None``:
it had none), meets it."""


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
            return lambda event, write_key: (
                event.type == EventType.TRACK
                and event.event is not None
                and _event_key(event.event) in names
            )
        case WriteKeyIs(keys):
            return lambda event, write_key: write_key is not None and write_key in keys
        case FieldEquals(path, (value,)):
            read = reader(path)
            return lambda event, write_key: _equals(read(event), value)
        case FieldEquals(path, values):
            read = reader(path)
            return lambda event, write_key: any(_equals(read(event), want) for want in values)
        case FieldExists(path, present):
            read = reader(path)
            return lambda event, write_key: (read(event) is not MISSING) == present
        case FieldMatches(path, pattern):
            read, search = reader(path), pattern.search
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
    return value is not MISSING and _same(value, want)


def _all_of(tests: tuple[Test, ...]) -> Test:
    def test(event: Event, write_key: str | None) -> bool:
        for part in tests:  # noqa: SIM110 - a loop beats all() and its generator per event
            if not part(event, write_key):
                return False
        return True

    return test


def _any_of(tests: tuple[Test, ...]) -> Test:
    def test(event: Event, write_key: str | None) -> bool:
        for part in tests:  # noqa: SIM110 - a loop beats any() and its generator per event
            if part(event, write_key):
                return True
        return False

    return test


def _search(value: Any, search: Callable[[str], object]) -> bool:
    return isinstance(value, str) and search(value) is not None
