"""The Prometheus alert rules and the Grafana dashboard.

``promtool`` checks the rules and runs their unit tests (which alert fires on which
series); every metric they and the dashboard name is one a real ``serve`` exports after
traffic; every runbook link lands on a section of docs/operations.md; the dashboard's
panels are the ones docs/deploy.md lists.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
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

METRIC = re.compile(r"\bsailbridge_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "untyped": ("",),
}


def rules() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return groups


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_expressions() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


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
    anchors = {
        github_anchor(heading)
        for heading in re.findall(
            r"^#+ (.*)$", OPERATIONS.read_text(encoding="utf-8"), re.MULTILINE
        )
    }
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
    cells = [
        (x, y)
        for panel in dashboard()["panels"]
        for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
        for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)) and max(x for x, _ in cells) < 24


@pytest.fixture
def exported(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[set[str]]:
    """The sample names a real ``serve`` exports after delivering the demo events (one
    of which ends dead on purpose): per ``# TYPE`` line, with its type's suffixes, so a
    labelled metric without a sample yet still counts."""
    process = ServeProcess(
        service_env(sandbox, str(tmp_path / "sailbridge.db"), free_port()), tmp_path / "serve.log"
    ).start()
    try:
        events = demo_events()
        answer = requests.post(
            process.url + "/v1/batch", auth=(WRITE_KEY, ""), timeout=10, json={"batch": events}
        )
        assert answer.status_code == 200
        status = process.wait_until_settled(len(events))
        assert status["delivered"] and status["dead"], status
        text = requests.get(process.url + "/metrics", timeout=10).text
    finally:
        process.stop()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    names = {
        name + suffix
        for family, kind in types.items()
        for name in (family, family.removesuffix("_total"))
        for suffix in SUFFIXES[kind]
    }
    # The family names above must really be there as samples for what traffic produced.
    assert re.search(r"^sailbridge_jobs_delivered_total\{", text, re.MULTILINE)
    assert re.search(r"^sailbridge_sailthru_rate_limit\{", text, re.MULTILINE)
    yield names


def test_every_metric_in_the_rules_and_the_dashboard_is_exported(exported: set[str]) -> None:
    named = set().union(
        *(METRIC.findall(rule["expr"]) for group in rules() for rule in group["rules"]),
        *map(METRIC.findall, dashboard_expressions()),
    )
    assert not named - exported, sorted(named - exported)


@pytest.fixture
def two_nodes(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[list[ServeProcess]]:
    """Two ``serve`` processes after the demo events: one delivering (through Sailthru
    errors, so some calls are retried; one event of an unknown type is rejected), one
    whose secret Sailthru refuses (so its delivery pauses)."""
    good = ServeProcess(
        service_env(sandbox, str(tmp_path / "good.db"), free_port()), tmp_path / "good.log"
    )
    bad = ServeProcess(
        service_env(
            sandbox,
            str(tmp_path / "bad.db"),
            free_port(),
            SAILBRIDGE_SAILTHRU_API_SECRET="not-the-secret",
        ),
        tmp_path / "bad.log",
    )
    sandbox.configure(fail_rate=0.5)
    unknown = {"type": "bogus", "userId": "user-x", "messageId": "unknown-type"}
    try:
        for node in (good.start(), bad.start()):
            assert (
                requests.post(
                    node.url + "/v1/batch",
                    auth=(WRITE_KEY, ""),
                    timeout=10,
                    json={"batch": [*demo_events(), unknown]},
                ).status_code
                == 200
            )
        good.wait_until_settled(len(demo_events()))
        deadline = time.monotonic() + 30
        while not bad.admin("/status")["paused"]:
            assert time.monotonic() < deadline, bad.log.read_text()[-2000:]
            time.sleep(0.2)
        yield [good, bad]
    finally:
        good.stop()
        bad.stop()


def prometheus_api(url: str, path: str, **params: str) -> Any:
    answer = requests.get(url + "/api/v1/" + path, params=params, timeout=10).json()
    assert answer["status"] == "success", (path, params, answer)
    return answer["data"]


def test_a_real_prometheus_evaluates_the_rules_and_every_panel(
    two_nodes: list[ServeProcess], tmp_path: Path
) -> None:
    """Prometheus scrapes the two nodes every second with the rules loaded: the paused
    node's alert goes pending, and every dashboard query is valid PromQL with data."""
    binary = require_tool("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "sailbridge",
                        "static_configs": [
                            {"targets": [node.url.removeprefix("http://") for node in two_nodes]}
                        ],
                    }
                ],
            }
        )
    )
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, (
                tmp_path / "prometheus.log"
            ).read_text()[-3000:]
            try:
                series = prometheus_api(url, "query", query="sailbridge_delivery_paused")
                if len(series["result"]) == 2 and time.monotonic() > deadline - 50:
                    break  # both nodes scraped, and ten seconds of samples for rate()
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        alerts = {
            alert["labels"]["alertname"]: alert["state"]
            for alert in prometheus_api(url, "alerts")["alerts"]
        }
        assert alerts.get("SailbridgeDeliveryPaused") in ("pending", "firing"), alerts
        groups = prometheus_api(url, "rules")["groups"]
        assert not [
            rule["name"]
            for group in groups
            for rule in group["rules"]
            if rule.get("health") != "ok"
        ]
        empty = []
        for expression in dashboard_expressions():
            result = prometheus_api(
                url, "query", query=expression.replace("$__rate_interval", "10s")
            )["result"]
            if not result:
                empty.append(expression)
        # The share of the limit in use has no sample once the minute Sailthru counted
        # it in is over (by design: an old burst must not keep the alert going). If that
        # minute ended before the query, one more call gives a fresh sample.
        ratio = "sailbridge_sailthru_rate_limit_used_ratio"
        for attempt in range(3):
            if not any(ratio in expression for expression in empty):
                break
            requests.post(
                two_nodes[0].url + "/v1/track",
                auth=(WRITE_KEY, ""),
                timeout=10,
                json={"userId": "user-1001", "event": "Fresh", "messageId": f"f{attempt}"},
            )
            time.sleep(2)
            empty = [
                e
                for e in empty
                if not prometheus_api(url, "query", query=e.replace("$__rate_interval", "10s"))[
                    "result"
                ]
            ]
        assert empty == []
    finally:
        server.terminate()
        server.wait(30)
