"""``sailbridge backfill``: stream the input into job files, run the jobs, then go live.

The composition of the backfill's parts, in three steps:

1. one streaming pass over every input (`build_job_files`), writing the job files
   (and, when they will be needed, the events with no bulk form) to a folder;
2. unless it is a dry run, each file uploaded and its job polled to the end
   (`JobRunner`), every step recorded in the store;
3. with ``--live``, once every job completed, the events with no bulk form queued and
   delivered as ``sailbridge send`` does (`send_live`).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from sailbridge.backfill.build import BuildResult, build_job_files
from sailbridge.backfill.emails import EmailBook
from sailbridge.backfill.files import JobFile, JobFileWriter
from sailbridge.backfill.jobs import JobOutcome, JobRunner
from sailbridge.backfill.live import LiveResult, send_live
from sailbridge.backfill.reading import Source, open_source, read_entries
from sailbridge.inputs import Entry
from sailbridge.sailthru.client import SailthruClient
from sailbridge.settings import Settings
from sailbridge.store.backfill_files import AccountFiles
from sailbridge.store.factory import open_store

LIVE_FILE = "live.jsonl"
MANIFEST = "jobs.json"
"""A dry run's list of its files with their job parameters (an ``update`` object)."""


@dataclass(frozen=True)
class BackfillRequest:
    """What the command was asked to do."""

    sources: tuple[str, ...]
    dry_run: bool = False
    live: bool = False
    out: Path | None = None
    """Where the job files go (required for a dry run; a temporary folder otherwise)."""
    reupload_unconfirmed: bool = False


@dataclass
class Hooks:
    """Progress callbacks (the CLI draws bars with them; tests and benches ignore them)."""

    reading: Callable[[int, int, int | None], None] = lambda events, done, total: None
    """Events read so far, raw input bytes read so far, total input bytes (if known)."""
    uploading: Callable[[int, int], None] = lambda sent, total: None
    job: Callable[[JobOutcome], None] = lambda outcome: None
    live: Callable[[int, int], None] = lambda queued, total: None


@dataclass
class BackfillReport:
    """Everything the summary is made from."""

    request: BackfillRequest
    build: BuildResult
    folder: Path | None
    """The folder holding the job files, when they were kept (a dry run)."""
    jobs: list[JobOutcome] = field(default_factory=list)
    live: LiveResult | None = None
    live_held: str | None = None
    """Why the live events were not queued although ``--live`` was given."""
    seconds: float = 0.0


async def run_backfill(
    request: BackfillRequest, settings: Settings, hooks: Hooks | None = None
) -> BackfillReport:
    """Run one backfill; raises `InputError` for an input that cannot be read on."""
    hooks = hooks or Hooks()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="sailbridge-backfill-"))
    try:
        folder = request.out if request.out is not None else scratch / "files"
        _prepare(folder)
        keep_live = request.live or request.dry_run
        build = _build(request, settings, folder, scratch, keep_live, hooks)
        report = BackfillReport(request, build, folder if request.dry_run else None)
        if request.dry_run:
            (folder / MANIFEST).write_bytes(
                msgspec.json.format(
                    msgspec.json.encode([_planned(job_file) for job_file in build.files])
                )
            )
        else:
            await _run_jobs(report, settings, hooks)
            if request.live and build.live:
                await _go_live(report, folder / LIVE_FILE, settings, hooks)
        report.seconds = time.perf_counter() - started
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prepare(folder: Path) -> None:
    """An empty place for this run's files (earlier job files there are removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in itertools.chain(
        folder.glob("[0-9][0-9][0-9][0-9]-*.jsonl"), folder.glob(LIVE_FILE), folder.glob(MANIFEST)
    ):
        old.unlink()


def _build(
    request: BackfillRequest,
    settings: Settings,
    folder: Path,
    scratch: Path,
    keep_live: bool,
    hooks: Hooks,
) -> BuildResult:
    book = EmailBook(scratch / "emails.sqlite")
    try:
        with ExitStack() as stack:
            sources = [stack.enter_context(open_source(name)) for name in request.sources]
            live = stack.enter_context((folder / LIVE_FILE).open("wb")) if keep_live else None
            sizes = [source.size for source in sources]
            total = None if None in sizes else sum(size or 0 for size in sizes)
            tracker = _Tracker(sources, total, hooks)
            return build_job_files(
                _entries(sources, tracker),
                settings.mapping_options(),
                settings.backfill_update_key,
                JobFileWriter(folder, settings.backfill_max_file_bytes),
                book,
                live,
                on_progress=tracker.events,
            )
    finally:
        book.close()


class _Tracker:
    """Turns the pass's event count into the reading hook's (events, bytes, total)."""

    def __init__(self, sources: list[Source], total: int | None, hooks: Hooks) -> None:
        self._sources = sources
        self._total = total
        self._hooks = hooks
        self.current = 0
        self._finished_bytes = 0

    def next_source(self, index: int) -> None:
        if index:
            self._finished_bytes += self._sources[index - 1].size or 0
        self.current = index

    def events(self, read: int) -> None:
        done = self._finished_bytes + self._sources[self.current].position()
        self._hooks.reading(read, done, self._total)


def _entries(sources: list[Source], tracker: _Tracker) -> Iterator[Entry]:
    for index, source in enumerate(sources):
        tracker.next_source(index)
        entries = read_entries(source)
        if len(sources) == 1:
            yield from entries
        else:
            for entry in entries:
                yield replace(entry, position=f"{source.name} {entry.position}")


async def _run_jobs(report: BackfillReport, settings: Settings, hooks: Hooks) -> None:
    api_key, secret = settings.credentials()
    files = report.build.files
    total = sum(job_file.size for job_file in files)
    sent = 0

    def on_bytes(count: int) -> None:
        nonlocal sent
        sent += count
        hooks.uploading(sent, total)

    store = await open_store(settings.database)
    try:
        async with aiohttp.ClientSession() as session:
            client = SailthruClient(
                session,
                api_key=api_key,
                api_secret=secret,
                base_url=settings.sailthru_base_url,
                timeout=settings.backfill_upload_timeout,
            )
            files_of_account = AccountFiles(store, settings.deployment().account(None).name)
            runner = JobRunner(
                client,
                files_of_account,
                settings.backfill_poll_interval,
                reupload_unconfirmed=report.request.reupload_unconfirmed,
                on_bytes=on_bytes,
                on_outcome=hooks.job,
            )
            report.jobs = await runner.run(files)
    finally:
        await store.close()


async def _go_live(report: BackfillReport, path: Path, settings: Settings, hooks: Hooks) -> None:
    unfinished = [
        outcome for outcome in report.jobs if outcome.status not in ("completed", "error")
    ]
    if unfinished:
        report.live_held = (
            f"{len(unfinished)} job(s) have not finished; the live events "
            "wait for them: run the same command again"
        )
        return
    total = report.build.live
    store = await open_store(settings.database)
    try:
        report.live = await send_live(
            path,
            settings,
            AccountFiles(store, settings.deployment().account(None).name),
            on_progress=lambda done: hooks.live(done, total),
        )
    finally:
        await store.close()


def summary(report: BackfillReport) -> dict[str, Any]:
    """The outcome as JSON-ready data: counts, each job, and reasons with examples.

    Holds no credentials: job records and outcomes never carry them, and the
    parameters shown are the job-level ones (``update`` objects) only.
    """
    build = report.build
    jobs_failed = [job for job in report.jobs if not job.succeeded]
    live = report.live
    return {
        "dry_run": report.request.dry_run,
        "events_read": build.read,
        "mapped": build.mapped,
        "skipped": build.skipped.total,
        "failed": build.failed.total,
        "no_bulk_form": build.no_bulk_form.total,
        "jobs": [job.to_dict() for job in report.jobs]
        if not report.request.dry_run
        else [_planned(job_file) for job_file in build.files],
        "jobs_not_completed": len(jobs_failed),
        "skipped_reasons": build.skipped.to_list(),
        "failed_reasons": build.failed.to_list(),
        "no_bulk_form_reasons": build.no_bulk_form.to_list(),
        "live": live.to_dict() if live is not None else None,
        "live_held": report.live_held,
        "folder": str(report.folder) if report.folder is not None else None,
        "seconds": round(report.seconds, 3),
    }


def _planned(job_file: JobFile) -> dict[str, Any]:
    """A file of a dry run: what would be uploaded, with which job parameters."""
    return {
        "file": job_file.name,
        "job": job_file.kind,
        "params": job_file.params,
        "lines": job_file.lines,
        "bytes": job_file.size,
        "sha256": job_file.content_hash,
        "job_id": None,
        "status": "not uploaded (dry run)",
        "reused": False,
        "message": None,
    }


def exit_code(report: BackfillReport) -> int:
    """0 when every job completed and no event failed; 1 otherwise."""
    live = report.live
    live_failed = live is not None and (live.failed.total or live.waiting)
    if report.build.failed.total or live_failed or report.live_held:
        return 1
    return 1 if any(not job.succeeded for job in report.jobs) else 0
