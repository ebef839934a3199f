"""The ``sailbridge`` command: explain, send, forget, backfill, serve, status, dlq, events,
sandbox, demo.

Each command is a thin shell over library functions: read input, call the library,
render the result. Settings and store problems end the program with one line naming
the setting and its value (``--debug`` shows the traceback). Exit codes (documented
in docs/operations.md): 0 done; 1 events failed or what was named does not exist;
2 bad arguments or settings; 3 the store cannot be opened; 4 nothing to do.
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
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sailbridge import __version__
from sailbridge.explain import explain_entries
from sailbridge.inputs import Entry, read_events
from sailbridge.logs import configure_logging
from sailbridge.render import print_table
from sailbridge.settings import Settings, SettingsError, load_settings, unknown_environment
from sailbridge.store.errors import StoreUnavailable

EXIT_OK = 0
EXIT_FAILED = 1
"""Some events failed (``send``), or an id named does not exist."""
EXIT_USAGE = 2
"""Bad arguments or settings (click uses 2 for its usage errors too)."""
EXIT_STORE = 3
"""The store cannot be opened: missing, unreachable, unreadable."""
EXIT_NOTHING_TO_DO = 4
"""Nothing matched: ``resume`` with delivery not paused, a replay or purge that found
no dead event."""

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="sailbridge",
    help="Deliver Segment-spec events to Sailthru, as Segment's Sailthru destination does.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP,
)
err = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


class _Run:
    """What the whole invocation was asked for (``--debug``), for the error handler."""

    debug = False


def _out() -> Console:
    """Standard output: wrapped to the terminal, or never wrapped when piped."""
    return Console(soft_wrap=not sys.stdout.isatty())


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sailbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Deliver Segment-spec events to Sailthru, as Segment's Sailthru destination does."""
    _Run.debug = debug
    configure_logging("debug" if debug else "warning")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="SAILBRIDGE_CONFIG",
                 help="TOML file of settings; SAILBRIDGE_* environment variables win."),
]


def _settings(config: Path | None, *, warn: bool = True, **overrides: Any) -> Settings:
    """The settings, or one line naming the bad one; a warning per unknown variable."""
    try:
        settings = load_settings(config, **overrides)
    except SettingsError as exc:
        _die(str(exc))
    if warn:
        for warning in unknown_environment():
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return settings


def _die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    if _Run.debug and sys.exc_info()[0] is not None:
        err.print_exception()
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
    force: Annotated[bool, typer.Option(
        "--force", help="Send every event again, even those an earlier send delivered.")] = False,
) -> None:
    """Deliver the events in a file to Sailthru, in order, and summarise the outcome.

    The events go through sailbridge's store like any others (per-user order, rate
    limits, retries, dead letters). Sending a file again never delivers an event twice:
    events an earlier send queued are waited for, not queued again (--force does).
    Exits 0 when every event was delivered or skipped, 1 when any failed or is still
    waiting, 130 when interrupted (what was queued stays queued).
    """
    from sailbridge.identity import send_identities
    from sailbridge.send import IdentifiedEvent

    settings = _settings(config)
    _require_credentials(settings)
    entries = _read_input(source)
    valid = [entry for entry in entries if entry.event is not None]
    identities = send_identities((entry.raw, entry.event.message_id)
                                 for entry in valid if entry.event is not None)
    events = [IdentifiedEvent(entry.event, identity)
              for entry, identity in zip(valid, identities, strict=True)
              if entry.event is not None]
    invalid = [entry for entry in entries if entry.error is not None]
    _send_and_report(events, invalid, settings, json_output, force=force,
                     again=f"sailbridge send {source}" if source != "-" else "sailbridge send")


@app.command()
def forget(
    user_id: Annotated[str, typer.Argument(help="The user's id (userId, Sailthru's extid).")],
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Delete a user in Sailthru and make sailbridge forget them.

    Queued like a User Deleted event: the user's events queued before it are delivered
    first, then DELETE /user, then sailbridge removes their email, cart, merges and
    stored events (see docs/operations.md). Waits until done, as send does.
    """
    from sailbridge.events import InvalidEvent
    from sailbridge.forget import deletion_event
    from sailbridge.send import IdentifiedEvent

    settings = _settings(config)
    _require_credentials(settings)
    try:
        event = deletion_event(user_id)
    except InvalidEvent as exc:
        _die(str(exc))
    _send_and_report([IdentifiedEvent(event, None)], [], settings, json_output,
                     again=f"sailbridge forget {user_id}")


def _require_credentials(settings: Settings) -> None:
    try:
        settings.credentials()
    except SettingsError as exc:
        _die(str(exc))


def _send_and_report(events: list[Any], invalid: list[Entry], settings: Settings,
                     json_output: bool, *, again: str, force: bool = False) -> None:
    """Queue and deliver ``events`` (`send_events`), print the outcome, exit with it."""
    from sailbridge.operations import job_summary
    from sailbridge.send import send_events

    with _progress(len(events)) as (progress, retrying):
        try:
            result = asyncio.run(send_events(events, settings, on_progress=progress,
                                             on_retry=retrying, force=force))
        except StoreUnavailable as exc:
            _die(str(exc), EXIT_STORE)
    jobs = [job_summary(job) for job in result.jobs]
    summary = _send_summary(jobs, invalid, result.paused_reason)
    summary.update(earlier=result.earlier, requeued=result.requeued,
                   forgotten=result.forgotten, interrupted=result.interrupted)
    if json_output:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary, again)
    if result.interrupted:
        raise typer.Exit(130)
    raise typer.Exit(1 if summary["failed"] or summary["waiting"] else 0)


PROGRESS_LINE_EVERY = 5.0
"""Seconds between two progress lines when stderr is not a terminal."""


class _ProgressLines:
    """`send` progress as plain stderr lines: the count every few seconds (and at the
    end), each new retry reason once."""

    last_reason = ""

    def __init__(self, total: int) -> None:
        self._total = total
        self._at = time.monotonic()

    def finished(self, count: int) -> None:
        if count == self._total or time.monotonic() - self._at >= PROGRESS_LINE_EVERY:
            self._at = time.monotonic()
            err.print(f"sending: {count}/{self._total} finished", highlight=False)

    @classmethod
    def retrying(cls, reason: str) -> None:
        if reason != cls.last_reason:
            cls.last_reason = reason
            err.print(f"sending: retrying: {reason}", highlight=False)


@contextmanager
def _progress(total: int) -> Iterator[tuple[Any, Any]]:
    """``(on_progress(finished), on_retry(reason))`` for `send_events`, always on stderr:
    a bar with the latest retry reason on a terminal, else a line every few seconds and
    one per new retry reason — a send waiting on retries (a DNS error, Sailthru down)
    says why instead of looking frozen."""
    if total == 0:
        yield (lambda finished: None), (lambda reason: None)
        return
    if not err.is_terminal:
        yield _ProgressLines(total).finished, _ProgressLines.retrying
        return
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=total, note="")
        yield ((lambda finished: progress.update(task, completed=finished)),
               (lambda reason: progress.update(task, note=f"retrying: {reason}")))


def _send_summary(jobs: list[dict[str, Any]], invalid: list[Entry],
                  paused_reason: str | None) -> dict[str, Any]:
    def count(state: str) -> int:
        return sum(job["state"] == state for job in jobs)

    return {
        "delivered": count("delivered"),
        "skipped": count("skipped"),
        "failed": count("dead") + len(invalid),
        "waiting": len(jobs) - count("delivered") - count("skipped") - count("dead"),
        "still_queued": [job["id"] for job in jobs if job["state"] not in FINISHED_STATES],
        "paused_reason": paused_reason,
        "invalid": [{"position": e.position, "reason": str(e.error)} for e in invalid],
        "events": jobs,
    }


def _print_summary(summary: dict[str, Any], again: str) -> None:
    out = _out()
    invalid = summary["invalid"]
    out.print(
        f"delivered {summary['delivered']}, skipped {summary['skipped']}, "
        f"failed {summary['failed']}"
        + (f" ({len(invalid)} invalid)" if invalid else ""),
        highlight=False,
    )
    if summary["forgotten"]:
        out.print(f"forgotten {summary['forgotten']}: events of a person deleted in Sailthru "
                  "(by a User Deleted or `sailbridge forget`); sailbridge no longer holds them, "
                  "nor the person's email, cart or merges",
                  highlight=False, soft_wrap=True)
    if summary["earlier"]:
        requeued = summary["requeued"]
        out.print(f"{summary['earlier']} event{'s' if summary['earlier'] != 1 else ''} "
                  "had been queued by an earlier send and were not queued again"
                  + (f" ({requeued} that had failed were queued again)" if requeued else "")
                  + "; --force sends them again", highlight=False, soft_wrap=True)
    if summary["interrupted"] and summary["waiting"]:
        out.print(f"[bold red]interrupted: {summary['waiting']} not delivered yet[/] (jobs "
                  f"{_id_list(summary['still_queued'])}). They stay queued: run `{again}` "
                  "again to finish (nothing is sent twice), or `sailbridge serve`.",
                  highlight=False, soft_wrap=True)
    elif summary["interrupted"] and not summary["events"]:
        out.print("[bold red]interrupted[/] before this send queued anything: run "
                  f"`{again}` again to send it.", highlight=False, soft_wrap=True)
    elif summary["waiting"]:
        out.print(f"[bold red]{summary['waiting']} not delivered yet:[/] delivery paused — "
                  f"{summary['paused_reason']}. They stay queued; fix the setting and run "
                  f"`{again}` again (nothing is sent twice) or `sailbridge serve`.",
                  highlight=False, soft_wrap=True)
    problems = [job for job in summary["events"] if job["state"] not in ("delivered",)]
    if not problems and not invalid:
        return
    rows: list[tuple[object, ...]] = [(entry["position"], "invalid", "", entry["reason"])
                                      for entry in invalid]
    rows += [(f"{job['event']} for {job['user']} (job {job['id']})",
              "failed" if job["state"] == "dead" else job["state"],
              job["sailthru_code"], job["reason"]) for job in problems]
    print_table(out, ("event", "outcome", "code", "reason"), rows)


FINISHED_STATES = frozenset({"delivered", "skipped", "dead"})


def _id_list(ids: list[int], shown: int = 10) -> str:
    listed = ", ".join(str(job_id) for job_id in ids[:shown])
    return listed + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


@app.command()
def backfill(
    sources: Annotated[list[str], typer.Argument(
        help="JSON-lines or JSON-array files (gzip or not), or - for stdin.")],
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Write the job files to --out and upload nothing.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Folder for the job files (default for --dry-run: ./sailbridge-backfill).")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="After the jobs, deliver the events with no bulk form as send does.")
    ] = False,
    update_key: Annotated[str | None, typer.Option(
        help="How update lines address profiles: email (default) or extid.")] = None,
    max_file_bytes: Annotated[int | None, typer.Option(
        help="Split job files to stay under this size (default 90000000).")] = None,
    poll_interval: Annotated[float | None, typer.Option(
        help="Seconds between job status checks (default 5).")] = None,
    reupload_unconfirmed: Annotated[bool, typer.Option(
        "--reupload-unconfirmed",
        help="Upload again purchase files whose earlier upload got no answer.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Load history into Sailthru through its Job API: identifies as update jobs, orders
    as purchase_import jobs; other events are reported (and with --live, sent live).

    Resumable: run the same command again after an interruption; finished jobs are
    re-used and no file is uploaded twice. Exits 1 if any event or job failed.
    """
    from sailbridge.backfill.reading import InputError
    from sailbridge.backfill.run import BackfillRequest, exit_code, run_backfill, summary

    overrides = {name: value for name, value in (
        ("backfill_update_key", update_key), ("backfill_max_file_bytes", max_file_bytes),
        ("backfill_poll_interval", poll_interval)) if value is not None}
    try:
        settings = load_settings(config, **overrides)
        if not dry_run:
            settings.credentials()
    except SettingsError as exc:
        _die(str(exc))
    request = BackfillRequest(
        sources=tuple(sources), dry_run=dry_run, live=live,
        out=out if out is not None else (Path("sailbridge-backfill") if dry_run else None),
        reupload_unconfirmed=reupload_unconfirmed)
    try:
        with _backfill_progress() as hooks:
            report = asyncio.run(run_backfill(request, settings, hooks))
    except InputError as exc:
        _die(str(exc), code=1)
    except KeyboardInterrupt:
        _die("interrupted: finished jobs are recorded; run the same command again to "
             "resume", code=130)
    result = summary(report)
    if json_output:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_backfill_summary(result)
    raise typer.Exit(exit_code(report))


@contextmanager
def _backfill_progress() -> Iterator[Any]:
    """Bars for reading (bytes and events), uploading (bytes) and live sending, on a
    terminal; silence when stderr is piped or in CI."""
    from rich.progress import DownloadColumn

    from sailbridge.backfill.run import Hooks

    if not err.is_terminal:
        yield Hooks()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[events]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def bar(name: str, done: int, total: int | None, events: str) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total, events="")
            progress.update(tasks[name], completed=done, total=total, events=events)

        yield Hooks(
            reading=lambda events, done, total: bar("reading", done, total, f"{events} events"),
            uploading=lambda sent, total: bar("uploading", sent, total, ""),
            job=lambda outcome: err.print(
                f"{outcome.file.name}: job {outcome.job_id or '-'} {outcome.status}"
                + (" (re-used)" if outcome.reused else ""), highlight=False),
            live=lambda done, total: bar("sending live", done, total, f"{done} events"),
        )


def _print_backfill_summary(result: dict[str, Any]) -> None:
    out = _out()
    out.print(
        f"read {result['events_read']} events: {result['mapped']} mapped to job lines, "
        f"{result['skipped']} skipped, {result['failed']} failed, "
        f"{result['no_bulk_form']} with no bulk form", highlight=False)
    if result["jobs"]:
        rows = [(job["file"], job["job"], job["lines"], job["bytes"], job["job_id"] or "",
                 job["status"] + (" (re-used)" if job["reused"] else "")
                 + (f": {job['message']}" if job["message"] else ""))
                for job in result["jobs"]]
        print_table(out, ("file", "job", "lines", "bytes", "job id", "status"), rows)
    for title, key in (("skipped", "skipped_reasons"), ("failed", "failed_reasons"),
                       ("no bulk form", "no_bulk_form_reasons")):
        if result[key]:
            print_table(out, (title, "events", "first examples"),
                        [(row["reason"], row["events"], ", ".join(row["examples"]))
                         for row in result[key]])
    live = result["live"]
    if live is not None:
        out.print(f"live: {live['queued']} queued, {live['delivered']} delivered, "
                  f"{live['skipped']} skipped, {live['failed']} failed"
                  + (" (queued by an earlier run)" if live["already_queued_by_an_earlier_run"]
                     else ""), highlight=False)
    elif result["no_bulk_form"] and not result["dry_run"] and result["live_held"] is None:
        out.print("events with no bulk form were not sent: add --live to deliver them "
                  "as `sailbridge send` does", highlight=False)
    if result["live_held"]:
        out.print(f"[bold red]live events held:[/] {result['live_held']}", highlight=False)
    if result["folder"]:
        out.print(f"job files written to {result['folder']}", highlight=False)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    api_key: Annotated[str, typer.Option(help="The api key the sandbox accepts.")] = "sandbox-key",
    api_secret: Annotated[str, typer.Option(help="The shared secret it verifies with.")] = "sandbox-secret",
    customer_id: Annotated[str, typer.Option(help="Bearer token for pageviews.")] = "sandbox-customer",
    template: Annotated[list[str] | None, typer.Option(
        help="A known reminder template (repeatable; default 'abandoned cart').")] = None,
    cart_read_lag: Annotated[float, typer.Option(help="Seconds GET /user lags cart posts.")] = 0.0,
    rate_limit: Annotated[list[str] | None, typer.Option(
        help="A route's limit, e.g. 'POST /event=40/s' (repeatable).")] = None,
    rate_limit_window: Annotated[float, typer.Option(help="Rate-limit window, seconds.")] = 60.0,
    fail_rate: Annotated[float, typer.Option(help="Share of calls failing with error 9.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of calls answered slowly.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="How slow a slow answer is.")] = 5.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped unanswered.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible faults.")] = None,
    job_delay: Annotated[float, typer.Option(
        help="Seconds a Job API upload stays pending before it is applied.")] = 0.5,
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
            job_delay=job_delay,
        )
    except (ValueError, ConfigError) as exc:
        _die(str(exc))
    err.print(f"sandbox Sailthru on http://{host}:{port}  (api key {api_key!r}; "
              f"inspect http://{host}:{port}/_sandbox/state)", highlight=False)
    serve(config, host=host, port=port)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (over SAILBRIDGE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port to listen on (over SAILBRIDGE_PORT).")] = None,
    ingest_only: Annotated[bool, typer.Option("--ingest-only",
                                              help="Accept events; deliver none.")] = False,
    delivery_only: Annotated[bool, typer.Option("--delivery-only",
                                                help="Deliver queued events; accept none.")] = False,
    log_level: Annotated[str, typer.Option(
        help="Log level: debug, info, warning, error.")] = "info",
) -> None:
    """Run the Segment-compatible ingest API and the delivery worker.

    Logs go to stderr: JSON lines when it is not a terminal (see docs/operations.md).
    """
    from sailbridge.service import Roles
    from sailbridge.service import serve as run_service

    if ingest_only and delivery_only:
        _die("--ingest-only and --delivery-only exclude each other")
    if log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        _die(f"--log-level {log_level!r}: use debug, info, warning or error")
    configure_logging("debug" if _Run.debug else log_level.lower())
    overrides = {name: value for name, value in (("host", host), ("port", port))
                 if value is not None}
    settings = _settings(config, warn=False, **overrides)
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
        asyncio.run(run_service(settings, roles, log_level=log_level.lower()))
    except SettingsError as exc:
        _die(str(exc))
    except StoreUnavailable as exc:
        _die(str(exc), EXIT_STORE)


def _with_store(settings: Settings, work: Any, *, read_only: bool = False) -> Any:
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
        _die(str(exc), EXIT_STORE)


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
    view = status_view(_with_store(settings, lambda store: store.counts(), read_only=True))
    if json_output:
        typer.echo(json.dumps(view, indent=2))
        return
    out = _out()
    rows: list[tuple[object, ...]] = [
        (name.replace("_", " "), view[name])
        for name in ("pending", "retrying", "in_flight", "delivered", "skipped", "rejected",
                     "dead", "deduplicated")]
    if view["not_yet_sorted"]:
        rows.append(("  of pending, not yet sorted", view["not_yet_sorted"]))
    age = view["oldest_pending_age_seconds"]
    rows.append(("oldest pending", "—" if age is None else f"{age:.1f} s"))
    print_table(out, ("state", "events"), rows, header=False)
    if view["paused"]:
        out.print(f"[bold red]delivery paused:[/] {view['paused_reason']}", highlight=False)
        out.print("fix the setting and restart, or run `sailbridge resume`", highlight=False)


@app.command()
def resume(config: ConfigOption = None) -> None:
    """Resume delivery paused by a credentials error (after fixing the credentials).

    Exits 4 when delivery was not paused.
    """
    settings = _settings(config)

    async def work(store: Any) -> str | None:
        reason: str | None = await store.paused_reason()
        if reason is not None:
            await store.set_paused(None)
        return reason

    reason = _with_store(settings, work, read_only=True)
    if reason is None:
        typer.echo("delivery is not paused; nothing to resume")
        raise typer.Exit(EXIT_NOTHING_TO_DO)
    typer.echo(f"delivery resumed (it was paused: {reason})")


dlq = typer.Typer(help="Dead letters: list, inspect, replay and purge.", no_args_is_help=True,
                  context_settings=HELP)
app.add_typer(dlq, name="dlq")


def _reason_filter(reason: str | None) -> str | None:
    from sailbridge.operations import check_reason_filter

    try:
        return check_reason_filter(reason)
    except ValueError as exc:
        _die(f"--reason: {exc}")


def _limit(limit: int) -> int:
    from sailbridge.operations import MAX_LIST_LIMIT

    if not 1 <= limit <= MAX_LIST_LIMIT:
        _die(f"--limit must be from 1 to {MAX_LIST_LIMIT}, not {limit}")
    return limit


def _job_ids(job_ids: list[int]) -> list[int]:
    from sailbridge.operations import check_job_id

    try:
        return [check_job_id(job_id) for job_id in job_ids]
    except ValueError as exc:
        _die(str(exc))


@dlq.command("list")
def dlq_list(
    config: ConfigOption = None,
    reason: Annotated[str | None, typer.Option(help="Only those whose reason contains TEXT.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Dead events with their id, type, user, reason and Sailthru's message.

    Piped, one event per line: id, event, user, attempts, code, reason (tab-separated).
    """
    from sailbridge.operations import dead_jobs

    settings = _settings(config)
    reason, limit = _reason_filter(reason), _limit(limit)
    rows = _with_store(settings, lambda store: dead_jobs(store, limit, reason), read_only=True)
    if json_output:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        _out().print("no dead events")
        return
    print_table(_out(), ("id", "event", "user", "attempts", "code", "reason"),
                [(row["id"], row["event"], row["user"], row["attempts"], row["sailthru_code"],
                  row["reason"]) for row in rows])


@dlq.command("show")
def dlq_show(job_id: int, config: ConfigOption = None) -> None:
    """Everything about one job: the event, each attempt's requests and Sailthru's answers
    (a GET /user's answer included), times in ISO 8601 UTC."""
    from sailbridge.operations import job_detail, with_iso_times

    settings = _settings(config)
    [checked] = _job_ids([job_id])
    job = _with_store(settings, lambda store: store.get_job(checked), read_only=True)
    if job is None:
        _die(f"no job {job_id}", code=EXIT_FAILED)
    typer.echo(json.dumps(with_iso_times(job_detail(job)), indent=2, ensure_ascii=False))


async def _dead_or_not(store: Any, job_ids: list[int]) -> tuple[list[int], list[str]]:
    """The ids among ``job_ids`` that are dead letters, and a note for each that is not."""
    dead, notes = [], []
    for job_id in job_ids:
        job = await store.get_job(job_id)
        if job is None:
            notes.append(f"no job {job_id}")
        elif job.state.value != "dead":
            notes.append(f"job {job_id} is {job.state.value}, not dead")
        else:
            dead.append(job_id)
    return dead, notes


def _by_ids(settings: Settings, job_ids: list[int], act: Any, verb: str) -> None:
    """Replay or purge the named dead jobs: exit 1 when any id is not a dead letter."""
    checked = _job_ids(job_ids)

    async def work(store: Any) -> tuple[int, list[str]]:
        dead, notes = await _dead_or_not(store, checked)
        return (await act(store, dead) if dead else 0), notes

    count, notes = _with_store(settings, work, read_only=True)
    for note in notes:
        err.print(f"[bold red]error:[/] {note}", highlight=False)
    typer.echo(f"{verb} {count} event{'s' if count != 1 else ''}")
    if notes:
        raise typer.Exit(EXIT_FAILED)


@dlq.command("replay")
def dlq_replay(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids to replay.")] = None,
    config: ConfigOption = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead event.")] = False,
    reason: Annotated[str | None, typer.Option(help="Replay those whose reason contains TEXT.")] = None,
) -> None:
    """Send dead events back to the queue (they are delivered by a running worker).

    Exits 1 when an id given is not a dead event, 4 when nothing matched.
    """
    if not job_ids and not replay_all and reason is None:
        _die("name what to replay: job ids, --all, or --reason TEXT")
    if job_ids and (replay_all or reason is not None):
        _die("give job ids, or --all / --reason, not both")
    settings = _settings(config)
    if job_ids:
        _by_ids(settings, job_ids,
                lambda store, dead: store.replay(dead, None, time.time()), "replayed")
        return
    reason = _reason_filter(reason)
    count = _with_store(settings, lambda store: store.replay(None, reason, time.time()),
                        read_only=True)
    typer.echo(f"replayed {count} event{'s' if count != 1 else ''}")
    if count == 0:
        raise typer.Exit(EXIT_NOTHING_TO_DO)


@dlq.command("purge")
def dlq_purge(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Dead job ids to delete.")] = None,
    older_than: Annotated[str | None, typer.Option(help="Age, e.g. 7d, 12h, 30m.")] = None,
    config: ConfigOption = None,
) -> None:
    """Delete dead events by id, or those (and rejections) older than an age.

    Exits 1 when an id given is not a dead event.
    """
    from sailbridge.operations import parse_duration

    if bool(job_ids) == (older_than is not None):
        _die("name what to purge: dead job ids, or --older-than AGE")
    settings = _settings(config)
    if job_ids:
        _by_ids(settings, job_ids, lambda store, dead: store.purge_dead_jobs(dead, None), "purged")
        return
    try:
        seconds = parse_duration(older_than or "")
    except ValueError as exc:
        _die(f"--older-than: {exc}")
    count = _with_store(settings, lambda store: store.purge_dead(time.time() - seconds),
                        read_only=True)
    typer.echo(f"purged {count} dead event{'s' if count != 1 else ''}")


events = typer.Typer(help="Events in any state: pending, retrying, dead, skipped, rejected.",
                     no_args_is_help=True, context_settings=HELP)
app.add_typer(events, name="events")

EVENT_STATES = ("pending", "retrying", "in_flight", "delivered", "skipped", "dead", "rejected")


@events.command("list")
def events_list(
    state: Annotated[str, typer.Option(help=f"One of {', '.join(EVENT_STATES)}.")],
    config: ConfigOption = None,
    user: Annotated[str | None, typer.Option(help="Only this user's (userId, else "
                                                     "anonymousId).")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event name (or type).")] = None,
    reason: Annotated[str | None, typer.Option(
        help="Only those whose reason contains TEXT.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    before: Annotated[int | None, typer.Option(help="Only older than this id (the next "
                                                       "page's cursor).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Events in one state, newest first, times in ISO 8601 UTC.

    Piped, one event per line (tab-separated): id, received, event, user, attempts,
    code, reason. When there are more, the next page's ``--before`` goes to stderr.
    """
    from sailbridge.operations import iso_utc, job_summary
    from sailbridge.store.base import JobQuery, ListState

    if state not in EVENT_STATES:
        _die(f"--state {state!r}: use one of {', '.join(EVENT_STATES)}")
    settings = _settings(config)
    reason, limit = _reason_filter(reason), _limit(limit)
    if before is not None:
        [before] = _job_ids([before])
    if state == "rejected":
        if user is not None or event is not None:
            _die("--user and --event do not apply to rejected events (they never became jobs)")
        page = _with_store(settings, lambda store: store.find_rejections(
            reason=reason, before=before, limit=limit), read_only=True)
        rows = [{"id": r.id, "received_at": iso_utc(r.received_at), "write_key": r.write_key,
                 "message_id": r.message_id, "reason": r.reason, "raw": r.raw}
                for r in page.items]
        columns: tuple[str, ...] = ("id", "received", "message id", "reason")
        cells: list[tuple[object, ...]] = [
            (r["id"], r["received_at"], r["message_id"], r["reason"]) for r in rows]
    else:
        query = JobQuery(state=ListState(state), user=user, event=event, reason=reason,
                         before=before, limit=limit)
        page = _with_store(settings, lambda store: store.find_jobs(query), read_only=True)
        rows = [{**job_summary(job), "received_at": iso_utc(job.received_at)}
                for job in page.items]
        columns = ("id", "received", "event", "user", "attempts", "code", "reason")
        cells = [(r["id"], r["received_at"], r["event"], r["user"], r["attempts"],
                  r["sailthru_code"], r["reason"]) for r in rows]
    if json_output:
        typer.echo(json.dumps({"events": rows, "next_before": page.next_before},
                              indent=2, ensure_ascii=False))
        return
    if not rows:
        _out().print(f"no {state} events" + ("" if page.next_before is None else
                                              " in this stretch"))
    else:
        print_table(_out(), columns, cells)
    if page.next_before is not None:
        err.print(f"more: --before {page.next_before}", highlight=False)


@app.command()
def demo() -> None:
    """Start a sandbox, send the example events through sailbridge, show what arrived."""
    from sailbridge.demo import run_demo

    raise typer.Exit(run_demo(_out()))


def main() -> None:
    """The ``sailbridge`` entry point: an unexpected error is one line, not a traceback
    (``--debug`` shows it)."""
    try:
        app()
    except Exception as exc:  # the last resort, reported in one line
        if _Run.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {first} "
                  "(run with --debug for the traceback)", highlight=False)
        sys.exit(EXIT_FAILED)
