"""Options several commands take, and the checks that turn a bad value into one line.

The checks are the admin API's (`sailbridge.operations`), so a filter, a limit or a
job id is refused the same way on the command line as over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sailbridge.cli.exits import die
from sailbridge.settings import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="SAILBRIDGE_CONFIG",
        help="TOML file of settings; SAILBRIDGE_* environment variables win.",
    ),
]


AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="Only this Sailthru account (a name in [[accounts]]; the only one when there is one).",
    ),
]


def checked_account(settings: Settings, name: str | None) -> str | None:
    """``--account`` as given when the settings have that account (``None`` stays
    ``None``: every account), or one line naming the accounts there are."""
    if name is None:
        return None
    try:
        return settings.deployment().account(name).name
    except KeyError as exc:
        die(f"--account: {exc.args[0]}")


def one_account(settings: Settings, name: str | None) -> str:
    """The account a command that acts on one works with: ``--account``, or the only
    one; one line when there are several and none was named."""
    try:
        return settings.deployment().account(name).name
    except KeyError as exc:
        die(f"--account: {exc.args[0]}")


def reason_filter(reason: str | None) -> str | None:
    """``--reason`` as given, or one line saying why it cannot be used (it is empty)."""
    from sailbridge.operations import check_reason_filter

    try:
        return check_reason_filter(reason)
    except ValueError as exc:
        die(f"--reason: {exc}")


def list_limit(limit: int) -> int:
    """``--limit`` as given, or one line when it is outside what one listing returns."""
    from sailbridge.operations import MAX_LIST_LIMIT

    if not 1 <= limit <= MAX_LIST_LIMIT:
        die(f"--limit must be from 1 to {MAX_LIST_LIMIT}, not {limit}")
    return limit


def checked_job_ids(given: list[int]) -> list[int]:
    """Job ids as given, or one line naming the first that no job can have."""
    from sailbridge.operations import check_job_id

    try:
        return [check_job_id(job_id) for job_id in given]
    except ValueError as exc:
        die(str(exc))
