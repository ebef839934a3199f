"""Bytes no event should be lost over: repaired, or turned into a reason naming the field.

Clients send JSON that strict decoders refuse but that still carries good events: a
lone UTF-16 surrogate escape (JavaScript cutting an emoji in half), invalid UTF-8
inside a string, ``\\u0000`` (which PostgreSQL cannot store), a number beyond a
double (``1e400``), an object nested a thousand levels deep. `repair_json` rewrites
such a document so that it decodes, and so that only the event holding the problem
is refused:

- invalid UTF-8 and lone surrogates become U+FFFD (the Unicode replacement character);
- ``\\u0000`` becomes U+FFFD too, on every store alike (nothing downstream, keys
  included, ever sees a NUL — SQLite's ``json_each`` would truncate an id at one);
- a number out of range and a container nested deeper than `CUT_DEPTH` are replaced
  by a *marker*: a string starting with NUL, which no repaired input can contain.
  `value_problem` finds markers (and nesting deeper than `MAX_DEPTH`) in a decoded
  event and names the field, so that event alone is rejected with the reason.

Repair runs only when the fast decode fails or a ``\\u0000`` is present, so well-formed
input pays nothing for it.
"""

from __future__ import annotations

import re
from typing import Any, Final

MAX_DEPTH: Final = 64
"""Deepest nesting an event may have; the event object itself is level 1."""

CUT_DEPTH: Final = MAX_DEPTH + 2
"""Document depth past which containers are cut out during repair. A batch's events sit
two levels down (body object, ``batch`` array), so every container cut is inside an
event already deeper than `MAX_DEPTH`, and the decoder never recurses further."""

MARKER: Final = "\x00"
"""First character of a marker string; see the module docstring."""

NUL_ESCAPE: Final = b"\\u0000"

_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_NUMBER = rb"-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+|-?\d{4301,}"
MAX_INTEGER_DIGITS: Final = 4300
# Longest integer the decoder reads (Python's limit for int conversions); longer ones
# are out of range. Shorter integers are kept exactly, however large.
_TOKEN: Final = re.compile(rb"(" + _STRING + rb")|([\[{])|([\]}])|(" + _NUMBER + rb")", re.DOTALL)
_ESCAPE: Final = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\u0000"
)
_REPLACEMENT: Final = b"\\ufffd"
_TOO_DEEP: Final = b'"\\u0000too deep"'


def _fixed_escape(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    if text == b"\\\\" or len(text) == 12:  # an escaped backslash, or a surrogate pair
        return text
    return _REPLACEMENT


def _number_marker(text: bytes) -> bytes:
    shown = text[:24].decode("ascii") + ("..." if len(text) > 24 else "")
    return b'"\\u0000number ' + shown.encode("ascii") + b' is out of range"'


def _out_of_range(text: bytes) -> bool:
    """A float beyond a double's range, or an integer longer than the decoder reads."""
    if b"." not in text and b"e" not in text and b"E" not in text:
        return len(text.lstrip(b"-")) > MAX_INTEGER_DIGITS
    return abs(float(text)) == float("inf")


def valid_utf8(data: bytes) -> bytes:
    """``data`` with every invalid UTF-8 sequence replaced by U+FFFD."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode("utf-8")
    return data


def repair_json(data: bytes) -> bytes:
    """``data`` rewritten as described in the module docstring. Malformed JSON stays
    malformed (the decoder then says where); well-formed JSON keeps its meaning except
    for the replacements and markers."""
    data = valid_utf8(data)
    out: list[bytes] = []
    start = 0  # first byte not yet copied to out
    depth = 0
    cutting_at = 0  # depth of the container being cut out; 0: not cutting
    for match in _TOKEN.finditer(data):
        string, opening, closing, number = match.groups()
        if opening is not None:
            depth += 1
            if not cutting_at and depth > CUT_DEPTH:
                cutting_at = depth
                out.append(data[start : match.start()])
        elif closing is not None:
            if cutting_at and depth == cutting_at:
                cutting_at = 0
                out.append(_TOO_DEEP)
                start = match.end()
            depth -= 1
        elif cutting_at:
            continue
        elif string is not None:
            if b"\\u" in string:
                out.append(data[start : match.start()])
                out.append(_ESCAPE.sub(_fixed_escape, string))
                start = match.end()
        elif number is not None and _out_of_range(number):
            out.append(data[start : match.start()])
            out.append(_number_marker(number))
            start = match.end()
    if cutting_at:  # unbalanced: leave it malformed for the decoder to report
        return data
    out.append(data[start:])
    return b"".join(out)


def value_problem(value: Any, path: str = "") -> str | None:
    """Why the decoded ``value`` (one event) cannot be taken, naming the field; ``None``
    when it can. Looks for markers left by `repair_json` and for nesting deeper than
    `MAX_DEPTH`; iterative, so a deep value cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                return f"{_shown(where)} is nested deeper than {MAX_DEPTH} levels"
            stack.extend(
                (child, f"{where}.{key}" if where else str(key), depth + 1)
                for key, child in item.items()
            )
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                return f"{_shown(where)} is nested deeper than {MAX_DEPTH} levels"
            stack.extend(
                (child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item)
            )
        elif isinstance(item, str) and item.startswith(MARKER):
            if item == "\x00too deep":
                return f"{_shown(where)} is nested deeper than {MAX_DEPTH} levels"
            return f"{_shown(where)}: {item[1:]}"
    return None


def _shown(path: str) -> str:
    """A field path for a message, cut short if a deep value made it long."""
    if not path:
        return "the event"
    return path if len(path) <= 120 else path[:117] + "..."
