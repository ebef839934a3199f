"""The Prometheus alert rules and the Grafana dashboard.

``promtool`` checks the rules and runs their unit tests (which alert fires on which
series); every metric they and the dashboard name is one a real ``serve`` exports after
traffic; every runbook link lands on a section of docs/operations.md; the dashboard's
panels are the ones docs/deploy.md lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from sailbridge.demo import demo_events
from sailbridge.sandbox.server import SandboxHandle

from ..service.process import WRITE_KEY, ServeProcess, free_port, service_env
from .conftest import ROOT, require_tool, run

RULES = ROOT / "deploy" / "prometheus" / "sailbridge-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "sailbridge-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "sailbridge-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"
DEPLOY_DOCS = ROOT / "docs" / "deploy.md"

# Exported once issue 19's branch is merged (it adds them); until then only the rules'
# separate "sailbridge-liveness-of-delivery" group may name them. Remove this allowance
# (and the group's special case below) after that merge.
NOT_YET_EXPORTED = {"sailbridge_delivery_stalled", "sailbridge_background_task_restarts_total"}
PENDING_GROUP = "sailbridge-liveness-of-delivery"

METRIC = re.compile(r"\bsailbridge_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "untyped": ("",)}


def rules() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return groups


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"]
            for target in panel.get("targets", [])]


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    promtool = require_tool("promtool")
    checked = run(promtool, "check", "rules", str(RULES))
    assert "SUCCESS" in checked.stdout + checked.stderr
    tested = run(promtool, "test", "rules", str(RULE_TESTS), cwd=RULE_TESTS.parent)
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_rule_tells_what_happened_how_bad_and_where_the_runbook_is() -> None:
    anchors = {github_anchor(heading) for heading in
               re.findall(r"^#+ (.*)$", OPERATIONS.read_text(encoding="utf-8"), re.MULTILINE)}
    alerts = [rule for group in rules() for rule in group["rules"]]
    assert len(alerts) >= 9
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert tested == {rule["alert"] for rule in alerts}


def test_the_dashboard_panels_are_the_documented_ones() -> None:
    panels = [panel for panel in dashboard()["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard()["panels"]}) == len(dashboard()["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])
    documented = " ".join(DEPLOY_DOCS.read_text(encoding="utf-8").split())  # unwrapped
    assert not [panel["title"] for panel in panels if f"**{panel['title']}**" not in documented]
    # No two panels overlap on Grafana's 24-column grid.
    cells = [(x, y) for panel in dashboard()["panels"] for x in range(
        panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"]) for y in range(
        panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])]
    assert len(cells) == len(set(cells)) and max(x for x, _ in cells) < 24


@pytest.fixture
def exported(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[set[str]]:
    """The sample names a real ``serve`` exports after delivering the demo events (one
    of which ends dead on purpose): per ``# TYPE`` line, with its type's suffixes, so a
    labelled metric without a sample yet still counts."""
    process = ServeProcess(service_env(sandbox, str(tmp_path / "sailbridge.db"), free_port()),
                           tmp_path / "serve.log").start()
    try:
        events = demo_events()
        answer = requests.post(process.url + "/v1/batch", auth=(WRITE_KEY, ""), timeout=10,
                               json={"batch": events})
        assert answer.status_code == 200
        status = process.wait_until_settled(len(events))
        assert status["delivered"] and status["dead"], status
        text = requests.get(process.url + "/metrics", timeout=10).text
    finally:
        process.stop()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    names = {name + suffix for family, kind in types.items()
             for name in (family, family.removesuffix("_total"))
             for suffix in SUFFIXES[kind]}
    # The family names above must really be there as samples for what traffic produced.
    assert re.search(r"^sailbridge_jobs_delivered_total\{", text, re.MULTILINE)
    assert re.search(r"^sailbridge_sailthru_rate_limit\{", text, re.MULTILINE)
    yield names


def test_every_metric_in_the_rules_and_the_dashboard_is_exported(exported: set[str]) -> None:
    named_by_rules = {group["name"]: {name for rule in group["rules"]
                                      for name in METRIC.findall(rule["expr"])}
                      for group in rules()}
    named = set().union(*named_by_rules.values(), *map(METRIC.findall, dashboard_expressions()))
    assert named - exported <= NOT_YET_EXPORTED, sorted(named - exported - NOT_YET_EXPORTED)
    # Only the separate group may wait for issue 19's metrics, and the dashboard none.
    outside = set().union(*(names for group, names in named_by_rules.items()
                            if group != PENDING_GROUP), *map(METRIC.findall,
                                                             dashboard_expressions()))
    assert not outside - exported, sorted(outside - exported)
