"""How the stores keep accounts apart: an account on every row that belongs to one, and
lines (per-user order) keyed by account too.

A line's key is the ordering key for the account ``default`` and ``account`` + a unit
separator + the ordering key for any other: so a queue written before accounts keeps
its lines as they are, and one user in two accounts has two independent lines (a slow
or paused account never holds another's events back). Jobs store their line keys; the
`Job` read back carries the plain ordering keys and its account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from sailbridge.settings.accounts import DEFAULT_ACCOUNT

SEPARATOR: Final = "\x1f"
"""ASCII unit separator: never in an account name (settings refuse control characters)."""


def line_key(account: str, key: str) -> str:
    """The key of ``key``'s line in ``account``."""
    return key if account == DEFAULT_ACCOUNT else f"{account}{SEPARATOR}{key}"


def line_keys(account: str, keys: Iterable[str]) -> list[str]:
    """The distinct line keys of ``keys`` in ``account``, in order."""
    return [line_key(account, key) for key in dict.fromkeys(keys)]


def ordering_key(line: str) -> str:
    """The ordering key a line key was made from (its account taken off)."""
    return line.rpartition(SEPARATOR)[2]


def pause_name(account: str) -> str:
    """The control row holding ``account``'s pause."""
    return f"paused:{account}"


PAUSE_PREFIX: Final = "paused:"


def pause_summary(paused: Mapping[str, str]) -> str | None:
    """One line for status: ``None`` when no account is paused; the reason alone when
    only ``default`` is (as before accounts); else each paused account and its reason."""
    if not paused:
        return None
    if set(paused) == {DEFAULT_ACCOUNT}:
        return paused[DEFAULT_ACCOUNT]
    return "; ".join(f"{account}: {reason}" for account, reason in sorted(paused.items()))
