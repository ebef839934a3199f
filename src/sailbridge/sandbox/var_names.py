"""The var names the sandbox accepts, as Sailthru documents them (error 99 otherwise).

Sailthru's pages say names may not start with a number or be only numbers and may not
contain special characters such as ``%``, ``-``, ``.`` or ``$``; spaces are accepted
(Sailthru turns them into underscores). What its REST API does with such a name is not
documented; the sandbox refuses the call, the strictest reading, so a client that
sends one finds out here rather than in production. An optional length cap
(``var_name_max_length``, 32 in integrations that report one) is refused the same way.

Written apart from sailbridge's own renaming (`sailbridge.mapping.var_names`) on
purpose: the sandbox checks what Sailthru documents, not what the client believes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from sailbridge.sandbox.errors import invalid

_ACCEPTED: Final = re.compile(r"[A-Za-z_ ][A-Za-z0-9_ ]*")


def check_var_names(values: Any, max_length: int | None, where: str) -> None:
    """Refuse (error 99) the first name in ``values`` (an object) Sailthru would not take."""
    if not isinstance(values, Mapping):
        return
    for name in values:
        if not isinstance(name, str) or _ACCEPTED.fullmatch(name) is None:
            raise invalid(
                f"Invalid variable name {name!r} in {where}: names may not start with a "
                "number, be only numbers, or contain special characters such as % - . $"
            )
        if max_length is not None and len(name) > max_length:
            raise invalid(
                f"Invalid variable name {name!r} in {where}: longer than {max_length} characters"
            )


def check_call_var_names(params: Mapping[str, Any], max_length: int | None) -> None:
    """Every var name of a call: its ``vars`` and each item's ``vars``."""
    check_var_names(params.get("vars"), max_length, "vars")
    items = params.get("items")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                check_var_names(item.get("vars"), max_length, f"items[{index}].vars")
