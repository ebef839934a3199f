"""Forgetting a person (issue 8), with real processes against the sandbox: a User
Deleted in a file and `sailbridge forget` (the admin API: tests/service); on
SQLite the files are scanned for the email and id afterwards, on PostgreSQL every
table's rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from .test_resend import write_jsonl

USER = "user-forget-91x"
ANONYMOUS = "anon-forget-4kq"
EMAIL = "forget.me.7z@example.com"

HISTORY: list[dict[str, Any]] = [
    {"type": "identify", "anonymousId": ANONYMOUS, "traits": {"plan": "trial"}},
    {
        "type": "identify",
        "userId": USER,
        "anonymousId": ANONYMOUS,
        "traits": {"email": EMAIL, "name": "Ada"},
    },
    {
        "type": "track",
        "userId": USER,
        "event": "Product Added",
        "properties": {
            "product_id": "mug",
            "name": "Mug",
            "price": 12,
            "url": "https://shop.example/mug",
        },
    },
    {
        "type": "track",
        "userId": USER,
        "event": "Order Completed",
        "context": {"page": {"url": "https://shop.example/checkout"}},
        "properties": {"order_id": "o-1", "products": [{"product_id": "hat", "price": 20}]},
    },
    {
        "type": "track",
        "userId": USER,
        "event": "Product Added",
        "properties": {
            "product_id": "sock",
            "name": "Sock",
            "price": 3,
            "url": "https://shop.example/sock",
        },
    },
    # Fails (a dollar adjustment): a dead letter holding the email.
    {
        "type": "track",
        "userId": USER,
        "event": "Order Completed",
        "properties": {
            "email": EMAIL,
            "adjustments": [{"title": "Ship", "price": 5.99}],
            "products": [{"product_id": "hat", "price": 20, "url": "https://e/h"}],
        },
    },
    {"type": "identify", "userId": "someone-else", "traits": {"email": "other@example.com"}},
]
DELETED = {"type": "track", "userId": USER, "event": "User Deleted"}


def run(
    args: list[str], sandbox: SandboxHandle, database: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", *args],
        env=sandbox_environment(sandbox, database, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def traces_of_the_person(database: str) -> list[str]:
    """Where the email or an id of the person still is: SQLite files (their bytes),
    or PostgreSQL tables (their rows, as text)."""
    needles = [EMAIL, USER, ANONYMOUS]
    if not database.startswith("postgresql://"):
        found = []
        for path in sorted(Path(database).parent.iterdir()):
            data = path.read_bytes().lower()
            found += [f"{path.name}: {n}" for n in needles if n.lower().encode() in data]
        return found
    found = []
    with psycopg.connect(database) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        for table in tables:
            for needle in needles:
                [(count,)] = conn.execute(
                    f'SELECT count(*) FROM "{table}" AS t WHERE lower(t::text) LIKE %s',
                    (f"%{needle.lower()}%",),
                ).fetchall()
                if count:
                    found.append(f"{table}: {needle} ({count} rows)")
    return found


def assert_forgotten(sandbox: SandboxHandle, database: str, others: bool = True) -> None:
    assert sandbox.user(USER) is None and sandbox.user(ANONYMOUS) is None
    assert traces_of_the_person(database) == []
    if others:
        assert sandbox.user("someone-else") is not None


def test_user_deleted_in_a_file_forgets_cart_email_and_merge(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    after = [  # the same person signs up again after the deletion
        {
            "type": "track",
            "userId": USER,
            "event": "Product Added",
            "context": {"traits": {"email": "new.7z@example.com"}},
            "properties": {
                "product_id": "pen",
                "name": "Pen",
                "price": 1,
                "url": "https://shop.example/pen",
            },
        },
        {
            "type": "track",
            "userId": USER,
            "event": "Order Completed",
            "properties": {"products": [{"product_id": "pen", "price": 1, "url": "https://e/p"}]},
        },
    ]
    before = run(["send", str(write_jsonl(tmp_path / "a.jsonl", HISTORY))], sandbox, database)
    assert before.returncode == 1 and "delivered 6" in before.stdout, before.stdout
    assert traces_of_the_person(database), "the test must start with the data present"

    result = run(
        ["send", str(write_jsonl(tmp_path / "b.jsonl", [DELETED, *after]))], sandbox, database
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "forgotten 1" in result.stdout
    found = sandbox.sandbox.account.find("email", "new.7z@example.com")
    # The new cart holds the new item only, under the new email; the order without an
    # email used the email the cart event taught, not the deleted one.
    assert found is not None
    [purchase] = found.inspect()["purchases"]
    assert purchase["items"][0]["id"] == "pen"
    pen_cart = [
        r["params"]
        for r in sandbox.requests()
        if r["route"] == "POST /purchase" and r["params"].get("incomplete") == 1
    ][-1]
    assert [item["id"] for item in pen_cart["items"]] == ["pen"]
    assert pen_cart["email"] == "new.7z@example.com"
    assert sandbox.user(ANONYMOUS) is None


def test_sailbridge_forget_deletes_in_sailthru_and_leaves_no_trace(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    assert (
        run(["send", str(write_jsonl(tmp_path / "a.jsonl", HISTORY))], sandbox, database).returncode
        == 1
    )
    assert sandbox.user(USER) is not None

    result = run(["forget", USER], sandbox, database)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "forgotten 1" in result.stdout
    assert [r["route"] for r in sandbox.requests()][-1] == "DELETE /user"
    assert_forgotten(sandbox, database)
    status = json.loads(run(["status", "--json"], sandbox, database).stdout)
    assert (status["dead"], status["pending"]) == (0, 0)
    assert status["delivered"] == 7  # lifetime totals stay


def test_forget_waits_for_the_users_queued_events(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    refused = run(
        ["send", str(write_jsonl(tmp_path / "a.jsonl", HISTORY[:3]))],
        sandbox,
        database,
        SAILBRIDGE_SAILTHRU_API_SECRET="wrong",
    )
    assert refused.returncode == 1 and sandbox.user(USER) is None

    result = run(["forget", USER], sandbox, database)

    assert result.returncode == 0, result.stdout + result.stderr
    routes = [r["route"] for r in sandbox.requests() if r["status"] == 200]
    # The queued events went first (per-user order), the deletion last.
    assert routes[-1] == "DELETE /user" and "POST /purchase" in routes[:-1]
    assert_forgotten(sandbox, database, others=False)
