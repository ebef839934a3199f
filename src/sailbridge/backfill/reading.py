"""Streaming a backfill's input: JSON lines or one JSON array, plain or gzip, or stdin.

A warehouse export can be gigabytes, so nothing here holds more than one event at a
time: JSON lines are read line by line, a JSON array element by element (ijson's C
parser). Each event comes back as an `Entry` (an `Event` or the reason it is
invalid), read with the same rules as every other file input (`event_from_dict`,
`with_timestamp`). `read_entries` is the one function the rest of the backfill calls,
so the event reading can move to the shared intake without touching anything else.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import ijson  # type: ignore[import-untyped]
import msgspec

from sailbridge.events import Event, format_time, shape_problem
from sailbridge.inputs import Entry, entry_from_bytes
from sailbridge.logs import first_line

GZIP_MAGIC = b"\x1f\x8b"
_encode = msgspec.json.encode
_decode_typed = msgspec.json.Decoder(Event).decode


class InputError(ValueError):
    """The input cannot be read on (a truncated gzip, a broken JSON array)."""


@dataclass
class Source:
    """An opened input: its binary stream and how far into the raw bytes reading got."""

    name: str
    stream: IO[bytes]
    raw: IO[bytes]
    size: int | None
    """The raw (possibly compressed) size in bytes, when known (a file, not stdin)."""
    received_at: datetime
    """When its events count as received, for those without a ``timestamp``: the file's
    modification time (an export is not newer than its file), so that running the same
    file again gives the same job files, byte for byte; now for stdin."""

    def position(self) -> int:
        """Raw bytes consumed so far (for a progress bar against ``size``)."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0


@contextmanager
def open_source(name: str) -> Iterator[Source]:
    """Open ``name`` (a path, or ``-`` for stdin), decompressing gzip when it is gzip."""
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
        size = None
        received_at = datetime.now(UTC)
    else:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"no such file: {name}")
        raw = path.open("rb")
        stat = path.stat()
        size = stat.st_size
        received_at = datetime.fromtimestamp(stat.st_mtime, UTC)
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    try:
        stream: IO[bytes] = buffered
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        yield Source(name, stream, buffered, size, received_at)
    finally:
        if name != "-":
            buffered.close()


def read_entries(source: Source) -> Iterator[Entry]:
    """Every event of ``source`` in order; the format is told by its first byte."""
    received_at = source.received_at
    try:
        first = _first_byte(source.stream)
        if first == b"[":
            yield from _array_entries(source.stream, received_at)
        elif first:
            yield from _line_entries(source.stream, received_at)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source.name}: cannot read on: {exc}") from None


def _first_byte(stream: IO[bytes]) -> bytes:
    peek = getattr(stream, "peek", None)
    while peek is not None:
        chunk: bytes = peek(64)
        if not chunk:
            return b""
        stripped = chunk.lstrip()
        if stripped:
            return stripped[:1]
        stream.read(len(chunk))
    raise InputError("the input stream cannot be inspected")  # pragma: no cover


def _line_entries(stream: IO[bytes], received_at: datetime) -> Iterator[Entry]:
    received_text = format_time(received_at)
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        event = _in_shape(line, received_text)
        if event is not None:
            yield Entry(position, None, event=event)
            continue
        yield entry_from_bytes(position, line, received_at)


def _in_shape(line: bytes, received_text: str) -> Event | None:
    """The event of a line already in shape — a known lower-case type, what its type
    requires (`shape_problem`), a ``timestamp`` — in one typed decode; ``None`` sends
    the line down the general path, which then decides and says why.
    ``tests/backfill/test_reading.py`` holds both paths to the same events."""
    try:
        event = _decode_typed(line)
    except msgspec.MsgspecError:
        return None
    if not event.timestamp or shape_problem(event, event.type) is not None:
        return None
    event.received_at = received_text
    return event


def _array_entries(stream: IO[bytes], received_at: datetime) -> Iterator[Entry]:
    number = 0
    try:
        for raw in ijson.items(stream, "item", use_float=True):
            number += 1
            yield entry_from_bytes(f"item {number}", _encode(raw), received_at)
    except ijson.JSONError as exc:
        raise InputError(
            f"the JSON array is malformed after item {number}: {first_line(exc)}"
        ) from None
