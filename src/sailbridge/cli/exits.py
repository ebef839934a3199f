"""How a command ends: its exit code, and a problem shown as one line.

Exit codes (documented in docs/operations.md): 0 done; 1 events failed or what was
named does not exist; 2 bad arguments or settings; 3 the store cannot be opened;
4 nothing to do; 130 interrupted. Settings and store problems end the program with
one line naming the setting and its value; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from sailbridge.cli.consoles import err

EXIT_FAILED = 1
"""Some events failed (``send``), or an id named does not exist."""
EXIT_USAGE = 2
"""Bad arguments or settings (click uses 2 for its usage errors too)."""
EXIT_STORE = 3
"""The store cannot be opened: missing, unreachable, unreadable."""
EXIT_NOTHING_TO_DO = 4
"""Nothing matched: ``resume`` with delivery not paused, a replay by ``--reason`` or
``--all`` that found no dead event (a purge by age that found none is still done: 0)."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


class Invocation:
    """What the whole invocation was asked for (``--debug``), for the error handlers."""

    debug = False


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """End the command with ``error: message`` on stderr (and, with ``--debug``, the
    traceback of the exception being handled)."""
    if Invocation.debug and sys.exc_info()[0] is not None:
        err.print_exception()
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
