"""The tree reads source → intake → store → delivery → Sailthru, with no arrow back up.

Each top-level module or subpackage of ``sailbridge`` has a layer; a module may import
only from its own layer or lower ones, and the units never import each other in a
circle. These are read from the source with `ast`, so the check covers every import,
``TYPE_CHECKING`` and function-local ones included. A new unit must be given a layer
here, which is the moment to decide where it belongs (see CONTRIBUTING.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sailbridge

PACKAGE = Path(sailbridge.__file__).parent

LAYERS: list[set[str]] = [
    # Foundations: plain values and helpers with no view of the product.
    {
        "sailbridge",
        "clock",
        "events",
        "flatten",
        "redact",
        "logs",
        "render",
        "identity",
        "futures",
        "examples",
        "supervise",
    },
    # Sailthru's vocabulary and its HTTP client; the sandbox imitates it from outside.
    {"sailthru"},
    {"sandbox"},
    # The pure mapping, then the settings that configure it and everything else.
    {"mapping"},
    {"settings"},
    # The durable queue; then the doors every source comes in through.
    {"store"},
    {"intake"},
    {"inputs", "forget", "operations", "route_usage", "metrics", "drain", "status"},
    # Carrying plans out against Sailthru; planning without sending.
    {"delivery"},
    {"explain"},
    # The composition root, and what runs on it.
    {"wiring"},
    {"send"},
    {"backfill"},
    # The HTTP edge (sources, admin, console), the service around it, the front ends.
    {"server"},
    {"service"},
    {"demo"},
    {"cli", "__main__"},
]
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}

NO_IO = {
    "aiohttp",
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "socket",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "urllib.request",
}
"""Libraries that do I/O, which the pure mapping must never import."""


def unit_of(module: str) -> str:
    """``sailbridge.store.sqlite`` → ``store``; ``sailbridge`` → ``sailbridge``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.module


def edges() -> Iterator[tuple[str, str]]:
    """``(importing module, imported module)`` for each import inside sailbridge."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for target in imports(path):
            if target == "sailbridge" or target.startswith("sailbridge."):
                yield module_name(path), target


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units - set(LAYER) == set()


def test_no_import_runs_up_a_layer() -> None:
    upward = sorted(
        f"{source} imports {target}"
        for source, target in edges()
        if LAYER[unit_of(target)] > LAYER[unit_of(source)]
    )
    assert upward == []


def test_the_units_import_each_other_in_no_circle() -> None:
    graph: dict[str, set[str]] = {}
    for source, target in edges():
        if unit_of(source) != unit_of(target):
            graph.setdefault(unit_of(source), set()).add(unit_of(target))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for step in graph.get(start, ()):
            if step == goal or (step not in seen and reaches(step, goal, seen | {step})):
                return True
        return False

    assert sorted(unit for unit in graph if reaches(unit, unit, {unit})) == []


def test_the_mapping_imports_nothing_that_does_io() -> None:
    found = set()
    for path in (PACKAGE / "mapping").rglob("*.py"):
        for target in imports(path):
            if any(target == lib or target.startswith(lib + ".") for lib in NO_IO):
                found.add(f"{module_name(path)} imports {target}")
            if target.startswith("sailbridge.sailthru.") and target not in {
                "sailbridge.sailthru.calls",
                "sailbridge.sailthru.times",
            }:
                found.add(f"{module_name(path)} imports {target}")
    assert sorted(found) == []


def test_only_the_store_imports_a_database_driver() -> None:
    # sqlite3 as such is allowed: the backfill spills its email book to a scratch file.
    drivers = ("psycopg", "psycopg_pool")
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if unit_of(module_name(path)) == "store":
            continue
        for target in imports(path):
            if any(target == lib or target.startswith(lib + ".") for lib in drivers):
                found.add(f"{module_name(path)} imports {target}")
    assert sorted(found) == []
