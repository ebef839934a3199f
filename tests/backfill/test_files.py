"""Job files: grouped by job and job parameters, split under the limit, hashed by content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sailbridge.backfill.files import JobFileWriter, LineTooLarge
from sailbridge.backfill.lines import JobLine


def update(n: int, lists: dict[str, int] | None = None) -> JobLine:
    return JobLine(
        "update", {"email": f"user{n}@example.com"}, {"update": {"lists": lists}} if lists else {}
    )


def test_lines_go_to_one_file_per_job_and_parameters_updates_before_purchases(
    tmp_path: Path,
) -> None:
    writer = JobFileWriter(tmp_path, 10_000)
    writer.add(update(1))
    writer.add(JobLine("purchase_import", {"email": "a@example.com", "items": []}, {}))
    writer.add(update(2, {"VIP": 1}))
    writer.add(update(3))

    files = writer.close()

    assert [(f.name, f.kind, f.params, f.lines) for f in files] == [
        ("0001-update.jsonl", "update", {}, 2),
        ("0003-update.jsonl", "update", {"update": {"lists": {"VIP": 1}}}, 1),
        ("0002-purchase_import.jsonl", "purchase_import", {}, 1),
    ]
    assert [json.loads(line) for line in files[0].path.read_text().splitlines()] == [
        {"email": "user1@example.com"},
        {"email": "user3@example.com"},
    ]
    assert all(f.size == f.path.stat().st_size for f in files)


def test_a_file_that_would_pass_the_limit_is_closed_and_the_next_one_started(
    tmp_path: Path,
) -> None:
    line_size = len(b'{"email":"user1@example.com"}\n')
    writer = JobFileWriter(tmp_path, 3 * line_size)
    for n in range(1, 8):
        writer.add(update(n))

    files = writer.close()

    assert [f.lines for f in files] == [3, 3, 1]
    assert all(f.size <= 3 * line_size for f in files)


def test_the_same_lines_and_parameters_give_the_same_hash_and_others_do_not(tmp_path: Path) -> None:
    def hashes(folder: str, lists: dict[str, int] | None, last: int) -> str:
        (tmp_path / folder).mkdir()
        writer = JobFileWriter(tmp_path / folder, 10_000)
        for n in (1, 2, last):
            writer.add(update(n, lists))
        [job_file] = writer.close()
        return job_file.content_hash

    first = hashes("a", None, 3)

    assert hashes("b", None, 3) == first
    assert hashes("c", None, 4) != first
    assert hashes("d", {"VIP": 1}, 3) != first  # same bytes, another job


def test_a_line_larger_than_any_file_may_be_is_refused(tmp_path: Path) -> None:
    writer = JobFileWriter(tmp_path, 20)

    with pytest.raises(LineTooLarge, match="over the 20-byte file limit"):
        writer.add(update(1))
    assert writer.close() == []
