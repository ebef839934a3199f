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
    """The distinct line keys of ``keys`` in ``account``, in order (`line_key` of
    each, written out: the sort calls this for every job it places)."""
    if account == DEFAULT_ACCOUNT:
        return list(dict.fromkeys(keys))
    return [f"{account}{SEPARATOR}{key}" for key in dict.fromkeys(keys)]


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


def route_key(account: str, route: str) -> str:
    """The rate limiter's key of ``route`` in ``account`` (one limiter keyed by account
    and route; PostgreSQL's shared slots keep the key as their ``route``): the route
    itself for ``default``, so a running deployment's slots stay where they are."""
    return route if account == DEFAULT_ACCOUNT else f"{account} {route}"


def split_route_key(key: str) -> tuple[str, str]:
    """``(account, route)`` of a `route_key`."""
    parts = key.split(" ", 1)
    if len(parts) == 2 and " " in parts[1]:  # a route is "METHOD /path": no account
        return parts[0], parts[1]
    return DEFAULT_ACCOUNT, key


def account_limits(limits: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Each account's per-route limits (``account → route → calls/s``) as one limiter's
    keys (`route_key`)."""
    return {
        route_key(account, route): rate
        for account, routes in limits.items()
        for route, rate in routes.items()
    }


def count_name(account: str, name: str) -> str:
    """The counter holding ``account``'s ``name`` (``pending``, ``delivered``…): the
    name itself for ``default``, so the counters of a store written before accounts
    stay where they are; ``account`` + a unit separator + the name for any other."""
    return name if account == DEFAULT_ACCOUNT else f"{account}{SEPARATOR}{name}"


def split_count_name(counter: str) -> tuple[str, str]:
    """``(account, name)`` of a `count_name`."""
    account, separator, name = counter.rpartition(SEPARATOR)
    return (account, name) if separator else (DEFAULT_ACCOUNT, name)


def counters_of(counters: Mapping[str, int], account: str | None) -> dict[str, int]:
    """The counters by plain name: ``account``'s own, or (``None``) the sum over every
    account. Counters no account owns (``rejected``, ``deduplicated``, ``inbox``: events
    refused, dropped or not sorted yet belong to a source, not an account) are the
    store's in both cases."""
    totals: dict[str, int] = {}
    for counter, n in counters.items():
        owner, name = split_count_name(counter)
        if account is None or owner == account or name in SOURCE_COUNTERS:
            totals[name] = totals.get(name, 0) + int(n)
    return totals


SOURCE_COUNTERS: Final = frozenset({"rejected", "deduplicated", "inbox"})
"""Counters of what ingest did before an event became an account's job."""
