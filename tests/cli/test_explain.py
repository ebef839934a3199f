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
    result = subprocess.run([sys.executable, "-m", "sailbridge", "explain", "-"], input=stdin,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for secret in env_extra.values():
        if "secret" in secret:
            assert secret not in result.stdout
    explained: list[dict[str, Any]] = json.loads(result.stdout)
    return explained


def test_explain_shows_the_signed_call_without_credentials(tmp_path: Path) -> None:
    [view] = explain('{"type":"track","userId":"u","event":"Signed Up","properties":{"a":{"b":1}}}',
                     tmp_path)
    assert view["outcome"] == "deliver"
    assert view["calls"] == [{
        "method": "POST", "url": "https://api.sailthru.com/event",
        "params": {"id": "u", "key": "extid", "event": "Signed Up", "vars": {"a_b": 1}},
        "signed": "api_key, format=json, json=<params as JSON>, sig=md5(secret + values)"}]


def test_explain_never_prints_the_secret(tmp_path: Path) -> None:
    explain('{"type":"identify","userId":"u"}', tmp_path,
            SAILBRIDGE_SAILTHRU_API_KEY="key", SAILBRIDGE_SAILTHRU_API_SECRET="top-secret-value")


def test_explain_lists_lookups_and_assumptions_for_an_unknown_email(tmp_path: Path) -> None:
    [view] = explain(json.dumps({"type": "track", "userId": "u", "event": "Order Completed",
                                 "properties": {"products": [{"id": "p", "price": 1,
                                                              "url": "https://e/p"}]}}), tmp_path)
    assert view["lookups"][0]["fact"] == "email"
    assert view["lookups"][0]["call"]["method"] == "GET"
    assert view["lookups"][0]["call"]["params"] == {"id": "u", "key": "extid",
                                                    "fields": {"keys": 1}}
    assert view["assumptions"] == ["the email is whatever GET /user returns for u"]
    assert view["calls"][0]["params"]["email"] == "<email of u from GET /user>"


def test_later_events_use_what_earlier_ones_in_the_file_teach(tmp_path: Path) -> None:
    lines = [{"type": "identify", "userId": "u", "traits": {"email": "u@example.com"}},
             {"type": "track", "userId": "u", "event": "Product Added",
              "properties": {"product_id": "p", "price": 1, "url": "https://e/p"}},
             {"type": "track", "userId": "u", "event": "Product Added",
              "properties": {"product_id": "p", "price": 1, "url": "https://e/p"}}]
    views = explain("\n".join(json.dumps(line) for line in lines), tmp_path)
    assert views[2]["lookups"][0]["source"] == "memory"
    assert views[2]["calls"][0]["params"]["email"] == "u@example.com"
    assert views[2]["calls"][0]["params"]["items"][0]["qty"] == 2


def test_explain_reports_skips_failures_and_invalid_lines(tmp_path: Path) -> None:
    views = explain('{"type":"group","userId":"u","groupId":"g"}\n'
                    '{"type":"track","userId":"u","event":"open"}\n'
                    'garbage\n', tmp_path)
    assert [view["outcome"] for view in views] == ["skip", "fail", "invalid"]
    assert "reserved" in views[1]["reason"]
    assert views[2]["position"] == "line 3"


def test_explain_shows_pageviews_with_bearer_auth(tmp_path: Path) -> None:
    [view] = explain('{"type":"page","userId":"u","context":{"page":{"url":"https://e/a"}}}',
                     tmp_path, SAILBRIDGE_CUSTOMER_ID="cust")
    assert view["calls"][0]["url"] == "https://api.sail-track.com/v1/track/event/pageview"
    assert view["calls"][0]["auth"] == "Authorization: Bearer <customer id>"
