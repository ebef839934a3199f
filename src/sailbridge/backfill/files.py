"""Writing job lines into Job API files: one series of files per job and job-level
parameters, each file kept under a size limit, each identified by a content hash.

The hash (SHA-256 over the job type, its job-level parameters and the file's bytes)
is what a resumed backfill recognises a file by: the same input and settings give the
same files, byte for byte, so a file uploaded before has the same hash again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from sailbridge.backfill.lines import UPDATE, JobKind, JobLine

_encode_line = msgspec.json.Encoder().encode
_encode_params = msgspec.json.Encoder(order="sorted").encode
WRITE_BUFFER = 1 << 20


class LineTooLarge(ValueError):
    """One line alone is larger than the file size limit."""


@dataclass(frozen=True)
class JobFile:
    """A finished job file: what to upload, with which job parameters, and its identity."""

    kind: JobKind
    params: dict[str, Any]
    """Job-level parameters besides ``job`` (for an update, perhaps its ``update`` object)."""
    path: Path
    size: int
    lines: int
    content_hash: str

    @property
    def name(self) -> str:
        return self.path.name


def content_hash_start(kind: str, params: dict[str, Any]) -> Any:
    """A SHA-256 already fed the job type and its canonical parameters."""
    digest = hashlib.sha256()
    digest.update(kind.encode() + b"\n" + _encode_params(params) + b"\n")
    return digest


class _OpenFile:
    __slots__ = ("digest", "handle", "kind", "lines", "params", "path", "size")

    def __init__(self, kind: JobKind, params: dict[str, Any], path: Path) -> None:
        self.kind = kind
        self.params = params
        self.path = path
        self.handle: IO[bytes] = path.open("wb", buffering=WRITE_BUFFER)
        self.digest = content_hash_start(kind, params)
        self.size = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.lines += 1

    def close(self) -> JobFile:
        self.handle.close()
        return JobFile(
            self.kind, self.params, self.path, self.size, self.lines, self.digest.hexdigest()
        )


class JobFileWriter:
    """Appends lines to the open file of their (job, parameters); starts the next file of
    that series when a line would take it over ``max_bytes``.

    Files are numbered in the order they are started (``0001-update.jsonl``). They are
    uploaded every ``update`` file first, then every ``purchase_import`` file, each
    kind in number order: a user's later line never lands in an earlier file, and a
    purchase never creates (by email) a profile its user's update would then clash with.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("the file size limit must be positive")
        self._folder = folder
        self._max_bytes = max_bytes
        self._open: dict[tuple[str, bytes], _OpenFile] = {}
        self._done: list[JobFile] = []
        self._count = 0

    def add(self, line: JobLine) -> None:
        """Write ``line``; `LineTooLarge` if it could never fit in a file."""
        data = _encode_line(line.line) + b"\n"
        if len(data) > self._max_bytes:
            raise LineTooLarge(
                f"its {line.kind} line is {len(data)} bytes, over the "
                f"{self._max_bytes}-byte file limit"
            )
        group = (line.kind, _encode_params(line.job_params) if line.job_params else b"")
        current = self._open.get(group)
        if current is not None and current.size + len(data) > self._max_bytes:
            self._done.append(current.close())
            current = None
        if current is None:
            self._count += 1
            path = self._folder / f"{self._count:04d}-{line.kind}.jsonl"
            current = self._open[group] = _OpenFile(line.kind, line.job_params, path)
        current.write(data)

    def close(self) -> list[JobFile]:
        """Finish every file; all of them, in upload order (updates, then purchases)."""
        self._done.extend(open_file.close() for open_file in self._open.values())
        self._open.clear()
        return sorted(self._done, key=lambda job_file: (job_file.kind != UPDATE, job_file.name))
