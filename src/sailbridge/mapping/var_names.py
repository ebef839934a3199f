"""Var names Sailthru accepts: the documented rules, applied to every var sailbridge sends.

Sailthru's documentation ("Set Custom Fields (Variables) on Users"): var names are
case-sensitive, may not start with a number or be only numbers, and may not contain
special characters such as ``%``, ``-``, ``.`` or ``$`` ("scrubbed from variable names
upon import"); spaces are converted to underscores by Sailthru itself. What the REST API
does with an invalid name is not documented, so names are made valid before sending:

1. **Scrub**: every character other than an ASCII letter, digit, underscore or space is
   removed (``utm-source`` → ``utmsource``, ``price.$`` → ``price``), as Sailthru's
   import does. Spaces stay as written: Sailthru turns them into underscores, and the
   seed document's ``arcade_blips and chitz_planet`` must come out exactly.
2. **Leading digit**: a name that starts with a digit (so also one of digits only) gets
   the prefix ``var_`` (``1st_visit`` → ``var_1st_visit``, ``2024`` → ``var_2024``); a
   name scrubbed to nothing becomes ``var``.
3. **Length cap** (``SAILBRIDGE_VAR_NAME_MAX_LENGTH``, none by default): a longer name
   keeps its beginning and ends with ``_`` and 4 hex digits of a hash of the original
   name, so it stays readable and is the same in every call
   (``checkout_shipping_address_postal_code`` at 32 → ``checkout_shipping_address_p_3f1c``).
4. **Unique within the call**: names within the rules are never touched and keep their
   place; a renamed name that meets one already used in the same ``vars`` gets ``_2``,
   ``_3`` … (shortened first to stay under the cap), in document order.

Pure; `rename_plan_vars` applies the rules to a plan's calls and records each rename.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from sailbridge.mapping.plan import Deliver, Plan
from sailbridge.sailthru.calls import Call

DIGIT_PREFIX: Final = "var_"
EMPTY_NAME: Final = "var"
HASH_DIGITS: Final = 4
MIN_MAX_LENGTH: Final = 8
"""The shortest cap that leaves room for a readable start and the hash suffix."""

_VALID: Final = re.compile(r"[A-Za-z_ ][A-Za-z0-9_ ]*")
_KNOWN_VALID: Final[dict[int | None, set[str]]] = {}
"""Names already found valid, per length cap: a memo, so the common case (the same trait
and property names event after event) is one C-level set comparison per ``vars``."""
_KNOWN_VALID_MAX: Final = 65_536
_NONE_KNOWN: Final[frozenset[str]] = frozenset()
_SCRUBBED: Final = re.compile(r"[^A-Za-z0-9_ ]")
_VAR_ENDPOINTS: Final = frozenset(("/user", "/event", "/purchase", "/return"))
"""The POST endpoints whose ``vars`` (and items' ``vars``) are var names."""


@dataclass(frozen=True)
class Rename:
    """One var sent under another name: where (``POST /user vars``), old and new."""

    where: str
    old: str
    new: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "from": self.old, "to": self.new}


def is_valid_var_name(name: str, max_length: int | None = None) -> bool:
    """Whether Sailthru takes ``name`` as it is (and it fits the cap, if any)."""
    return _VALID.fullmatch(name) is not None and (max_length is None or len(name) <= max_length)


def all_valid(names: Mapping[str, Any] | list[str], max_length: int | None = None) -> bool:
    """Whether every name is valid (`is_valid_var_name`), answered from a memo of names
    already checked; the memo is emptied when it outgrows ``_KNOWN_VALID_MAX``."""
    known = _KNOWN_VALID.setdefault(max_length, set())
    if known.issuperset(names):
        return True
    if len(known) > _KNOWN_VALID_MAX:
        known.clear()
    valid = True
    for name in names:
        if name in known:
            continue
        if isinstance(name, str) and is_valid_var_name(name, max_length):
            known.add(name)
        else:
            valid = False
    return valid


@lru_cache(maxsize=_KNOWN_VALID_MAX)
def sailthru_var_name(name: str, max_length: int | None = None) -> str:
    """``name`` made valid by rules 1–3; a valid name is returned unchanged.

    Memoised: the same odd names (``utm-source``) come back event after event."""
    if is_valid_var_name(name, max_length):
        return name
    scrubbed = _SCRUBBED.sub("", name)
    if not scrubbed:
        scrubbed = EMPTY_NAME
    elif scrubbed[0].isdigit():
        scrubbed = DIGIT_PREFIX + scrubbed
    if max_length is None or len(scrubbed) <= max_length:
        return scrubbed
    digest = hashlib.blake2s(
        name.encode("utf-8", "surrogatepass"), digest_size=HASH_DIGITS // 2
    ).hexdigest()
    return f"{scrubbed[: max_length - HASH_DIGITS - 1]}_{digest}"


def rename_vars(names: list[str], max_length: int | None = None) -> dict[str, str]:
    """Old → new for every name of one ``vars`` that must change (rule 4 included).

    Empty when every name is valid: the common case costs one set comparison.
    """
    if all_valid(names, max_length):
        return {}
    known = _KNOWN_VALID[max_length]  # all_valid just filled it with the valid ones
    invalid = [name for name in names if name not in known]
    used = {name for name in names if name in known}
    renamed: dict[str, str] = {}
    for name in invalid:
        candidate = sailthru_var_name(name, max_length)
        number = 1
        while candidate in used:
            number += 1
            suffix = f"_{number}"
            base = sailthru_var_name(name, max_length)
            if max_length is not None:
                base = base[: max_length - len(suffix)]
            candidate = base + suffix
        used.add(candidate)
        renamed[name] = candidate
    return renamed


def _renamed_vars(
    values: Mapping[str, Any],
    max_length: int | None,
    call: Call,
    item: int | None,
    renames: list[Rename],
) -> dict[str, Any] | None:
    """``values`` under valid names (``None`` when nothing changes), renames recorded
    under ``"POST /user vars"`` or ``"POST /purchase items[2].vars"`` (``item`` is the
    item's position), a label built only when something is renamed."""
    if all_valid(values, max_length):
        return None
    changes = rename_vars(list(values), max_length)
    where = f"{call.route} vars" if item is None else f"{call.route} items[{item}].vars"
    renames.extend(Rename(where, old, new) for old, new in changes.items())
    return {changes.get(name, name): value for name, value in values.items()}


def _call_with_valid_names(call: Call, max_length: int | None, renames: list[Rename]) -> Call:
    params = call.params
    values = params.get("vars")
    items = params.get("items")
    if not items and (
        values is None
        or (
            isinstance(values, dict)
            and _KNOWN_VALID.get(max_length, _NONE_KNOWN).issuperset(values)
        )
    ):
        return call  # the common case: a call without items whose names were seen valid
    changed: dict[str, Any] = {}
    if isinstance(values, dict):
        fixed = _renamed_vars(values, max_length, call, None, renames)
        if fixed is not None:
            changed["vars"] = fixed
    if isinstance(items, list):
        for index, item in enumerate(items):
            item_vars = item.get("vars") if isinstance(item, dict) else None
            if isinstance(item_vars, dict):
                fixed = _renamed_vars(item_vars, max_length, call, index, renames)
                if fixed is not None:
                    new_items = changed.setdefault("items", list(items))
                    new_items[index] = {**item, "vars": fixed}
    # Built directly: dataclasses.replace costs several times more, once per renamed call.
    return Call(call.method, call.endpoint, {**params, **changed}, call.api) if changed else call


def rename_plan_vars(plan: Plan, max_length: int | None) -> Plan:
    """``plan`` with every var name its calls send made valid (profile, event, purchase,
    return and item vars); each change is listed in `Deliver.renamed`."""
    if not isinstance(plan, Deliver):
        return plan
    renames: list[Rename] = []
    calls = plan.calls
    for position, call in enumerate(calls):
        if call.method == "POST" and call.endpoint in _VAR_ENDPOINTS:
            fixed = _call_with_valid_names(call, max_length, renames)
            if fixed is not call:
                calls = (*calls[:position], fixed, *calls[position + 1 :])
    if not renames:
        return plan
    return Deliver(calls, plan.remember, plan.notes, (*plan.renamed, *renames))
