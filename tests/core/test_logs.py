"""Log rendering: JSON lines off a terminal, readable text on one, secrets' frames unseen."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from sailbridge.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging sets process-wide state; put it back for the next tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_record_is_one_json_line_led_by_time_level_event() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    get_logger("sailbridge.test").warning("event dead", job_id=3, reason="Unknown template")
    # a standard-library logger, as uvicorn's are (with uvicorn's coloured duplicate)
    logging.getLogger("sailbridge.test.stdlib").info(
        "Started %s", "server", extra={"color_message": "\x1b[36mStarted\x1b[0m"}
    )
    get_logger("sailbridge.test").debug("not shown at info")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first)[:4] == ["timestamp", "level", "logger", "event"]
    assert (first["event"], first["level"], first["job_id"]) == ("event dead", "warning", 3)
    assert first["timestamp"].endswith("Z")
    assert second == {**second, "event": "Started server", "logger": "sailbridge.test.stdlib"}
    assert "color_message" not in second


def test_a_traceback_is_text_without_the_frames_local_variables() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    api_secret = "the-shared-secret"  # a local a frame dump would show
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("sailbridge.test").exception("delivery crashed")
    [line] = (json.loads(text) for text in stream.getvalue().splitlines())
    assert "RuntimeError: boom" in line["exception"]
    assert api_secret not in stream.getvalue()


def test_on_a_terminal_lines_are_for_people() -> None:
    stream = Terminal()
    configure_logging("info", stream=stream)
    get_logger("sailbridge.test").info("queue", pending=4)
    text = stream.getvalue()
    assert not text.startswith("{") and "queue" in text and "pending" in text


def test_identical_errors_in_a_burst_are_written_once_then_with_a_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    clock = [1000.0]
    monkeypatch.setattr("sailbridge.logs.time.monotonic", lambda: clock[0])
    stdlib = logging.getLogger("sailbridge.test.accepting")
    for _ in range(500):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            stdlib.exception("Exception in ASGI application")
        get_logger("sailbridge.worker").warning(
            "store unavailable", doing="claiming jobs", error="OperationalError: server closed"
        )
        logging.getLogger("sailbridge.worker").info("not held back: info")
        get_logger("sailbridge.worker").warning("delivery paused", reason="not held back")
    get_logger("sailbridge.worker").warning(
        "store unavailable", doing="reading the pause", error="OperationalError: server closed"
    )
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [
        line["event"]
        for line in lines
        if line["event"] not in ("not held back: info", "delivery paused")
    ] == ["Exception in ASGI application", "store unavailable", "store unavailable"]
    assert sum(line["level"] == "info" for line in lines) == 500
    assert sum(line["event"] == "delivery paused" for line in lines) == 500
    clock[0] += 11  # the window has passed: the next one is written, with the count
    stdlib.error("Exception in ASGI application", exc_info=OSError(24, "Too many open files"))
    get_logger("sailbridge.worker").warning(
        "store unavailable", doing="claiming jobs", error="OperationalError: server closed"
    )
    last = [json.loads(line) for line in stream.getvalue().splitlines()][-2:]
    assert [(line["event"], line["repeated"]) for line in last] == [
        ("Exception in ASGI application", 499),
        ("store unavailable", 499),
    ]
