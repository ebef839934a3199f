"""The ``sailbridge`` command: explain, send, forget, backfill, serve, status, dlq, events,
sandbox, demo.

Each command is a thin shell over library functions: read input, call the library,
render the result. `app` assembles the commands and is the entry point; the exit
codes and one-line errors are `exits`.
"""

from sailbridge.cli.app import main

__all__ = ["main"]
