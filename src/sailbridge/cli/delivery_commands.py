"""The commands that deliver to Sailthru: ``send`` a file, ``forget`` a user, ``serve``.

``send`` and ``forget`` queue their events in the store as the ingest API does and wait
for them (`send_events`), so per-user order, rate limits, retries and dead letters
are the same; ``serve`` runs the ingest API and the worker until stopped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Annotated, Any

import typer

from sailbridge.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_STORE, Invocation, die
from sailbridge.cli.loading import read_input, read_settings, require_credentials
from sailbridge.cli.options import AccountOption, ConfigOption, checked_account, one_account
from sailbridge.cli.progress import send_progress
from sailbridge.cli.send_report import print_summary, send_summary
from sailbridge.inputs import Entry
from sailbridge.logs import configure_logging
from sailbridge.settings import Settings, SettingsError
from sailbridge.store.errors import StoreUnavailable


def send(
    source: Annotated[str, typer.Argument(help="JSON array or JSON-lines file, or - for stdin.")],
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send every event again, even those an earlier send delivered."
        ),
    ] = False,
    account: AccountOption = None,
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

    settings = read_settings(config)
    name = one_account(settings, account)
    require_credentials(settings, [name])
    entries = read_input(source)
    valid = [entry for entry in entries if entry.event is not None]
    identities = send_identities(
        (entry.raw, entry.event.message_id) for entry in valid if entry.event is not None
    )
    events = [
        IdentifiedEvent(entry.event, identity)
        for entry, identity in zip(valid, identities, strict=True)
        if entry.event is not None
    ]
    invalid = [entry for entry in entries if entry.error is not None]
    _send_and_report(
        events,
        invalid,
        settings,
        json_output,
        [name],
        force=force,
        again=f"sailbridge send {source}" if source != "-" else "sailbridge send",
    )


def forget(
    user_id: Annotated[str, typer.Argument(help="The user's id (userId, Sailthru's extid).")],
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    account: AccountOption = None,
) -> None:
    """Delete a user in Sailthru and make sailbridge forget them: in every account, or
    only in ``--account``.

    Queued like a User Deleted event: the user's events queued before it are delivered
    first, then DELETE /user, then sailbridge removes their email, cart, merges and
    stored events (see docs/operations.md). Waits until done, as send does.
    """
    from sailbridge.events import InvalidEvent
    from sailbridge.forget import deletion_event
    from sailbridge.send import IdentifiedEvent

    settings = read_settings(config)
    name = checked_account(settings, account)
    names = [name] if name is not None else list(settings.deployment().names)
    require_credentials(settings, names)
    try:
        event = deletion_event(user_id)
    except InvalidEvent as exc:
        die(str(exc))
    _send_and_report(
        [IdentifiedEvent(event, None)],
        [],
        settings,
        json_output,
        names,
        again=f"sailbridge forget {user_id}",
    )


def _send_and_report(
    events: list[Any],
    invalid: list[Entry],
    settings: Settings,
    json_output: bool,
    accounts: list[str],
    *,
    again: str,
    force: bool = False,
) -> None:
    """Queue and deliver ``events`` (`send_events`), print the outcome, exit with it."""
    from sailbridge.operations import job_summary
    from sailbridge.send import send_events

    with send_progress(len(events)) as (progress, retrying):
        try:
            result = asyncio.run(
                send_events(
                    events,
                    settings,
                    on_progress=progress,
                    on_retry=retrying,
                    force=force,
                    accounts=accounts,
                )
            )
        except StoreUnavailable as exc:
            die(str(exc), EXIT_STORE)
    jobs = [job_summary(job) for job in result.jobs]
    summary = send_summary(jobs, invalid, result.paused_reason)
    summary.update(
        earlier=result.earlier,
        requeued=result.requeued,
        forgotten=result.forgotten,
        interrupted=result.interrupted,
    )
    if json_output:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary, again)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if summary["failed"] or summary["waiting"] else 0)


def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (over SAILBRIDGE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (over SAILBRIDGE_PORT).")
    ] = None,
    ingest_only: Annotated[
        bool, typer.Option("--ingest-only", help="Accept events; deliver none.")
    ] = False,
    delivery_only: Annotated[
        bool, typer.Option("--delivery-only", help="Deliver queued events; accept none.")
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="Log level: debug, info, warning, error.")
    ] = "info",
) -> None:
    """Run the Segment-compatible ingest API and the delivery worker.

    Logs go to stderr: JSON lines when it is not a terminal (see docs/operations.md).
    """
    from sailbridge.service import Roles
    from sailbridge.service import serve as run_service

    if ingest_only and delivery_only:
        die("--ingest-only and --delivery-only exclude each other")
    if log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        die(f"--log-level {log_level!r}: use debug, info, warning or error")
    configure_logging("debug" if Invocation.debug else log_level.lower())
    overrides = {
        name: value for name, value in (("host", host), ("port", port)) if value is not None
    }
    settings = read_settings(config, warn=False, **overrides)
    roles = Roles(ingest=not delivery_only, delivery=not ingest_only)
    try:
        if roles.delivery:
            settings.deployment().check_credentials()
        if roles.ingest and not any(
            source.write_keys or source.webhook_secrets for source in settings.deployment().sources
        ):
            die(
                "SAILBRIDGE_WRITE_KEYS is required to accept events (comma-separated "
                "Segment write keys)"
            )
        # uvicorn drains (requests, then the worker in the lifespan) and then re-raises
        # the signal it caught; make that final SIGTERM a clean exit, not a kill.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        asyncio.run(run_service(settings, roles, log_level=log_level.lower()))
    except SettingsError as exc:
        die(str(exc))
    except StoreUnavailable as exc:
        die(str(exc), EXIT_STORE)
