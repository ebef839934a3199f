"""The streaming pass: files, tallies, learned emails and the live remainder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sailbridge.backfill.build import EXAMPLES_PER_REASON, build_job_files
from sailbridge.backfill.emails import BATCH, EmailBook
from sailbridge.backfill.files import JobFileWriter
from sailbridge.inputs import entry_from_bytes
from sailbridge.mapping.options import MappingOptions

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def entries(raws: list[Any]) -> list[Any]:
    return [
        entry_from_bytes(f"line {n}", json.dumps(raw).encode(), NOW)
        for n, raw in enumerate(raws, 1)
    ]


def order(user: str, email: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "properties": {"products": [{"product_id": "p", "price": 2, "url": "https://x"}]},
    }
    if email:
        event["context"] = {"traits": {"email": email}}
    return event


def identify(user: str, email: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": {"email": email}}


def test_orders_use_the_email_an_earlier_identify_taught_and_never_a_later_one(
    tmp_path: Path,
) -> None:
    book = EmailBook(tmp_path / "emails.sqlite")
    raws = [
        order("u-1"),
        identify("u-1", "a@example.com"),
        order("u-1"),
        order("u-2", "b@example.com"),
        order("u-2"),
    ]

    result = build_job_files(
        entries(raws), MappingOptions(), "email", JobFileWriter(tmp_path, 10_000), book
    )

    purchases = [
        json.loads(line)["email"] for line in result.files[1].path.read_text().splitlines()
    ]
    assert purchases == ["a@example.com", "b@example.com", "b@example.com"]
    assert result.failed.examples == {next(iter(result.failed.counts)): ["line 1"]}
    assert (result.read, result.mapped, result.failed.total) == (5, 4, 1)


def test_the_email_book_holds_emails_across_its_batches(tmp_path: Path) -> None:
    book = EmailBook(tmp_path / "emails.sqlite")
    for n in range(BATCH + 5):
        book.learn(f"u-{n}", f"old{n}@example.com")
    book.learn("u-3", "new3@example.com")

    assert book.email("u-1") == "old1@example.com"  # flushed to disk
    assert book.email("u-3") == "new3@example.com"  # the latest wins
    assert book.email("u-nobody") is None


def test_events_with_no_bulk_form_are_counted_and_written_for_live_delivery(tmp_path: Path) -> None:
    raws = [{"type": "track", "userId": f"u-{n}", "event": "Played"} for n in range(8)]
    with (tmp_path / "live.jsonl").open("wb") as live:
        result = build_job_files(
            entries(raws),
            MappingOptions(),
            "email",
            JobFileWriter(tmp_path, 10_000),
            EmailBook(tmp_path / "e.sqlite"),
            live,
        )

    [reason] = result.no_bulk_form.to_list()
    assert reason["events"] == 8 and len(reason["examples"]) == EXAMPLES_PER_REASON
    assert result.live == 8 and result.files == []
    lines = (tmp_path / "live.jsonl").read_text().splitlines()
    assert [json.loads(line)["userId"] for line in lines] == [f"u-{n}" for n in range(8)]
