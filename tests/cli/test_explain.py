"""`sailbridge explain`: what Sailthru would receive, with no network and no secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..environment import clean_environment


def explain(stdin: str, tmp_path: Path, **env_extra: str) -> list[dict[str, Any]]:
    env = {**clean_environment(), "SAILBRIDGE_DATABASE": str(tmp_path / "none.db"), **env_extra}
    result = subprocess.run(
        [sys.executable, "-m", "sailbridge", "explain", "-"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for secret in env_extra.values():
        if "secret" in secret:
            assert secret not in result.stdout and secret not in result.stderr
    explained: list[dict[str, Any]] = json.loads(result.stdout)
    return explained


def test_explain_shows_the_signed_call_without_credentials(tmp_path: Path) -> None:
    [view] = explain(
        '{"type":"track","userId":"u","event":"Signed Up","properties":{"a":{"b":1}}}', tmp_path
    )
    assert view["outcome"] == "deliver"
    assert view["calls"] == [
        {
            "method": "POST",
            "url": "https://api.sailthru.com/event",
            "params": {"id": "u", "key": "extid", "event": "Signed Up", "vars": {"a_b": 1}},
            "signed": "api_key, format=json, json=<params as JSON>, sig=md5(secret + values)",
        }
    ]


def test_explain_never_prints_the_secret(tmp_path: Path) -> None:
    """`explain` (the helper) also checks the raw output and the log for the secret."""
    [view] = explain(
        '{"type":"identify","userId":"u"}',
        tmp_path,
        SAILBRIDGE_SAILTHRU_API_KEY="key",
        SAILBRIDGE_SAILTHRU_API_SECRET="top-secret-value",
    )
    assert view["calls"] and "top-secret-value" not in json.dumps(view)


def test_explain_lists_lookups_and_assumptions_for_an_unknown_email(tmp_path: Path) -> None:
    [view] = explain(
        json.dumps(
            {
                "type": "track",
                "userId": "u",
                "event": "Order Completed",
                "properties": {"products": [{"id": "p", "price": 1, "url": "https://e/p"}]},
            }
        ),
        tmp_path,
    )
    assert view["lookups"][0]["fact"] == "email"
    assert view["lookups"][0]["call"]["method"] == "GET"
    assert view["lookups"][0]["call"]["params"] == {
        "id": "u",
        "key": "extid",
        "fields": {"keys": 1},
    }
    assert view["assumptions"] == ["the email is whatever GET /user returns for u"]
    assert view["calls"][0]["params"]["email"] == "<email of u from GET /user>"


def test_later_events_use_what_earlier_ones_in_the_file_teach(tmp_path: Path) -> None:
    lines = [
        {"type": "identify", "userId": "u", "traits": {"email": "u@example.com"}},
        {
            "type": "track",
            "userId": "u",
            "event": "Product Added",
            "properties": {"product_id": "p", "price": 1, "url": "https://e/p"},
        },
        {
            "type": "track",
            "userId": "u",
            "event": "Product Added",
            "properties": {"product_id": "p", "price": 1, "url": "https://e/p"},
        },
    ]
    views = explain("\n".join(json.dumps(line) for line in lines), tmp_path)
    assert views[2]["lookups"][0]["source"] == "memory"
    assert views[2]["calls"][0]["params"]["email"] == "u@example.com"
    assert views[2]["calls"][0]["params"]["items"][0]["qty"] == 2


def test_explain_reports_skips_failures_and_invalid_lines(tmp_path: Path) -> None:
    views = explain(
        '{"type":"group","userId":"u","groupId":"g"}\n'
        '{"type":"track","userId":"u","event":"open"}\n'
        "garbage\n",
        tmp_path,
    )
    assert [view["outcome"] for view in views] == ["skip", "fail", "invalid"]
    assert "reserved" in views[1]["reason"]
    assert views[2]["position"] == "line 3"


def test_explain_shows_pageviews_with_bearer_auth(tmp_path: Path) -> None:
    [view] = explain(
        '{"type":"page","userId":"u","context":{"page":{"url":"https://e/a"}}}',
        tmp_path,
        SAILBRIDGE_CUSTOMER_ID="cust",
    )
    assert view["calls"][0]["url"] == "https://api.sail-track.com/v1/track/event/pageview"
    assert view["calls"][0]["auth"] == "Authorization: Bearer <customer id>"


def test_a_cart_event_after_an_identify_uses_its_email_without_asking_for_it(
    tmp_path: Path,
) -> None:
    lines = [
        {"type": "identify", "userId": "user-1001", "traits": {"email": "a@example.com"}},
        {
            "type": "track",
            "userId": "user-1001",
            "event": "Product Added",
            "properties": {"product_id": "p", "price": 1, "url": "https://e/p"},
        },
    ]
    views = explain("\n".join(json.dumps(line) for line in lines), tmp_path)
    assert [lookup["fact"] for lookup in views[1]["lookups"]] == ["cart"]
    assert views[1]["calls"][0]["params"]["email"] == "a@example.com"
    assert "<email of" not in json.dumps(views[1])


def test_an_optout_override_on_a_track_is_warned_about(tmp_path: Path) -> None:
    [view] = explain(
        json.dumps(
            {
                "type": "track",
                "userId": "u",
                "event": "Signed Up",
                "integrations": {"Sailthru": {"optout_email": "all"}},
            }
        ),
        tmp_path,
    )
    assert view["warnings"] == [
        ("integrations.Sailthru.optout_email is ignored on this event: only identify events use it")
    ]
    assert "optout_email" not in view["calls"][0]["params"]


def test_after_a_deletion_in_the_file_nothing_learned_before_is_used(tmp_path: Path) -> None:
    lines = [
        {"type": "identify", "userId": "u", "traits": {"email": "u@example.com"}},
        {"type": "track", "userId": "u", "event": "User Deleted"},
        {
            "type": "track",
            "userId": "u",
            "event": "Order Completed",
            "properties": {"products": [{"id": "p", "price": 1, "url": "https://e/p"}]},
        },
    ]
    views = explain("\n".join(json.dumps(line) for line in lines), tmp_path)
    assert views[1]["calls"][0]["method"] == "DELETE"
    assert views[2]["lookups"][0]["source"] == "planned"
    assert views[2]["calls"][0]["params"]["email"] == "<email of u from GET /user>"


def run_explain(database: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**clean_environment(), "SAILBRIDGE_DATABASE": database}
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", "explain", "-"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


ORDER_LINE = json.dumps(
    {
        "type": "track",
        "userId": "u",
        "event": "Order Completed",
        "properties": {"products": [{"id": "p", "price": 1, "url": "https://e/p"}]},
    }
)


def test_explain_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    result = run_explain(str(tmp_path / "missing.db"), ORDER_LINE)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_explain_reads_memory_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    from sailbridge.mapping.plan import RememberEmail
    from sailbridge.store.sqlite import SqliteStore

    database = tmp_path / "sailbridge.db"
    store = await SqliteStore.open(database)
    await store.apply([RememberEmail("u", "remembered@example.com")])
    await store.close()
    before = {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.iterdir()
    }

    result = run_explain(str(database), ORDER_LINE)

    assert result.returncode == 0, result.stderr
    [view] = json.loads(result.stdout)
    assert view["lookups"][0]["source"] == "memory"
    assert view["calls"][0]["params"]["email"] == "remembered@example.com"
    after = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.iterdir()}
    assert after == before


async def test_explain_on_a_file_of_an_older_schema_does_not_migrate_it(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "old.db"
    db = sqlite3.connect(database)
    db.execute(
        "CREATE TABLE memory_email (user_key TEXT PRIMARY KEY, email TEXT NOT NULL, "
        "updated_at REAL NOT NULL)"
    )
    db.execute("INSERT INTO memory_email VALUES ('u', 'old@example.com', 0)")
    db.commit()
    db.close()
    before = database.read_bytes()

    result = run_explain(str(database), ORDER_LINE)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["lookups"][0]["source"] == "planned"  # no cart table
    assert database.read_bytes() == before and sorted(tmp_path.iterdir()) == [database]


def test_explain_on_postgresql_never_creates_the_schema() -> None:
    import psycopg

    from ..store.postgres_server import fresh_database

    with fresh_database("sailbridge_explain") as url:
        result = run_explain(url, ORDER_LINE)
        assert result.returncode == 0, result.stderr
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchone()
        assert tables == (0,)


async def test_explain_on_postgresql_reads_its_memory(postgres_url: str) -> None:
    from sailbridge.mapping.plan import RememberEmail
    from sailbridge.store.postgres import PostgresStore

    store = await PostgresStore.open(postgres_url)
    await store.apply([RememberEmail("u", "pg@example.com")])
    await store.close()

    result = run_explain(postgres_url, ORDER_LINE)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["calls"][0]["params"]["email"] == "pg@example.com"


def test_explain_goes_on_without_memory_when_postgresql_is_unreachable() -> None:
    from ..service.process import free_port

    result = run_explain(f"postgresql://root@127.0.0.1:{free_port()}/nowhere", ORDER_LINE)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["lookups"][0]["source"] == "planned"
    assert "without sailbridge's memory: PostgreSQL is not reachable" in result.stderr


SESSION = [
    {"type": "identify", "userId": "ann", "traits": {"email": "ann@example.com", "plan": "free"}},
    {"type": "identify", "userId": "bob", "traits": {"plan": "trial"}},
    {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}},
    {
        "type": "track",
        "userId": "ann",
        "event": "Product Added",
        "properties": {"product_id": "p1", "price": 2, "url": "https://shop/p1"},
    },
    {
        "type": "track",
        "userId": "ann",
        "event": "Product Added",
        "properties": {"product_id": "p2", "price": 3, "url": "https://shop/p2"},
    },
    {"type": "track", "userId": "ann", "event": "Signed Up"},
]


def test_explain_shows_which_events_would_share_a_call_in_a_backlog(tmp_path: Path) -> None:
    views = explain("\n".join(json.dumps(event) for event in SESSION), tmp_path)

    profile = views[0]["sentTogether"]
    assert views[2]["sentTogether"] == profile
    assert profile["kind"] == "profile" and profile["positions"] == ["line 1", "line 3"]
    [call] = profile["calls"]
    assert call["params"]["vars"] == {"email": "ann@example.com", "plan": "pro"}
    cart = views[3]["sentTogether"]
    assert views[4]["sentTogether"] == cart and cart["positions"] == ["line 4", "line 5"]
    assert [item["id"] for item in cart["calls"][0]["params"]["items"]] == ["p1", "p2"]
    assert cart["calls"][0]["params"]["email"] == "ann@example.com"
    for alone in (views[1], views[5]):
        assert "sentTogether" not in alone
    assert len(views[2]["calls"]) == 1  # each event's own call, as delivered alone


def test_explain_shows_no_grouping_with_coalescing_off(tmp_path: Path) -> None:
    views = explain(
        "\n".join(json.dumps(event) for event in SESSION), tmp_path, SAILBRIDGE_COALESCING="false"
    )
    assert not any("sentTogether" in view for view in views)
