"""The commands that change the store on an operator's word: ``migrate``, ``resume``,
``dlq replay`` and ``dlq purge``.

A replay or purge names what it acts on (ids, a reason, all, an age), never everything
by omission; an id that is not a dead letter is reported and exits 1, and a replay
that matched nothing exits 4, so a script can tell "done" from "nothing happened".
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from sailbridge.cli.consoles import err
from sailbridge.cli.exits import EXIT_FAILED, EXIT_NOTHING_TO_DO, die
from sailbridge.cli.loading import read_settings, with_store
from sailbridge.cli.options import (
    AccountOption,
    ConfigOption,
    checked_account,
    checked_job_ids,
    reason_filter,
)
from sailbridge.operations import ReplayRefusal, dead_ids_in, replay_refusal
from sailbridge.settings import Settings
from sailbridge.settings.accounts import DEFAULT_ACCOUNT

REPLAY_REFUSALS = {
    ReplayRefusal.NOTHING_NAMED: "name what to replay: job ids, --all, or --reason TEXT",
    ReplayRefusal.IDS_WITH_FILTER: "give job ids, or --all / --reason, not both",
}
"""How ``dlq replay`` words each refusal, in terms of its arguments."""


def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the store's schema (serve also does this at start)."""
    version = with_store(read_settings(config), lambda store: store.migrate())
    typer.echo(f"schema at version {version}")


def resume(config: ConfigOption = None, account: AccountOption = None) -> None:
    """Resume delivery paused by a credentials error (after fixing the credentials): of
    every paused account, or only ``--account``'s.

    Exits 4 when delivery was not paused.
    """
    settings = read_settings(config)
    name = checked_account(settings, account)

    async def work(store: Any) -> dict[str, str]:
        paused: dict[str, str] = await store.paused_accounts()
        chosen = {key: why for key, why in paused.items() if name in (None, key)}
        for key in chosen:
            await store.set_paused(None, key)
        return chosen

    resumed = with_store(settings, work, read_only=True)
    if not resumed:
        typer.echo("delivery is not paused; nothing to resume")
        raise typer.Exit(EXIT_NOTHING_TO_DO)
    for key, reason in resumed.items():
        which = "" if key == DEFAULT_ACCOUNT else f" for {key}"
        typer.echo(f"delivery resumed{which} (it was paused: {reason})")


def dlq_replay(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids to replay.")] = None,
    config: ConfigOption = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead event.")] = False,
    reason: Annotated[
        str | None, typer.Option(help="Replay those whose reason contains TEXT.")
    ] = None,
    account: AccountOption = None,
) -> None:
    """Send dead events back to the queue (they are delivered by a running worker): with
    ``--all`` or ``--reason``, of every account or only ``--account``'s.

    Exits 1 when an id given is not a dead event, 4 when nothing matched.
    """
    refusal = replay_refusal(job_ids, reason, replay_all, ids_exclusive=True)
    if refusal is not None:
        die(REPLAY_REFUSALS[refusal])
    settings = read_settings(config)
    if job_ids:
        _by_ids(
            settings, job_ids, lambda store, dead: store.replay(dead, None, time.time()), "replayed"
        )
        return
    reason = reason_filter(reason)
    name = checked_account(settings, account)

    async def replay(store: Any) -> int:
        if name is None:
            return int(await store.replay(None, reason, time.time()))
        ids = await dead_ids_in(store, name, None, reason)
        return int(await store.replay(ids, None, time.time())) if ids else 0

    count = with_store(settings, replay, read_only=True)
    typer.echo(f"replayed {count} event{'s' if count != 1 else ''}")
    if count == 0:
        raise typer.Exit(EXIT_NOTHING_TO_DO)


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
        die("name what to purge: dead job ids, or --older-than AGE")
    settings = read_settings(config)
    if job_ids:
        _by_ids(settings, job_ids, lambda store, dead: store.purge_dead(dead), "purged")
        return
    try:
        seconds = parse_duration(older_than or "")
    except ValueError as exc:
        die(f"--older-than: {exc}")
    count = with_store(
        settings, lambda store: store.purge_dead(older_than=time.time() - seconds), read_only=True
    )
    typer.echo(f"purged {count} dead event{'s' if count != 1 else ''}")


async def _dead_or_not(store: Any, ids: list[int]) -> tuple[list[int], list[str]]:
    """The ids among ``ids`` that are dead letters, and a note for each that is not."""
    dead, notes = [], []
    for job_id in ids:
        job = await store.get_job(job_id)
        if job is None:
            notes.append(f"no job {job_id}")
        elif job.state.value != "dead":
            notes.append(f"job {job_id} is {job.state.value}, not dead")
        else:
            dead.append(job_id)
    return dead, notes


def _by_ids(settings: Settings, given: list[int], act: Any, verb: str) -> None:
    """Replay or purge the named dead jobs: exit 1 when any id is not a dead letter."""
    checked = checked_job_ids(given)

    async def work(store: Any) -> tuple[int, list[str]]:
        dead, notes = await _dead_or_not(store, checked)
        return (await act(store, dead) if dead else 0), notes

    count, notes = with_store(settings, work, read_only=True)
    for note in notes:
        err.print(f"[bold red]error:[/] {note}", highlight=False)
    typer.echo(f"{verb} {count} event{'s' if count != 1 else ''}")
    if notes:
        raise typer.Exit(EXIT_FAILED)
