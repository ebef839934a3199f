"""Paged listings shared by both stores: which index drives a page, which filters it
applies on top, and how a page and its cursor come out of the rows.

Every listing is newest first with a keyset cursor (``id < before``), or oldest first
(``id > after``; the dead letters as ``dlq list`` shows them, a queue's contents in
order), so a page costs the same on the first page as on the thousandth. One index
*drives* each listing (a user's jobs, a state's jobs); a filter that index cannot serve
(an event name, reason text, a state among a user's jobs) is applied to at most ``scan``
entries of the driving index per call, so a rare match costs a bounded scan instead of a
walk through a million rows, and the page says where it stopped (`Page.searched_to`).

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
"""``before`` when the listing starts at the newest row, and the far edge of an oldest-first
listing that no window bounds (keeps the SQL text static)."""

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
    oldest_first: bool = False
    bounded: bool = True
    """Whether a filter examines at most ``scan`` driving entries per page (`JobQuery.scan`
    ``None``: every entry, for a listing that must be complete)."""

    @property
    def windowed(self) -> bool:
        return bool(self.filters) and self.bounded


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
    if query.account is not None:
        filters.append(f"account = {dialect.param('account', 'text')}")
        params["account"] = query.account
    return Listing(driver, index, filters, params, query.oldest_first, query.scan is not None)


def rejection_listing(reason: str | None, dialect: Dialect) -> Listing:
    """Plan `Store.find_rejections`: the rejections table by id, reason as a filter."""
    if reason is None:
        return Listing("true", None)
    return Listing(
        "true",
        None,
        [dialect.contains("reason", dialect.param("reason", "text"))],
        {"reason": reason},
    )


def window_sql(listing: Listing, dialect: Dialect, table: str) -> str:
    """The far edge (oldest or newest id) and the number of the ``scan`` driving entries
    a windowed page examines (reads the driving index only)."""
    edge, beyond, order = _direction(listing)
    return (
        f"SELECT {edge}(id), count(*) FROM (SELECT id FROM {_source(listing, dialect, table)}"
        f" WHERE {listing.driver} AND id {beyond} {dialect.param('cursor', 'bigint')}"
        f" ORDER BY id {order} LIMIT {dialect.param('scan', 'integer')}) AS examined"
    )


def rows_sql(listing: Listing, dialect: Dialect, table: str, columns: str) -> str:
    """The page's rows: driving entries beyond the cursor and up to the edge, filtered."""
    _, beyond, order = _direction(listing)
    within = ">=" if beyond == "<" else "<="
    conditions = [
        listing.driver,
        f"id {beyond} {dialect.param('cursor', 'bigint')}",
        f"id {within} {dialect.param('edge', 'bigint')}",
        *listing.filters,
    ]
    return (
        f"SELECT {columns} FROM {_source(listing, dialect, table)}"
        f" WHERE {' AND '.join(conditions)}"
        f" ORDER BY id {order} LIMIT {dialect.param('limit', 'integer')}"
    )


def _direction(listing: Listing) -> tuple[str, str, str]:
    """The window's far edge, the cursor's comparison and the order of a listing."""
    return ("max", ">", "ASC") if listing.oldest_first else ("min", "<", "DESC")


def _source(listing: Listing, dialect: Dialect, table: str) -> str:
    hint = f" INDEXED BY {listing.index}" if dialect.index_hints and listing.index else ""
    return f"{table} j{hint}"


def bounds(listing: Listing, cursor: int | None, limit: int, scan: int | None) -> dict[str, Any]:
    """The parameters of both statements (``edge`` is set once the window is known);
    ``cursor`` is the query's ``before`` (newest first) or ``after`` (oldest first)."""
    if limit < 1 or (scan is not None and scan < 1):
        raise ValueError("a listing needs limit >= 1 and scan >= 1")
    start, edge = (0, NO_CURSOR) if listing.oldest_first else (NO_CURSOR, 0)
    return {
        **listing.params,
        "cursor": start if cursor is None else cursor,
        "edge": edge,
        "limit": limit + 1,
        "scan": scan or 1,
    }


def page_of(
    items: Sequence[T],
    id_of: Callable[[T], int],
    limit: int,
    window: tuple[int | None, int] | None,
    scan: int | None,
    *,
    oldest_first: bool = False,
) -> Page[T]:
    """A page from up to ``limit + 1`` rows read in the listing's order.

    ``window`` is ``(far edge examined, entries examined)`` for a windowed listing.
    A full page continues after its last item; a page the window cut short continues
    beyond the window; otherwise the listing is done.
    """
    if len(items) > limit:
        kept = list(items[:limit])
        return _page(kept, id_of(kept[-1]), None, oldest_first)
    if window is not None and scan is not None and window[1] >= scan and window[0] is not None:
        return _page(list(items), window[0], window[0], oldest_first)
    return _page(list(items), None, None, oldest_first)


def _page(
    items: list[T], cursor: int | None, searched_to: int | None, oldest_first: bool
) -> Page[T]:
    if oldest_first:
        return Page(items, None, searched_to, next_after=cursor)
    return Page(items, cursor, searched_to)
