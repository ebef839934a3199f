"""Flatten nested traits and properties into Sailthru's flat ``vars`` (SPEC §5).

Sailthru stores vars as a flat mapping, so nested data must be spelled out in the key:
objects join their keys with ``_`` and arrays use the element's index, exactly as
Segment's classic destination did (its "Played Game" example is the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEPARATOR = "_"


_SCALAR_TYPES = frozenset((str, int, float, bool, type(None)))
"""JSON's scalars, told apart by one set lookup: leaves are most of what is flattened,
and the `Mapping` check is an ABC check (``bench/backfill.py`` maps millions)."""


def flatten(value: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``value`` as one flat mapping of scalars.

    - Nested objects join their keys with ``_``; arrays use the index
      (``{"a": {"b": [7]}}`` → ``{"a_b_0": 7}``).
    - Keys are kept exactly as written, spaces and case included, because they are the
      names people chose for their Sailthru vars.
    - Scalars keep their JSON type and ``null`` stays ``null``: a var explicitly set to
      null is information, and Sailthru accepts it.
    - Empty objects and arrays produce nothing: there is no scalar to keep.
    - Collisions (``{"a_b": 1, "a": {"b": 2}}``) are settled by document order: the leaf
      that comes LATER wins, as with ``dict.update``. This keeps the result
      deterministic for any input without inventing key names nobody asked for.
    """
    flat: dict[str, Any] = {}
    for key, child in value.items():
        name = key if type(key) is str else str(key)
        if type(child) in _SCALAR_TYPES:
            flat[name] = child  # the common case, without a call
        else:
            _collect(child, name, flat)
    return flat


def _collect(value: Any, key: str, into: dict[str, Any]) -> None:
    """Write the scalar leaves under ``key`` into ``into``, in document order."""
    if type(value) in _SCALAR_TYPES:
        into[key] = value
    elif isinstance(value, Mapping):
        for child_key, child in value.items():
            _collect(child, f"{key}{SEPARATOR}{child_key}", into)
    elif isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            _collect(child, f"{key}{SEPARATOR}{index}", into)
    else:
        into[key] = value
