"""What commands load before they work: the settings, the input events, the store.

Each failure is one line naming what is wrong (the setting and its value, the missing
file, the store that cannot be opened) and an exit code (`sailbridge.cli.exits`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sailbridge.cli.consoles import err
from sailbridge.cli.exits import EXIT_STORE, die
from sailbridge.inputs import Entry, read_events
from sailbridge.settings import Settings, SettingsError, load_settings, unknown_environment
from sailbridge.store.errors import StoreUnavailable


def read_settings(config: Path | None, *, warn: bool = True, **overrides: Any) -> Settings:
    """The settings, or one line naming the bad one; a warning per unknown variable."""
    try:
        loaded = load_settings(config, **overrides)
    except SettingsError as exc:
        die(str(exc))
    if warn:
        for warning in unknown_environment():
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return loaded


def require_credentials(settings: Settings, accounts: Sequence[str] | None = None) -> None:
    """Stop before reading any input when Sailthru's credentials are not set (of
    ``accounts``, default every account)."""
    try:
        settings.deployment().check_credentials(accounts)
    except SettingsError as exc:
        die(str(exc))


def read_input(source: str) -> list[Entry]:
    """The events in a file, or on stdin for ``-``."""
    if source == "-":
        return read_events(sys.stdin.buffer.read())
    path = Path(source)
    if not path.is_file():
        die(f"no such file: {source}")
    return read_events(path.read_bytes())


def with_store(settings: Settings, work: Any, *, read_only: bool = False) -> Any:
    """Open the configured store, run ``work(store)``, close it.

    ``read_only`` commands never create a store (a missing one is one line and exit
    3) and say on stderr which store they read, so an empty answer from the wrong
    file cannot pass for the truth.
    """
    from sailbridge.store.factory import describe_store, open_store

    if read_only:
        err.print(f"store: {describe_store(settings.database)}", highlight=False, style="dim")

    async def run() -> Any:
        store = await open_store(settings.database, create=not read_only)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        die(str(exc), EXIT_STORE)
