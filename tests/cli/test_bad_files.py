"""``explain`` and ``send`` on files holding the bad bytes ingest repairs or rejects:
each bad entry is reported with its reason, the rest goes on, nothing crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment
from .test_send import sailbridge

DEEP = (
    b'{"type":"track","userId":"deep","event":"E","properties":{"a":'
    + b"[" * 1000
    + b"]" * 1000
    + b"}}"
)
LINES = b"\n".join(
    [
        b'{"type":"identify","userId":"good","traits":{"name":"caf\xe9 \\ud83d"}}',
        DEEP,
        b'{"type":"track","userId":"n","event":"E","properties":{"p":1e400}}',
        b'{"type":"identify","userId":"nul\\u0000id"}',
    ]
)


def explain_file(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    env = {**clean_environment(), "SAILBRIDGE_DATABASE": str(tmp_path / "none.db")}
    result = subprocess.run(
        [sys.executable, "-m", "sailbridge", "explain", str(path)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    explained: list[dict[str, Any]] = json.loads(result.stdout)
    return explained


def test_explain_reports_a_1000_deep_event_as_invalid_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(DEEP)
    [view] = explain_file(path, tmp_path)
    assert view["outcome"] == "invalid"
    assert "properties.a" in view["reason"] and "deeper than 64" in view["reason"]


def test_explain_repairs_or_rejects_each_bad_line_and_explains_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(LINES)
    good, deep, huge, nul = explain_file(path, tmp_path)
    assert good["outcome"] == "deliver"
    assert good["calls"][0]["params"]["vars"] == {"name": "caf\ufffd \ufffd"}
    assert deep["outcome"] == "invalid" and deep["position"] == "line 2"
    assert huge["outcome"] == "invalid"
    assert huge["reason"] == "properties.p: number 1e400 is out of range"
    assert nul["userKey"] == "nul\ufffdid"


def test_explain_reads_a_deep_entry_inside_an_array(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_bytes(b"[" + DEEP + b',{"type":"identify","userId":"ok"}]')
    deep, ok = explain_file(path, tmp_path)
    assert deep["outcome"] == "invalid" and deep["position"] == "item 1"
    assert ok["outcome"] == "deliver"


def test_send_reports_bad_lines_with_reasons_and_delivers_the_rest(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(LINES)
    result = sailbridge(["send", "--json", str(path)], sandbox, tmp_path)
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert {entry["position"] for entry in summary["invalid"]} == {"line 2", "line 3"}
    assert sandbox.user("good") is not None
    assert sandbox.user("nul\ufffdid") is not None
