"""Progress on stderr while ``send`` and ``backfill`` work, so stdout stays the result.

On a terminal, bars; piped, ``send`` prints a line every few seconds and ``backfill``
prints nothing — a log file gets the count, not a redrawn bar.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sailbridge.cli.consoles import err

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
def send_progress(total: int) -> Iterator[tuple[Any, Any]]:
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
    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=total, note="")
        yield (
            (lambda finished: progress.update(task, completed=finished)),
            (lambda reason: progress.update(task, note=f"retrying: {reason}")),
        )


@contextmanager
def backfill_progress() -> Iterator[Any]:
    """Bars for reading (bytes and events), uploading (bytes) and live sending, on a
    terminal; silence when stderr is piped or in CI."""
    from rich.progress import DownloadColumn

    from sailbridge.backfill.run import Hooks

    if not err.is_terminal:
        yield Hooks()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[events]}"),
        TimeElapsedColumn(),
    )
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
                + (" (re-used)" if outcome.reused else ""),
                highlight=False,
            ),
            live=lambda done, total: bar("sending live", done, total, f"{done} events"),
        )
