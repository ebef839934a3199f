"""The commands that only read: ``explain``, ``status``, ``dlq list``, ``dlq show`` and
``events list``.

None of them changes the store, and none creates one: pointed at the wrong store they
say so (exit 3) instead of answering "nothing" from an empty new one. Listings are a
table on a terminal and tab-separated lines when piped; ``--json`` for programs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from sailbridge.cli.consoles import err, out
from sailbridge.cli.exits import EXIT_FAILED, die
from sailbridge.cli.loading import read_input, read_settings, with_store
from sailbridge.cli.options import (
    AccountOption,
    ConfigOption,
    checked_account,
    checked_job_ids,
    list_limit,
    one_account,
    reason_filter,
)
from sailbridge.explain import explain_entries
from sailbridge.render import duration, print_table
from sailbridge.settings import Settings
from sailbridge.store.base import REJECTED, SHOWN_COUNTS, ListState

EVENT_STATES = (*ListState, REJECTED)


def explain(
    source: Annotated[
        str, typer.Argument(help="JSON array or JSON-lines file, or - for stdin.")
    ] = "-",
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Print, as JSON, the Sailthru calls planned for each event — without sending any.

    Lookups Sailthru would answer (a user's email or cart) are listed, and the calls show
    placeholders or assumptions for them; sailbridge's memory is used when it exists.
    No credentials are needed and the secret is never shown.
    """
    settings = read_settings(config)
    name = one_account(settings, account)
    entries = read_input(source)
    explained = asyncio.run(explain_entries(entries, settings, account=name))
    typer.echo(json.dumps(explained, indent=2, ensure_ascii=False))


def status(
    config: ConfigOption = None,
    account: AccountOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Counts of pending, retrying, delivered, skipped, rejected, dead and duplicate events,
    and when the queue drains at Sailthru's limits: ``--account``'s jobs only when given;
    else the whole store's, with one row per account when there are several."""
    from sailbridge.status import Limits, read_status, status_json

    settings = read_settings(config)
    name = checked_account(settings, account)
    limits = Limits(settings.deployment().rate_limits)
    reading = with_store(settings, lambda store: read_status(store, limits, name), read_only=True)
    view = status_json(reading)
    view["readiness"] = node_readiness(settings.host, settings.port)
    if json_output:
        typer.echo(json.dumps(view, indent=2))
        return
    stdout = out()
    rows: list[tuple[object, ...]] = [
        (shown.replace("_", " "), view[shown]) for shown in (*SHOWN_COUNTS, "deduplicated")
    ]
    if view["not_yet_sorted"] and name is None:
        rows.append(("  of pending, not yet sorted", view["not_yet_sorted"]))
    age = view["oldest_pending_age_seconds"]
    rows.append(("oldest pending", "—" if age is None else f"{age:.1f} s"))
    rows.append(("serve", readiness_line(view["readiness"])))
    title = None if name is None else f"account {name}"
    print_table(stdout, ("state", "events"), rows, header=False, title=title)
    if "accounts" in view:
        print_table(stdout, *account_rows(view["accounts"]))
    drain_rows = [
        (
            *((backlog.account,) if "accounts" in view else ()),
            route.route,
            route.calls,
            f"{route.limit:g}/s ({route.limit_from})",
            duration(route.seconds),
        )
        for backlog in reading.accounts
        for route in backlog.drain.routes
    ]
    if drain_rows:
        columns: tuple[str, ...] = ("route", "calls waiting", "limit", "drains in")
        if "accounts" in view:
            columns = ("account", *columns)
        else:
            drain = reading.accounts[0].drain
            drain_rows.append(("all routes", drain.total_calls, "", duration(drain.total_seconds)))
        print_table(stdout, columns, drain_rows)
    for paused_account, why in view["paused_accounts"].items():
        stdout.print(f"[bold red]delivery paused ({paused_account}):[/] {why}", highlight=False)
    if view["paused_accounts"]:
        stdout.print("fix the setting and restart, or run `sailbridge resume`", highlight=False)


def account_rows(
    accounts: dict[str, dict[str, Any]],
) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    """The per-account table of ``status``: one row per account, its jobs' counts, the
    age of its oldest waiting event, when its backlog drains, and its pause."""
    columns = ("account", "pending", "retrying", "in flight", "delivered", "dead", "oldest")
    rows: list[tuple[object, ...]] = []
    for name, view in accounts.items():
        age = view["oldest_pending_age_seconds"]
        drain = view["drain"]
        rows.append(
            (
                name,
                view["pending"],
                view["retrying"],
                view["in_flight"],
                view["delivered"],
                view["dead"],
                "—" if age is None else f"{age:.1f} s",
                duration(drain["total_seconds"]) if drain["routes"] else "—",
                "paused" if view["paused"] else "delivering",
            )
        )
    return (*columns, "drains in", "delivery"), rows


def readiness_line(ready: dict[str, object]) -> str:
    """The node's readiness in a few words: ready, not ready (why), or unreachable."""
    if ready["status"] is None:
        return f"not reachable at {ready['url']}"
    if ready["status"] == 200:
        return "ready"
    return f"not ready ({ready['code']}): {ready['message']}"


READINESS_TIMEOUT = 3.0
"""Seconds ``status`` waits for the node's ``/readyz``."""


def node_readiness(host: str, port: int) -> dict[str, object]:
    """What the node at ``SAILBRIDGE_HOST``/``SAILBRIDGE_PORT`` answers on ``/readyz``
    (the same judgement the console and the load balancer see): ``status`` (``None``
    when it cannot be reached), ``code`` and ``message``."""
    import urllib.error
    import urllib.request

    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    url = f"http://{shown}:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=READINESS_TIMEOUT) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (OSError, ValueError) as error:
        return {"url": url, "status": None, "code": None, "message": str(error)}
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    return {
        "url": url,
        "status": status,
        "code": parsed.get("code"),
        "message": parsed.get("message"),
    }


def dlq_list(
    config: ConfigOption = None,
    account: AccountOption = None,
    reason: Annotated[
        str | None, typer.Option(help="Only those whose reason contains TEXT.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Dead events with their id, type, user, reason and Sailthru's message.

    Piped, one event per line: id, event, user, attempts, code, reason (tab-separated).
    """
    from sailbridge.operations import dead_jobs

    settings = read_settings(config)
    name = checked_account(settings, account)
    reason, limit = reason_filter(reason), list_limit(limit)
    rows = with_store(settings, lambda store: dead_jobs(store, limit, reason, name), read_only=True)
    if json_output:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        out().print("no dead events")
        return
    columns = ("id", "event", "user", "attempts", "code", "reason")
    cells = [
        (row["id"], row["event"], row["user"], row["attempts"], row["sailthru_code"], row["reason"])
        for row in rows
    ]
    print_table(out(), *with_accounts(settings, columns, cells, rows))


def with_accounts(
    settings: Settings,
    columns: tuple[str, ...],
    cells: Sequence[tuple[object, ...]],
    rows: Sequence[dict[str, Any]],
) -> tuple[tuple[str, ...], Sequence[tuple[object, ...]]]:
    """A listing's columns with each job's account after its id when the settings have
    several accounts (one account: the columns as they always were, for scripts)."""
    if len(settings.deployment().names) < 2:
        return columns, cells
    return (
        (columns[0], "account", *columns[1:]),
        [(cell[0], row["account"], *cell[1:]) for cell, row in zip(cells, rows, strict=True)],
    )


def dlq_show(job_id: int, config: ConfigOption = None) -> None:
    """Everything about one job: the event, each attempt's requests and Sailthru's answers
    (a GET /user's answer included), times in ISO 8601 UTC."""
    from sailbridge.operations import job_detail, with_iso_times

    settings = read_settings(config)
    [checked] = checked_job_ids([job_id])
    job = with_store(settings, lambda store: store.get_job(checked), read_only=True)
    if job is None:
        die(f"no job {job_id}", code=EXIT_FAILED)
    typer.echo(json.dumps(with_iso_times(job_detail(job)), indent=2, ensure_ascii=False))


def events_list(
    state: Annotated[str, typer.Option(help=f"One of {', '.join(EVENT_STATES)}.")],
    config: ConfigOption = None,
    account: AccountOption = None,
    user: Annotated[
        str | None, typer.Option(help="Only this user's (userId, else anonymousId).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Only this event name (or type).")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only those whose reason contains TEXT.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    before: Annotated[
        int | None, typer.Option(help="Only older than this id (the next page's cursor).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Events in one state, newest first, times in ISO 8601 UTC.

    Piped, one event per line (tab-separated): id, received, event, user, attempts,
    code, reason. When there are more, the next page's ``--before`` goes to stderr.
    """
    from sailbridge.operations import iso_utc, job_summary
    from sailbridge.store.base import JobQuery, ListState

    if state not in EVENT_STATES:
        die(f"--state {state!r}: use one of {', '.join(EVENT_STATES)}")
    settings = read_settings(config)
    name = checked_account(settings, account)
    reason, limit = reason_filter(reason), list_limit(limit)
    if before is not None:
        [before] = checked_job_ids([before])
    if state == "rejected":
        if user is not None or event is not None or name is not None:
            die(
                "--user, --event and --account do not apply to rejected events (they "
                "never became jobs)"
            )
        page = with_store(
            settings,
            lambda store: store.find_rejections(reason=reason, before=before, limit=limit),
            read_only=True,
        )
        rows = [
            {
                "id": r.id,
                "received_at": iso_utc(r.received_at),
                "write_key": r.write_key,
                "message_id": r.message_id,
                "reason": r.reason,
                "raw": r.raw,
            }
            for r in page.items
        ]
        columns: tuple[str, ...] = ("id", "received", "message id", "reason")
        cells: Sequence[tuple[object, ...]] = [
            (r["id"], r["received_at"], r["message_id"], r["reason"]) for r in rows
        ]
    else:
        query = JobQuery(
            state=ListState(state),
            user=user,
            event=event,
            reason=reason,
            before=before,
            limit=limit,
            account=name,
        )
        page = with_store(settings, lambda store: store.find_jobs(query), read_only=True)
        rows = [{**job_summary(job), "received_at": iso_utc(job.received_at)} for job in page.items]
        columns, cells = with_accounts(
            settings,
            ("id", "received", "event", "user", "attempts", "code", "reason"),
            [
                (
                    r["id"],
                    r["received_at"],
                    r["event"],
                    r["user"],
                    r["attempts"],
                    r["sailthru_code"],
                    r["reason"],
                )
                for r in rows
            ],
            rows,
        )
    if json_output:
        typer.echo(
            json.dumps(
                {"events": rows, "next_before": page.next_before}, indent=2, ensure_ascii=False
            )
        )
        return
    if not rows:
        out().print(f"no {state} events" + ("" if page.next_before is None else " in this stretch"))
    else:
        print_table(out(), columns, cells)
    if page.next_before is not None:
        err.print(f"more: --before {page.next_before}", highlight=False)
