"""Tables for people on a terminal, plain lines for pipes.

On a terminal a table is drawn by rich (wrapped to the window). Piped — ``| grep``,
``| cut``, a CI log — each row is one line of tab-separated columns after one header
line, with nothing wrapped or truncated and tabs or newlines inside a value turned
into spaces, so a row is always exactly one line.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def plain_cell(value: object) -> str:
    """One column's text on one line."""
    text = "" if value is None else str(value)
    return " ".join(text.split()) if any(c in text for c in "\t\r\n") else text


def print_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
    header: bool = True,
) -> None:
    """``rows`` under ``columns``: a rich table on a terminal, else tab-separated lines."""
    if console.is_terminal:
        table = Table(*columns, title=title, show_header=header)
        for row in rows:
            table.add_row(*(plain_cell(cell) for cell in row))
        console.print(table)
        return
    lines = ["\t".join(columns)] if header else []
    lines += ["\t".join(plain_cell(cell) for cell in row) for row in rows]
    for line in lines:  # written as is: rich would expand the tabs into spaces
        console.file.write(line + "\n")
    console.file.flush()


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``: two units at most."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
