"""Paged listings shared by both stores: which index drives a page, which filters it
applies on top, and how a page and its cursor come out of the rows.

Every listing is newest first with a keyset cursor (``id < before``), so a page costs
the same on the first page as on the thousandth. One index *drives* each listing (a
user's jobs, a state's jobs); a filter that index cannot serve (an event name, reason
text, a state among a user's jobs) is applied to at most ``scan`` entries of the
driving index per call, so a rare match costs a bounded scan instead of a walk
through a million rows, and the page says where it stopped (`Page.searched_to`).

The decisions are plain data (`Listing`); each store renders them in its dialect
(`Dialect`) and runs the two statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sailbridge.store.base import JobQuery, ListState, Page

T = TypeVar("T")

NO_CURSOR = 2**62
"""``before`` when the listing starts at the newest row (keeps the SQL text static)."""

_STATE_DRIVER: dict[ListState, tuple[str, str | None, str | None]] = {
    # state: (indexed predicate, predicate applied as a filter, SQLite index)
    ListState.PENDING: ("state = 'pending'", "attempts = 0", "jobs_by_state"),
    ListState.RETRYING: ("state = 'pending' AND attempts > 0", None, "jobs_retrying"),
    ListState.IN_FLIGHT: ("state = 'claimed'", None, "jobs_by_state"),
    ListState.DELIVERED: ("state = 'delivered'", None, "jobs_by_state"),
    ListState.SKIPPED: ("state = 'skipped'", None, "jobs_by_state"),
    ListState.DEAD: ("state = 'dead'", None, "jobs_by_state"),
}


@dataclass(frozen=True)
class Dialect:
    """How a store's SQL spells what a listing needs."""

    param: Callable[[str, str], str]
    """``param(name, type)``: a named placeholder (``:name``, ``%(name)s::type``)."""
    event_name: str
    """The event's name: a track's ``event``, else its type (see `JobQuery`)."""
    contains: Callable[[str, str], str]
    """``contains(column, placeholder)``: the column holds the text (case-sensitive)."""
    index_hints: bool
    """Name the driving index in the query (SQLite's ``INDEXED BY``)."""


@dataclass(frozen=True)
class Listing:
    """One listing's plan: the driving predicate and index, the filters, the values."""

    driver: str
    index: str | None
    filters: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def windowed(self) -> bool:
        return bool(self.filters)


def job_listing(query: JobQuery, dialect: Dialect) -> Listing:
    """Plan `Store.find_jobs`: a user's index when ``user`` is given, else the state's."""
    filters: list[str] = []
    params: dict[str, Any] = {}
    index: str | None
    state = _STATE_DRIVER[query.state] if query.state is not None else None
    if query.user is not None:
        driver, index = f"user_key = {dialect.param('user', 'text')}", "jobs_by_user"
        params["user"] = query.user
        if state is not None:
            filters += [predicate for predicate in state[:2] if predicate]
    elif state is not None:
        driver, index = state[0], state[2]
        if state[1]:
            filters.append(state[1])
    else:
        driver, index = "true", None
    if query.event is not None:
        filters.append(f"{dialect.event_name} = {dialect.param('event', 'text')}")
        params["event"] = query.event
    if query.reason is not None:
        filters.append(dialect.contains("reason", dialect.param("reason", "text")))
        params["reason"] = query.reason
    return Listing(driver, index, filters, params)


def rejection_listing(reason: str | None, dialect: Dialect) -> Listing:
    """Plan `Store.find_rejections`: the rejections table by id, reason as a filter."""
    if reason is None:
        return Listing("true", None)
    return Listing("true", None, [dialect.contains("reason", dialect.param("reason", "text"))],
                   {"reason": reason})


def window_sql(listing: Listing, dialect: Dialect, table: str) -> str:
    """The oldest id and the number of the ``scan`` driving entries a windowed page
    examines (reads the driving index only)."""
    return (f"SELECT min(id), count(*) FROM (SELECT id FROM {_source(listing, dialect, table)}"
            f" WHERE {listing.driver} AND id < {dialect.param('before', 'bigint')}"
            f" ORDER BY id DESC LIMIT {dialect.param('scan', 'integer')}) AS examined")


def rows_sql(listing: Listing, dialect: Dialect, table: str, columns: str) -> str:
    """The page's rows: driving entries below ``before`` and from ``floor`` on, filtered."""
    conditions = [listing.driver, f"id < {dialect.param('before', 'bigint')}",
                  f"id >= {dialect.param('floor', 'bigint')}", *listing.filters]
    return (f"SELECT {columns} FROM {_source(listing, dialect, table)}"
            f" WHERE {' AND '.join(conditions)}"
            f" ORDER BY id DESC LIMIT {dialect.param('limit', 'integer')}")


def _source(listing: Listing, dialect: Dialect, table: str) -> str:
    hint = f" INDEXED BY {listing.index}" if dialect.index_hints and listing.index else ""
    return f"{table} j{hint}"


def bounds(listing: Listing, before: int | None, limit: int, scan: int) -> dict[str, Any]:
    """The parameters of both statements (``floor`` is set once the window is known)."""
    if limit < 1 or scan < 1:
        raise ValueError("a listing needs limit >= 1 and scan >= 1")
    return {**listing.params, "before": NO_CURSOR if before is None else before,
            "floor": 0, "limit": limit + 1, "scan": scan}


def page_of(items: Sequence[T], id_of: Callable[[T], int], limit: int,
            window: tuple[int | None, int] | None, scan: int) -> Page[T]:
    """A page from up to ``limit + 1`` rows read newest first.

    ``window`` is ``(oldest id examined, entries examined)`` for a windowed listing.
    A full page continues after its last item; a page the window cut short continues
    below the window; otherwise the listing is done.
    """
    if len(items) > limit:
        kept = list(items[:limit])
        return Page(kept, id_of(kept[-1]))
    if window is not None and window[1] >= scan and window[0] is not None:
        return Page(list(items), window[0], searched_to=window[0])
    return Page(list(items), None)
