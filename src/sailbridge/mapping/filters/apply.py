"""`apply_filters`: the rules run in order over one event (pure); the first that skips
it ends it, and a rule that removes fields hands the smaller event to the rules after."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

from sailbridge.events import Event
from sailbridge.mapping.filters.rules import FilterSet, Rule
from sailbridge.mapping.plan import Skip


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
        return tuple(
            f"filter {rule.name!r} "
            f"{'dropped' if rule.action == 'drop_fields' else 'kept only'} "
            + ", ".join(".".join(path) for path in rule.fields)
            for rule in self.changed_by
        )


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
                return Filtered(
                    f"not sent: filter {rule.name!r} only sends events that match it", rule.name
                )
        elif action == "drop":
            return Filtered(f"dropped by filter {rule.name!r}", rule.name)
        elif action == "sample":
            if sample_point(event.user_key or "") >= rule.share:
                return Filtered(
                    f"left out of the {rule.share:.4g} sample of filter {rule.name!r}", rule.name
                )
        elif action != "only_send":
            event, changed = _reshape(event, rule)
            if changed:
                changed_by += (rule,)
    return Passed(event, changed_by)


def _reshape(event: Event, rule: Rule) -> tuple[Event, bool]:
    """``event`` with ``rule.fields`` dropped, or with only them kept under each root
    they name (roots they do not name are left whole); whether anything changed."""
    changes: dict[str, dict[str, Any]] = {}
    for root, paths in _by_root(rule.fields):
        current: dict[str, Any] = getattr(event, root)
        reshaped = (
            _without(current, paths) if rule.action == "drop_fields" else _only(current, paths)
        )
        if reshaped is not current:
            changes[root] = reshaped
    if not changes:
        return event, False
    return msgspec.structs.replace(event, **changes), True


@lru_cache(maxsize=256)
def _by_root(
    fields: tuple[tuple[str, ...], ...],
) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """The paths grouped by their first part, each without it (in the order given)."""
    return tuple(
        (root, tuple(path[1:] for path in fields if path[0] == root))
        for root in dict.fromkeys(path[0] for path in fields)
    )


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
