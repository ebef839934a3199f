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
"""

from __future__ import annotations

import logging
import sys
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
    return {**{key: event[key] for key in _FIRST if key in event},
            **{key: value for key, value in event.items() if key not in _FIRST}}


def configure_logging(level: str | int = "info", *, stream: TextIO | None = None,
                      render: Render | None = None) -> None:
    """Send every log record, structlog's and the standard library's, to ``stream``
    (stderr) at ``level`` and above, as JSON unless ``stream`` is a terminal (or as
    ``render`` says). Calling it again replaces the previous configuration."""
    stream = sys.stderr if stream is None else stream
    is_terminal = stream.isatty()
    as_json = render == "json" or (render is None and not is_terminal)
    renderer: Processor = (structlog.processors.JSONRenderer() if as_json
                           else structlog.dev.ConsoleRenderer(colors=is_terminal))
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if as_json:
        final.append(structlog.processors.format_exc_info)  # text: never frame locals
    final += [_tidy, renderer]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()], processors=final)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_SHARED,
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
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
