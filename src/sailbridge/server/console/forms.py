"""Reading what the operator sent: listing filters, cursors and urlencoded forms, and
building the links to a listing's next and first page.

Anything that makes no sense raises `BadInput`, which the console answers 400 with
the reason; forms are read at most `MAX_FORM_BYTES`, once per request.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from starlette.requests import Request

from sailbridge.operations import storable_text
from sailbridge.store.base import REJECTED, ListState

PAGE_SIZE = 50
"""Rows on one page of a listing (events, dead letters, a user's timeline)."""
MAX_FORM_BYTES = 1 << 20
"""Largest form the console reads (the event tester's pasted events)."""


class BadInput(Exception):
    """A console request whose parameters make no sense; answered 400 with the reason."""


def text(value: str | None) -> str | None:
    """A filter's value: ``None`` when absent or blank; `BadInput` when no store could
    hold it (a NUL, a lone surrogate: `sailbridge.operations.storable_text`)."""
    value = value.strip() if value is not None else None
    if not value:
        return None
    try:
        return storable_text(value, "The filter")
    except ValueError as error:
        raise BadInput(f"{error}.") from None


def cursor(value: str | None) -> int | None:
    """A positive id (a cursor, a job id), or `BadInput`."""
    given = text(value)
    if given is None:
        return None
    if not given.isdigit() or len(given) > 18 or int(given) < 1:
        raise BadInput(f"{given[:40]!r} is not an event id.")
    return int(given)


def list_state(value: str | None) -> ListState | None:
    """The events listing's ``state`` filter (``None``: every state)."""
    if value is None:
        return None
    try:
        return ListState(value)
    except ValueError:
        names = ", ".join([s.value for s in ListState] + [REJECTED])
        raise BadInput(f"Unknown state {value[:40]!r}; choose one of {names}.") from None


def page_url(path: str, filters: dict[str, str], before: int | None) -> str | None:
    """The link to the page after cursor ``before``; ``None`` when there is none."""
    if before is None:
        return None
    query = {name: value for name, value in filters.items() if value}
    return f"{path}?{urlencode({**query, 'before': str(before)})}"


def first_url(path: str, filters: dict[str, str]) -> str:
    """The link to a listing's first (newest) page with the same filters."""
    query = {name: value for name, value in filters.items() if value}
    return f"{path}?{urlencode(query)}" if query else path


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The urlencoded form of a POST, every value of every field (read once, kept)."""
    cached: dict[str, list[str]] | None = request.scope.get("sailbridge.form")
    if cached is None:
        cached = request.scope["sailbridge.form"] = await _read_form(request)
    return cached


async def _read_form(request: Request) -> dict[str, list[str]]:
    if not is_form(request):
        raise BadInput("The console's forms are sent urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadInput(f"The form is larger than {MAX_FORM_BYTES // 1024} KiB.")
    try:
        return parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise BadInput(f"The form could not be read: {error}") from None


async def form(request: Request) -> dict[str, str]:
    """The form's fields, the first value of each."""
    return {name: values[0] for name, values in (await form_lists(request)).items()}


def is_form(request: Request) -> bool:
    """Whether the request carries an urlencoded form (the only kind the console reads)."""
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip() == "application/x-www-form-urlencoded"
