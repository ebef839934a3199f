"""``sailbridge backfill``: load history through Sailthru's Job API, and report it.

The work is `sailbridge.backfill.run`; this reads the options into a request, shows
progress on stderr, and prints the summary: counts, one row per job file, the
reasons events were skipped or failed, and what the user may want to do next.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sailbridge.cli.consoles import out
from sailbridge.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, die
from sailbridge.cli.options import AccountOption, ConfigOption, one_account
from sailbridge.cli.progress import backfill_progress
from sailbridge.render import print_table
from sailbridge.settings import SettingsError, load_settings


def backfill(
    sources: Annotated[
        list[str],
        typer.Argument(help="JSON-lines or JSON-array files (gzip or not), or - for stdin."),
    ],
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the job files to --out and upload nothing.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the job files (default for --dry-run: ./sailbridge-backfill)."
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="After the jobs, deliver the events with no bulk form as send does."
        ),
    ] = False,
    update_key: Annotated[
        str | None,
        typer.Option(
            help="How update lines address profiles: extid (default, as live delivery) or email."
        ),
    ] = None,
    max_file_bytes: Annotated[
        int | None, typer.Option(help="Split job files to stay under this size (default 90000000).")
    ] = None,
    poll_interval: Annotated[
        float | None, typer.Option(help="Seconds between job status checks (default 5).")
    ] = None,
    reupload_unconfirmed: Annotated[
        bool,
        typer.Option(
            "--reupload-unconfirmed",
            help="Upload again purchase files whose earlier upload got no answer.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    account: AccountOption = None,
) -> None:
    """Load history into one Sailthru account (``--account``, or the only one) through
    its Job API: identifies as update jobs, orders
    as purchase_import jobs; other events are reported (and with --live, sent live).

    Resumable: run the same command again after an interruption; finished jobs are
    re-used and no file is uploaded twice. Exits 1 if any event or job failed.
    """
    from sailbridge.backfill.reading import InputError
    from sailbridge.backfill.run import BackfillRequest, exit_code, run_backfill, summary

    overrides = {
        name: value
        for name, value in (
            ("backfill_update_key", update_key),
            ("backfill_max_file_bytes", max_file_bytes),
            ("backfill_poll_interval", poll_interval),
        )
        if value is not None
    }
    try:
        settings = load_settings(config, **overrides)
        settings = settings.for_account(one_account(settings, account))
        if not dry_run:
            settings.credentials()
    except SettingsError as exc:
        die(str(exc))
    request = BackfillRequest(
        sources=tuple(sources),
        dry_run=dry_run,
        live=live,
        out=out if out is not None else (Path("sailbridge-backfill") if dry_run else None),
        reupload_unconfirmed=reupload_unconfirmed,
    )
    try:
        with backfill_progress() as hooks:
            report = asyncio.run(run_backfill(request, settings, hooks))
    except InputError as exc:
        die(str(exc), code=EXIT_FAILED)
    except KeyboardInterrupt:
        die(
            "interrupted: finished jobs are recorded; run the same command again to resume",
            code=EXIT_INTERRUPTED,
        )
    result = summary(report)
    if json_output:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_backfill_summary(result)
    raise typer.Exit(exit_code(report))


def _print_backfill_summary(result: dict[str, Any]) -> None:
    stdout = out()
    stdout.print(
        f"read {result['events_read']} events: {result['mapped']} mapped to job lines, "
        f"{result['skipped']} skipped, {result['failed']} failed, "
        f"{result['no_bulk_form']} with no bulk form",
        highlight=False,
    )
    if result["jobs"]:
        rows = [
            (
                job["file"],
                job["job"],
                job["lines"],
                job["bytes"],
                job["job_id"] or "",
                job["status"]
                + (" (re-used)" if job["reused"] else "")
                + (f": {job['message']}" if job["message"] else ""),
            )
            for job in result["jobs"]
        ]
        print_table(stdout, ("file", "job", "lines", "bytes", "job id", "status"), rows)
    for title, key in (
        ("skipped", "skipped_reasons"),
        ("failed", "failed_reasons"),
        ("no bulk form", "no_bulk_form_reasons"),
    ):
        if result[key]:
            print_table(
                stdout,
                (title, "events", "first examples"),
                [(row["reason"], row["events"], ", ".join(row["examples"])) for row in result[key]],
            )
    live = result["live"]
    if live is not None:
        stdout.print(
            f"live: {live['queued']} queued, {live['delivered']} delivered, "
            f"{live['skipped']} skipped, {live['failed']} failed"
            + (" (queued by an earlier run)" if live["already_queued_by_an_earlier_run"] else ""),
            highlight=False,
        )
    elif result["no_bulk_form"] and not result["dry_run"] and result["live_held"] is None:
        stdout.print(
            "events with no bulk form were not sent: add --live to deliver them "
            "as `sailbridge send` does",
            highlight=False,
        )
    if result["live_held"]:
        stdout.print(f"[bold red]live events held:[/] {result['live_held']}", highlight=False)
    if result["folder"]:
        stdout.print(f"job files written to {result['folder']}", highlight=False)
