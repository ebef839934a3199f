"""The ``sailbridge`` command: explain, send, sandbox, demo.

Each command is a thin shell over library functions: read input, call the library,
render the result. Settings problems end the program with one line naming the setting.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sailbridge.delivery.direct import Attempted, deliver_all
from sailbridge.explain import explain_entries
from sailbridge.inputs import Entry, read_events
from sailbridge.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    name="sailbridge",
    help="Deliver Segment-spec events to Sailthru, as Segment's Sailthru destination does.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", envvar="SAILBRIDGE_CONFIG",
                 help="TOML file of settings; SAILBRIDGE_* environment variables win."),
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except SettingsError as exc:
        _die(str(exc))


def _die(message: str, code: int = 2) -> Any:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _read_input(source: str) -> list[Entry]:
    if source == "-":
        return read_events(sys.stdin.read())
    path = Path(source)
    if not path.is_file():
        _die(f"no such file: {source}")
    return read_events(path.read_text(encoding="utf-8"))


@app.command()
def explain(
    source: Annotated[str, typer.Argument(help="JSON array or JSON-lines file, or - for stdin.")] = "-",
    config: ConfigOption = None,
) -> None:
    """Print, as JSON, the Sailthru calls planned for each event — without sending any.

    Lookups Sailthru would answer (a user's email or cart) are listed, and the calls show
    placeholders or assumptions for them; sailbridge's memory is used when it exists.
    No credentials are needed and the secret is never shown.
    """
    settings = _settings(config)
    entries = _read_input(source)
    explained = asyncio.run(explain_entries(entries, settings))
    typer.echo(json.dumps(explained, indent=2, ensure_ascii=False))


@app.command()
def send(
    source: Annotated[str, typer.Argument(help="JSON array or JSON-lines file, or - for stdin.")],
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Deliver the events in a file to Sailthru, in order, and summarise the outcome.

    Exits 0 when every event was delivered or skipped, 1 when any failed.
    """
    settings = _settings(config)
    try:
        settings.credentials()
    except SettingsError as exc:
        _die(str(exc))
    entries = _read_input(source)
    events = [entry.event for entry in entries if entry.event is not None]
    invalid = [entry for entry in entries if entry.error is not None]
    with _progress(len(events)) as advance:
        results = asyncio.run(deliver_all(events, settings, on_done=lambda _: advance()))
    if json_output:
        typer.echo(json.dumps(_summary_json(results, invalid), indent=2, ensure_ascii=False))
    else:
        _print_summary(results, invalid)
    failed = invalid or any(r.outcome.status == "failed" for r in results)
    raise typer.Exit(1 if failed else 0)


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on a terminal; silence when output is piped or in CI."""
    if not err.is_terminal or total == 0:
        yield lambda: None
        return
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=total)
        yield lambda: progress.advance(task)


def _describe(attempted: Attempted) -> str:
    event = attempted.event
    name = event.event if event.type == "track" else event.type
    return f"{name} for {event.user_key or event.user_id}"


def _print_summary(results: list[Attempted], invalid: list[Entry]) -> None:
    out = Console()
    counts = {status: sum(r.outcome.status == status for r in results)
              for status in ("delivered", "skipped", "failed")}
    out.print(
        f"delivered {counts['delivered']}, skipped {counts['skipped']}, "
        f"failed {counts['failed'] + len(invalid)}"
        + (f" ({len(invalid)} invalid)" if invalid else ""),
        highlight=False,
    )
    problems = [r for r in results if r.outcome.status != "delivered"]
    if not problems and not invalid:
        return
    table = Table("event", "outcome", "code", "reason", show_lines=False)
    for entry in invalid:
        table.add_row(entry.position, "invalid", "", str(entry.error))
    for result in problems:
        error = result.outcome.error
        code = "" if error is None or error.code is None else str(error.code)
        table.add_row(_describe(result), result.outcome.status, code, result.outcome.reason or "")
    out.print(table)


def _summary_json(results: list[Attempted], invalid: list[Entry]) -> dict[str, Any]:
    return {
        "delivered": sum(r.outcome.status == "delivered" for r in results),
        "skipped": sum(r.outcome.status == "skipped" for r in results),
        "failed": sum(r.outcome.status == "failed" for r in results) + len(invalid),
        "invalid": [{"position": e.position, "reason": str(e.error)} for e in invalid],
        "events": [
            {"messageId": r.event.message_id, "type": r.event.type, "event": r.event.event,
             "userKey": r.event.user_key, "attempts": r.attempts, **r.outcome.to_dict()}
            for r in results
        ],
    }


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    api_key: Annotated[str, typer.Option(help="The api key the sandbox accepts.")] = "sandbox-key",
    api_secret: Annotated[str, typer.Option(help="The shared secret it verifies with.")] = "sandbox-secret",
    customer_id: Annotated[str, typer.Option(help="Bearer token for pageviews.")] = "sandbox-customer",
    template: Annotated[Optional[list[str]], typer.Option(
        help="A known reminder template (repeatable; default 'abandoned cart').")] = None,
    cart_read_lag: Annotated[float, typer.Option(help="Seconds GET /user lags cart posts.")] = 0.0,
    rate_limit: Annotated[Optional[list[str]], typer.Option(
        help="A route's limit, e.g. 'POST /event=40/s' (repeatable).")] = None,
    rate_limit_window: Annotated[float, typer.Option(help="Rate-limit window, seconds.")] = 60.0,
    fail_rate: Annotated[float, typer.Option(help="Share of calls failing with error 9.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of calls answered slowly.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="How slow a slow answer is.")] = 5.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped unanswered.")] = 0.0,
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible faults.")] = None,
) -> None:
    """Run a local fake Sailthru that behaves as the real API does (see docs/sandbox.md)."""
    from sailbridge.sandbox.config import ConfigError, SandboxConfig, default_rate_limits
    from sailbridge.sandbox.server import serve
    from sailbridge.settings import parse_rate_limit_items

    try:
        per_second = parse_rate_limit_items(",".join(rate_limit or []))
        limits = {**default_rate_limits(rate_limit_window),
                  **{route: max(1, round(rate * rate_limit_window))
                     for route, rate in per_second.items()}}
        config = SandboxConfig(
            api_key=api_key, api_secret=api_secret, customer_id=customer_id,
            templates=frozenset(template or ["abandoned cart"]), cart_read_lag=cart_read_lag,
            rate_limits=limits, rate_limit_window=rate_limit_window, fail_rate=fail_rate,
            slow_rate=slow_rate, slow_seconds=slow_seconds, drop_rate=drop_rate, seed=seed,
        )
    except (ValueError, ConfigError) as exc:
        _die(str(exc))
    err.print(f"sandbox Sailthru on http://{host}:{port}  (api key {api_key!r}; "
              f"inspect http://{host}:{port}/_sandbox/state)", highlight=False)
    serve(config, host=host, port=port)


@app.command()
def demo() -> None:
    """Start a sandbox, send the example events through sailbridge, show what arrived."""
    from sailbridge.demo import run_demo

    raise typer.Exit(run_demo(Console()))


def main() -> None:
    app()
