"""The ``sailbridge`` command: explain, send, sandbox, demo.

Each command is a thin shell over library functions: read input, call the library,
render the result. Settings problems end the program with one line naming the setting.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
        return read_events(sys.stdin.buffer.read())
    path = Path(source)
    if not path.is_file():
        _die(f"no such file: {source}")
    return read_events(path.read_bytes())


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

    The events go through sailbridge's store like any others (per-user order, rate
    limits, retries, dead letters). Exits 0 when every event was delivered or skipped,
    1 when any failed or is still waiting.
    """
    from sailbridge.delivery.send import send_events
    from sailbridge.operations import job_summary

    settings = _settings(config)
    try:
        settings.credentials()
    except SettingsError as exc:
        _die(str(exc))
    entries = _read_input(source)
    events = [entry.event for entry in entries if entry.event is not None]
    invalid = [entry for entry in entries if entry.error is not None]
    with _progress(len(events)) as progress:
        result = asyncio.run(send_events(events, settings, on_progress=progress))
    jobs = [job_summary(job) for job in result.jobs]
    summary = _send_summary(jobs, invalid, result.paused_reason)
    if json_output:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
    raise typer.Exit(1 if summary["failed"] or summary["waiting"] else 0)


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on a terminal; silence when output is piped or in CI."""
    if not err.is_terminal or total == 0:
        yield lambda finished: None
        return
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=total)
        yield lambda finished: progress.update(task, completed=finished)


def _send_summary(jobs: list[dict[str, Any]], invalid: list[Entry],
                  paused_reason: str | None) -> dict[str, Any]:
    def count(state: str) -> int:
        return sum(job["state"] == state for job in jobs)

    return {
        "delivered": count("delivered"),
        "skipped": count("skipped"),
        "failed": count("dead") + len(invalid),
        "waiting": len(jobs) - count("delivered") - count("skipped") - count("dead"),
        "paused_reason": paused_reason,
        "invalid": [{"position": e.position, "reason": str(e.error)} for e in invalid],
        "events": jobs,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    out = Console()
    invalid = summary["invalid"]
    out.print(
        f"delivered {summary['delivered']}, skipped {summary['skipped']}, "
        f"failed {summary['failed']}"
        + (f" ({len(invalid)} invalid)" if invalid else ""),
        highlight=False,
    )
    if summary["waiting"]:
        out.print(f"[bold red]{summary['waiting']} not delivered yet:[/] delivery paused — "
                  f"{summary['paused_reason']}. They stay queued; fix the setting and run "
                  "`sailbridge send` again or `sailbridge serve`.", highlight=False)
    problems = [job for job in summary["events"] if job["state"] not in ("delivered",)]
    if not problems and not invalid:
        return
    table = Table("event", "outcome", "code", "reason")
    for entry in invalid:
        table.add_row(entry["position"], "invalid", "", entry["reason"])
    for job in problems:
        code = "" if job["sailthru_code"] is None else str(job["sailthru_code"])
        outcome = "failed" if job["state"] == "dead" else job["state"]
        table.add_row(f"{job['event']} for {job['user']} (job {job['id']})", outcome, code,
                      job["reason"] or "")
    out.print(table)


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
def serve(
    config: ConfigOption = None,
    ingest_only: Annotated[bool, typer.Option("--ingest-only",
                                              help="Accept events; deliver none.")] = False,
    delivery_only: Annotated[bool, typer.Option("--delivery-only",
                                                help="Deliver queued events; accept none.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the Segment-compatible ingest API and the delivery worker."""
    from sailbridge.service import Roles
    from sailbridge.service import serve as run_service

    if ingest_only and delivery_only:
        _die("--ingest-only and --delivery-only exclude each other")
    settings = _settings(config)
    roles = Roles(ingest=not delivery_only, delivery=not ingest_only)
    try:
        if roles.delivery:
            settings.credentials()
        if roles.ingest and not settings.write_key_set:
            _die("SAILBRIDGE_WRITE_KEYS is required to accept events (comma-separated "
                 "Segment write keys)")
        # uvicorn drains (requests, then the worker in the lifespan) and then re-raises
        # the signal it caught; make that final SIGTERM a clean exit, not a kill.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        asyncio.run(run_service(settings, roles, log_level=log_level))
    except SettingsError as exc:
        _die(str(exc))


def _with_store(settings: Settings, work: Any) -> Any:
    """Open the configured store, run ``work(store)``, close it."""
    from sailbridge.store.factory import open_store

    async def run() -> Any:
        store = await open_store(settings.database)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the store's schema (serve also does this at start)."""
    version = _with_store(_settings(config), lambda store: store.migrate())
    typer.echo(f"schema at version {version}")


@app.command()
def status(
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Counts of pending, retrying, delivered, skipped, rejected, dead and duplicate events."""
    from sailbridge.operations import status_view

    settings = _settings(config)
    view = status_view(_with_store(settings, lambda store: store.counts()))
    if json_output:
        typer.echo(json.dumps(view, indent=2))
        return
    out = Console()
    table = Table("state", "events", show_header=False)
    for name in ("pending", "retrying", "in_flight", "delivered", "skipped", "rejected", "dead",
                 "deduplicated"):
        table.add_row(name.replace("_", " "), str(view[name]))
    if view["not_yet_sorted"]:
        table.add_row("  of pending, not yet sorted", str(view["not_yet_sorted"]))
    age = view["oldest_pending_age_seconds"]
    table.add_row("oldest pending", "—" if age is None else f"{age:.1f} s")
    out.print(table)
    if view["paused"]:
        out.print(f"[bold red]delivery paused:[/] {view['paused_reason']}", highlight=False)
        out.print("fix the setting and restart, or run `sailbridge resume`", highlight=False)


@app.command()
def resume(config: ConfigOption = None) -> None:
    """Resume delivery paused by a credentials error (after fixing the credentials)."""
    settings = _settings(config)
    _with_store(settings, lambda store: store.set_paused(None))
    typer.echo("delivery resumed")


dlq = typer.Typer(help="Dead letters: list, inspect, replay and purge.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")


@dlq.command("list")
def dlq_list(
    config: ConfigOption = None,
    reason: Annotated[Optional[str], typer.Option(help="Only those whose reason contains TEXT.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Dead events with their id, type, user, reason and Sailthru's message."""
    from sailbridge.operations import dead_jobs

    settings = _settings(config)
    rows = _with_store(settings, lambda store: dead_jobs(store, limit, reason))
    if json_output:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        Console().print("no dead events")
        return
    table = Table("id", "event", "user", "attempts", "code", "reason")
    for row in rows:
        table.add_row(str(row["id"]), row["event"], row["user"], str(row["attempts"]),
                      "" if row["sailthru_code"] is None else str(row["sailthru_code"]),
                      row["reason"] or "")
    Console().print(table)


@dlq.command("show")
def dlq_show(job_id: int, config: ConfigOption = None) -> None:
    """Everything about one job: the event, each attempt's requests and Sailthru's answers."""
    from sailbridge.operations import job_detail

    settings = _settings(config)
    job = _with_store(settings, lambda store: store.get_job(job_id))
    if job is None:
        _die(f"no job {job_id}", code=1)
    typer.echo(json.dumps(job_detail(job), indent=2, ensure_ascii=False))


@dlq.command("replay")
def dlq_replay(
    job_ids: Annotated[Optional[list[int]], typer.Argument(help="Job ids to replay.")] = None,
    config: ConfigOption = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead event.")] = False,
    reason: Annotated[Optional[str], typer.Option(help="Replay those whose reason contains TEXT.")] = None,
) -> None:
    """Send dead events back to the queue (they are delivered by a running worker)."""
    if not job_ids and not replay_all and reason is None:
        _die("name what to replay: job ids, --all, or --reason TEXT")
    settings = _settings(config)
    count = _with_store(settings, lambda store: store.replay(job_ids or None, reason,
                                                             time.time()))
    typer.echo(f"replayed {count} event{'s' if count != 1 else ''}")


@dlq.command("purge")
def dlq_purge(
    older_than: Annotated[str, typer.Option(help="Age, e.g. 7d, 12h, 30m.")],
    config: ConfigOption = None,
) -> None:
    """Delete dead events (and rejections) older than the given age."""
    from sailbridge.operations import parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        _die(f"--older-than: {exc}")
    settings = _settings(config)
    count = _with_store(settings, lambda store: store.purge_dead(time.time() - seconds))
    typer.echo(f"purged {count} dead event{'s' if count != 1 else ''}")


@app.command()
def demo() -> None:
    """Start a sandbox, send the example events through sailbridge, show what arrived."""
    from sailbridge.demo import run_demo

    raise typer.Exit(run_demo(Console()))


def main() -> None:
    app()
