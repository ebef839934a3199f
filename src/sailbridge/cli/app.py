"""The ``sailbridge`` command line: the commands, their groups and the global options.

The commands live in modules by what they do (`delivery_commands`,
`reading_commands`, `operator_commands`, `backfill_command`, `sandbox_commands`);
this module puts them under one program, in the order ``--help`` lists them, and is
the entry point (`main`), where an unexpected error becomes one line.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sailbridge import __version__
from sailbridge.cli import (
    backfill_command,
    delivery_commands,
    operator_commands,
    reading_commands,
    sandbox_commands,
)
from sailbridge.cli.consoles import err
from sailbridge.cli.exits import EXIT_FAILED, Invocation
from sailbridge.logs import configure_logging, first_line

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="sailbridge",
    help="Deliver Segment-spec events to Sailthru, as Segment's Sailthru destination does.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP,
)
dlq = typer.Typer(
    help="Dead letters: list, inspect, replay and purge.",
    no_args_is_help=True,
    context_settings=HELP,
)
events = typer.Typer(
    help="Events in any state: pending, retrying, dead, skipped, rejected.",
    no_args_is_help=True,
    context_settings=HELP,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sailbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Deliver Segment-spec events to Sailthru, as Segment's Sailthru destination does."""
    Invocation.debug = debug
    configure_logging("debug" if debug else "warning")


for command in (
    reading_commands.explain,
    delivery_commands.send,
    delivery_commands.forget,
    backfill_command.backfill,
    sandbox_commands.sandbox,
    delivery_commands.serve,
    operator_commands.migrate,
    reading_commands.status,
    operator_commands.resume,
    sandbox_commands.demo,
):
    app.command()(command)
app.add_typer(dlq, name="dlq")
dlq.command("list")(reading_commands.dlq_list)
dlq.command("show")(reading_commands.dlq_show)
dlq.command("replay")(operator_commands.dlq_replay)
dlq.command("purge")(operator_commands.dlq_purge)
app.add_typer(events, name="events")
events.command("list")(reading_commands.events_list)


def main() -> None:
    """The ``sailbridge`` entry point: an unexpected error is one line, not a traceback
    (``--debug`` shows it)."""
    try:
        app()
    except Exception as exc:  # the last resort, reported in one line
        if Invocation.debug:
            raise
        first = first_line(exc) if str(exc).strip() else ""
        err.print(
            f"[bold red]error:[/] {type(exc).__name__}: {first} "
            "(run with --debug for the traceback)",
            highlight=False,
        )
        sys.exit(EXIT_FAILED)
