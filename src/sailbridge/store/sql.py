"""The SQL both stores ship as files: named queries and numbered migrations.

Each store keeps its statements in a ``queries.sql`` beside its code and its schema
history in ``migrations/<dialect>/NNNN_name.sql``; this module reads both the same
way for SQLite and PostgreSQL, so the two stores differ only in what the files say.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$")
_MIGRATION = re.compile(r"(\d{4})_(\w+)\.sql")


def parse_queries(text: str) -> dict[str, str]:
    """Split a ``.sql`` file into named queries (procrastinate's layout).

    A query starts at a ``-- name: <name>`` line and runs to the next one; comment
    lines are dropped, so they can explain a query without reaching the database.
    """
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            current = queries.setdefault(match.group(1), [])
        elif current is not None and not line.lstrip().startswith("--"):
            current.append(line)
    return {name: "\n".join(lines).strip().rstrip(";") for name, lines in queries.items()}


def load_queries(package: str, file: str = "queries.sql") -> dict[str, str]:
    """The named queries of ``file`` in ``package`` (shipped inside the package)."""
    text = resources.files(package).joinpath(file).read_text(encoding="utf-8")
    return parse_queries(text)


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration shipped for ``dialect`` (``sqlite``,
    ``postgres``), in order."""
    folder = resources.files("sailbridge.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    return found
