"""Logging: structured with structlog, one configuration for every logger in the process.

On a terminal the lines are rendered for people (structlog's console renderer); when
stderr is a file or a pipe — a container, systemd, a log shipper — each line is one
JSON object with ``timestamp`` (ISO 8601 UTC), ``level``, ``logger`` and ``event`` plus
the fields of the call. The standard library's loggers (uvicorn's, and sailbridge
modules that use `logging`) go through the same formatter, so one process writes one
format.

sailbridge's own lines name what happened in ``event`` (``"delivery paused"``, ``"event
dead"``, ``"queue"``...) and put the details in fields, so they can be filtered by
field rather than by parsing text.

Identical errors repeated in a burst (a failing accept loop, a store outage seen by
every poll: errors, and warnings carrying an exception or an ``error`` field) are
written once per `REPEAT_WINDOW` seconds: the first
goes out, the repeats are counted, and the next one written after the window carries
``repeated`` — how many identical lines were held back. A flood of one error cannot
fill the disk (the issue that prompted this wrote 29 MB in 20 s).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import Processor

Render = Literal["json", "console"]

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


_FIRST = ("timestamp", "level", "logger", "event")


def _tidy(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Time, level, logger and event first (a line reads left to right as a sentence);
    uvicorn's ``color_message`` (the same text with terminal colours) dropped."""
    event.pop("color_message", None)
    return {
        **{key: event[key] for key in _FIRST if key in event},
        **{key: value for key, value in event.items() if key not in _FIRST},
    }


REPEAT_WINDOW = 10.0
"""Seconds during which an identical warning or error is counted rather than written."""


class Repeats(logging.Filter):
    """Holds back warnings and errors identical to one written less than ``window``
    seconds ago, and tells the next one written how many were held back."""

    def __init__(self, window: float = REPEAT_WINDOW) -> None:
        super().__init__()
        self._window = window
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not _reports_a_failure(record):
            return True
        key = _identity(record)
        now = time.monotonic()
        written_at, held = self._seen.get(key, (float("-inf"), 0))
        if now - written_at < self._window:
            self._seen[key] = (written_at, held + 1)
            return False
        if len(self._seen) > 1000:  # many distinct lines: forget the old ones
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._window}
        self._seen[key] = (now, 0)
        if held:
            if isinstance(record.msg, dict):
                record.msg["repeated"] = held
            else:
                record.repeated = held
        return True


def _reports_a_failure(record: logging.LogRecord) -> bool:
    """An error, or a warning carrying an exception or an ``error`` field: the lines
    that repeat while something keeps failing. A warning that marks a change of state
    (``delivery paused``) is written each time it happens."""
    if record.levelno >= logging.ERROR:
        return True
    if record.levelno < logging.WARNING:
        return False
    fields = record.msg if isinstance(record.msg, dict) else record.__dict__
    return bool(record.exc_info) or "error" in fields


def _identity(record: logging.LogRecord) -> tuple[Any, ...]:
    """What makes two records the same line: logger, level, text and fields (not the
    time), and the exception's type and message."""
    if isinstance(record.msg, dict):  # structlog's event dict
        text = repr(sorted((k, repr(v)) for k, v in record.msg.items() if k != "timestamp"))
    else:
        text = record.getMessage()
    error = record.exc_info[1] if record.exc_info else None
    extras = {
        key: repr(value) for key, value in record.__dict__.items() if key not in _RECORD_FIELDS
    }
    return (
        record.name,
        record.levelno,
        text,
        tuple(sorted(extras.items())),
        type(error).__name__ if error else None,
        str(error) if error else None,
    )


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "_from_structlog",
    "_logger",
    "_name",
    "repeated",
}


def configure_logging(
    level: str | int = "info", *, stream: TextIO | None = None, render: Render | None = None
) -> None:
    """Send every log record, structlog's and the standard library's, to ``stream``
    (stderr) at ``level`` and above, as JSON unless ``stream`` is a terminal (or as
    ``render`` says). Calling it again replaces the previous configuration."""
    stream = sys.stderr if stream is None else stream
    is_terminal = stream.isatty()
    as_json = render == "json" or (render is None and not is_terminal)
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=is_terminal)
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if as_json:
        final.append(structlog.processors.format_exc_info)  # text: never frame locals
    final += [_tidy, renderer]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()], processors=final
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(Repeats())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (shown as ``logger``)."""
    return structlog.stdlib.get_logger(name)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its class name when it has none): what a
    one-line report shows of a driver's or parser's multi-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
