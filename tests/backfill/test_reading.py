"""Reading a backfill's input as a stream: JSON lines or an array, gzip or not."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from sailbridge.backfill.reading import InputError, open_source, read_entries
from sailbridge.events import event_to_dict
from sailbridge.inputs import read_events

EVENTS: list[dict[str, Any]] = [
    {
        "type": "identify",
        "userId": "u-1",
        "timestamp": "2024-01-01T00:00:00.000Z",
        "traits": {"email": "a@example.com"},
    },
    {"type": "Track", "userId": 42, "event": "Played", "properties": {"n": 1.5}},
    {
        "type": "track",
        "anonymousId": "a-1",
        "event": "Seen",
        "originalTimestamp": "2024-01-01T00:00:05.000Z",
        "sentAt": "2024-01-01T00:00:10.000Z",
    },
    {"type": "page"},
    {"type": "alias", "previousId": "a-1", "userId": "u-1", "timestamp": "2024-01-01T00:00:00Z"},
    {"type": "alias", "previousId": "a-1", "timestamp": "2024-01-01T00:00:00Z"},
    {"type": "track", "userId": "u-1", "event": " ", "timestamp": "2024-01-01T00:00:00Z"},
    {
        "type": "track",
        "userId": " ",
        "anonymousId": "a-2",
        "event": "X",
        "timestamp": "2024-01-01T00:00:00Z",
        "messageId": "m-1",
        "receivedAt": "1999-01-01",
        "channel": "server",
        "context": {"traits": {"email": "a@example.com"}},
        "integrations": {"All": False, "Sailthru": True},
        "properties": {},
    },
    {
        "type": "screen",
        "userId": "u-1",
        "name": "Home",
        "properties": None,
        "timestamp": "2024-01-01T00:00:00Z",
    },
    {
        "type": "group",
        "userId": "u-1",
        "groupId": 7,
        "traits": {"plan": "x"},
        "timestamp": "2024-01-01T00:00:00Z",
    },
    {
        "type": "identify",
        "userId": "u-3",
        "timestamp": "2024-01-01T00:00:00Z",
        "sentAt": "2024-01-01T00:00:09Z",
        "traits": {"email": "c@example.com", "n": [1, {"a": 2}]},
    },
    {"type": "nonsense", "userId": "u-1", "timestamp": "2024-01-01T00:00:00Z"},
]


def entries_of(path: Path) -> list[tuple[str, Any, str | None]]:
    with open_source(str(path)) as source:
        return [
            (
                e.position,
                event_to_dict(e.event) if e.event else None,
                str(e.error) if e.error else None,
            )
            for e in read_entries(source)
        ]


def test_json_lines_give_the_same_events_as_every_other_file_input(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    text = "\n".join(json.dumps(e) for e in EVENTS) + "\n\n{oops\n"
    path.write_text(text)
    with open_source(str(path)) as source:
        received = source.received_at

    entries = entries_of(path)

    expected = [
        (e.position, event_to_dict(e.event) if e.event else None, str(e.error) if e.error else None)
        for e in read_events(text, received)
    ]
    assert entries == expected
    assert [position for position, _, _ in entries] == [
        *(f"line {n}" for n in range(1, len(EVENTS) + 1)),
        f"line {len(EVENTS) + 2}",
    ]
    assert entries[3][2] == "page needs a userId or an anonymousId"
    assert entries[-1][2] is not None and entries[-1][2].startswith("malformed JSON")
    assert sum(event is not None for _, event, _ in entries) == 8


def test_a_gzip_json_array_is_read_item_by_item(tmp_path: Path) -> None:
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(json.dumps(EVENTS[:2]).encode()))

    entries = entries_of(path)

    assert [(position, event["type"]) for position, event, _ in entries] == [
        ("item 1", "identify"),
        ("item 2", "track"),
    ]
    assert entries[1][1]["userId"] == "42"


def test_events_without_a_timestamp_count_as_received_when_the_file_was_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(EVENTS[1]) + "\n")
    import os

    os.utime(path, (1_700_000_000, 1_700_000_000))

    [(_, event, _)] = entries_of(path)

    assert event["timestamp"] == "2023-11-14T22:13:20.000Z"


def test_a_broken_array_or_gzip_is_one_clear_error(tmp_path: Path) -> None:
    array = tmp_path / "broken.json"
    array.write_text(json.dumps(EVENTS)[:-30])
    truncated = tmp_path / "broken.jsonl.gz"
    truncated.write_bytes(
        gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in EVENTS * 50))[:-20]
    )

    with pytest.raises(InputError, match="JSON array is malformed after item"):
        entries_of(array)
    with pytest.raises(InputError, match="cannot read on"):
        entries_of(truncated)


def test_a_missing_file_and_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("  \n\n")

    with pytest.raises(InputError, match="no such file"):
        entries_of(tmp_path / "nope.jsonl")
    assert entries_of(empty) == []
