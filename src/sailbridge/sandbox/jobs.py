"""The sandbox's Job API: ``update`` and ``purchase_import`` files applied to the account.

``POST /job`` takes the file (already received by the app), checks the job's
parameters and answers ``{"job_id", "name", "status": "pending"}``; the job runs
``job_delay`` seconds after its upload — the delay configured at the time of asking,
so a test can hold jobs pending and then release them — by whoever asks first after
that: a status read, the inspection API, or the timer the app sets. ``GET /job`` answers its
``status``, ``name``, ``start_time``, ``end_time`` and, for an error, ``errormsg``.

Choices where Sailthru's behaviour is not documented (docs/sandbox.md):

- Only ``job=update`` and ``job=purchase_import`` are known, and only with a ``file``.
- Every line must be a JSON object (``update``: with ``email``, or ``id`` and an
  optional ``key``, as the user API takes them; ``purchase_import``: a purchase with
  ``email``, ``items`` and a ``date``). The whole file is checked before anything is
  applied: one malformed line ends the job in ``error`` with nothing changed. A line
  the account then refuses (an invalid email, a key conflict) ends the job in
  ``error`` there, the lines before it applied.
- ``update``'s ``update`` object (``lists``, ``vars``, ``optout``) applies to every
  line under the line's own values.
- Imported purchases are filed at their ``date`` and leave the user's cart alone.
- Each upload is kept with its SHA-256 so tests can count uploads of the same file.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sailbridge.clock import Clock
from sailbridge.sandbox.account import Account
from sailbridge.sandbox.errors import ApiError, invalid, missing
from sailbridge.sandbox.purchases import PurchaseRequest, parse_purchase
from sailbridge.sandbox.var_names import check_call_var_names

JOB_TYPES: Final = ("update", "purchase_import")
UPDATE_OBJECT_FIELDS: Final = frozenset({"lists", "vars", "optout"})
IMPORT_DATE_FORMATS: Final = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


class LineError(ValueError):
    """A line of a job file that cannot be applied; the message names the line."""


@dataclass
class SandboxJob:
    """One uploaded job and what became of it."""

    job_id: str
    kind: str
    params: dict[str, Any]
    data: bytes
    sha256: str
    filename: str
    start_time: float
    status: str = "pending"
    end_time: float | None = None
    message: str | None = None
    lines: int = 0

    def answer(self) -> dict[str, Any]:
        """What ``GET /job`` returns for it."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time,
        }
        if self.end_time is not None:
            body["end_time"] = self.end_time
        if self.message is not None:
            body["errormsg"] = self.message
        return body

    @property
    def name(self) -> str:
        return f"{self.kind}: {self.filename}"

    def inspect(self) -> dict[str, Any]:
        """For ``/_sandbox/state``: everything but the file's bytes."""
        return {
            **self.answer(),
            "job": self.kind,
            "params": self.params,
            "sha256": self.sha256,
            "size": len(self.data),
            "lines": self.lines,
        }


class SandboxJobs:
    """The account's jobs: accepted now, applied once their delay has passed."""

    def __init__(
        self,
        account: Account,
        clock: Clock,
        templates: Callable[[], frozenset[str]],
        delay: Callable[[], float],
        var_name_max_length: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._account = account
        self._clock = clock
        self._templates = templates
        self._delay = delay
        self._var_name_max_length = var_name_max_length
        self._jobs: dict[str, SandboxJob] = {}
        self._ids = itertools.count(1)

    def submit(self, params: dict[str, Any], data: bytes, filename: str) -> dict[str, Any]:
        """Accept a job (its parameters checked now, its lines when it runs)."""
        kind = params.get("job")
        if kind is None or kind == "":
            raise missing("job")
        if kind not in JOB_TYPES:
            raise invalid(
                f"Unsupported job type: {kind!r} (the sandbox runs {' and '.join(JOB_TYPES)})"
            )
        update = params.get("update")
        if update is not None:
            if kind != "update":
                raise invalid("update is a parameter of the update job only")
            _check_update_object(update)
        now = self._clock()
        job = SandboxJob(
            job_id=f"job-{next(self._ids):06d}",
            kind=kind,
            params={k: v for k, v in params.items() if k != "job"},
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            filename=filename,
            start_time=now,
        )
        self._jobs[job.job_id] = job
        return {"job_id": job.job_id, "name": job.name, "status": job.status}

    def status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /job``: the job's status, after running whatever is due."""
        job_id = params.get("job_id")
        if job_id is None or job_id == "":
            raise missing("job_id")
        self.run_due()
        job = self._jobs.get(str(job_id))
        if job is None:
            raise invalid(f"Job not found: {job_id}")
        return job.answer()

    def run_due(self) -> None:
        """Run every pending job whose delay has passed, in upload order."""
        due = self._clock() - self._delay()
        for job in self._jobs.values():
            if job.status == "pending" and job.start_time <= due:
                self._run(job)

    def snapshot(self) -> list[dict[str, Any]]:
        self.run_due()
        return [job.inspect() for job in self._jobs.values()]

    def reset(self) -> None:
        self._jobs.clear()

    def _run(self, job: SandboxJob) -> None:
        try:
            lines = _parse_lines(job.data)
            job.lines = len(lines)
            self._check_var_names(lines, job.params.get("update") or {})
            if job.kind == "update":
                self._apply_updates(lines, job.params.get("update") or {})
            else:
                self._apply_purchases(lines)
        except LineError as error:
            job.status, job.message = "error", str(error)
        else:
            job.status = "completed"
        job.data = job.data if job.status == "error" else b""
        job.end_time = self._clock()

    def _check_var_names(self, lines: list[dict[str, Any]], update: Any) -> None:
        """Var names as the REST API checks them, before any line is applied."""
        cap = self._var_name_max_length()
        try:
            check_call_var_names(update if isinstance(update, dict) else {}, cap)
        except ApiError as error:
            raise LineError(f"update: {error.message}") from None
        for number, line in enumerate(lines, 1):
            try:
                check_call_var_names(line, cap)
            except ApiError as error:
                raise LineError(f"line {number}: {error.message}") from None

    def _apply_updates(self, lines: list[dict[str, Any]], update: dict[str, Any]) -> None:
        calls = [_user_params(number, line, update) for number, line in enumerate(lines, 1)]
        for number, params in enumerate(calls, 1):
            try:
                self._account.post_user(params)
            except ApiError as error:
                raise LineError(f"line {number}: {error.message}") from None

    def _apply_purchases(self, lines: list[dict[str, Any]]) -> None:
        templates = self._templates()
        purchases = [
            (_purchase(number, line, templates), _import_time(number, line))
            for number, line in enumerate(lines, 1)
        ]
        for request, at in purchases:
            self._account.import_purchase(request, at)


def _check_update_object(update: Any) -> None:
    if not isinstance(update, dict):
        raise invalid('update must be an object like {"lists": {"Name": 1}}')
    unknown = set(update) - UPDATE_OBJECT_FIELDS
    if unknown:
        raise invalid(
            f"update: unknown field {min(unknown)!r} (the sandbox knows "
            f"{', '.join(sorted(UPDATE_OBJECT_FIELDS))})"
        )
    for name in ("lists", "vars"):
        if name in update and not isinstance(update[name], dict):
            raise invalid(f"update.{name} must be an object")


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    """Every non-blank line as a JSON object, or `LineError` for the first that is not."""
    lines: list[dict[str, Any]] = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise LineError(f"line {number}: malformed JSON: {exc}") from None
        if not isinstance(line, dict):
            raise LineError(f"line {number}: must be a JSON object")
        lines.append(line)
    return lines


def _user_params(number: int, line: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """An update line (plus the job's ``update`` object) as POST /user parameters."""
    params = dict(line)
    if "email" in params:
        params["id"] = params.pop("email")
        params["key"] = "email"
    elif params.get("id") is None:
        raise LineError(f"line {number}: needs an email, or an id (with a key)")
    else:
        params.setdefault("key", "email")
    for name in ("lists", "vars"):
        if name in update:
            own = params.get(name)
            params[name] = {**update[name], **own} if isinstance(own, dict) else update[name]
    if "optout" in update and "optout_email" not in params:
        params["optout_email"] = update["optout"]
    return params


def _purchase(number: int, line: dict[str, Any], templates: frozenset[str]) -> PurchaseRequest:
    if "incomplete" in line:
        raise LineError(
            f"line {number}: purchase_import takes completed purchases only (no incomplete)"
        )
    try:
        return parse_purchase(line, templates)
    except ApiError as error:
        raise LineError(f"line {number}: {error.message}") from None


def _import_time(number: int, line: dict[str, Any]) -> float:
    date = line.get("date")
    if not isinstance(date, str) or not date.strip():
        raise LineError(f"line {number}: a purchase_import line needs a date")
    for layout in IMPORT_DATE_FORMATS:
        try:
            moment = datetime.strptime(date.strip(), layout)
        except ValueError:
            continue
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise LineError(f"line {number}: date {date!r} is not like '2019-06-01 12:00:00 +0000'")
