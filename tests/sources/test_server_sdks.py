"""Server-side SDKs → `sailbridge serve` → the sandbox: Segment's and RudderStack's.

Each SDK replays the whole story (tests/sources/scenario.py) against a real `serve`
process on its default path (`/v1/batch`, Basic auth, gzip where the SDK does it) and
the sandbox must then hold the merged profile, events, purchase, cart and pageviews.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from rudderstack.analytics.client import Client as RudderClient  # type: ignore[import-untyped]

from sailbridge.sandbox.server import SandboxHandle

from ..service.conftest import StartServe
from ..service.process import WRITE_KEY
from .scenario import SCENARIO_SETTINGS, Call, assert_story_delivered, scenario_calls


def run_node_client(js_clients: Path, client: str, url: str, calls: list[Call]) -> None:
    """Replay ``calls`` through ``node node_client.mjs <client>``; it must flush and exit 0."""
    result = subprocess.run(
        ["node", "node_client.mjs", client, url, WRITE_KEY],
        cwd=js_clients,
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{client} exited {result.returncode}:\n{result.stderr}"


@pytest.mark.parametrize(
    "client",
    [
        pytest.param("segment", id="segment-analytics-node"),
        pytest.param("rudderstack", id="rudderstack-rudder-sdk-node"),
    ],
)
def test_node_sdk(
    sandbox: SandboxHandle, serve_process: StartServe, js_clients: Path, client: str
) -> None:
    service = serve_process(**SCENARIO_SETTINGS)
    calls = scenario_calls()
    run_node_client(js_clients, client, service.url, calls)
    assert_story_delivered(service, sandbox, calls)


def send_with_rudder_python(client: RudderClient, call: Call) -> None:
    """One Segment-spec message as the matching rudder-sdk-python call."""
    ids = {"user_id": call.get("userId"), "anonymous_id": call.get("anonymousId")}
    match call["type"]:
        case "identify":
            client.identify(traits=call["traits"], **ids)
        case "track":
            client.track(event=call["event"], properties=call["properties"], **ids)
        case "page" | "screen":
            send = client.page if call["type"] == "page" else client.screen
            send(name=call["name"], properties=call["properties"], **ids)
        case "group":
            client.group(group_id=call["groupId"], traits=call["traits"], **ids)
        case "alias":
            client.alias(previous_id=call["previousId"], user_id=call["userId"])
        case other:
            raise AssertionError(f"no rudder-sdk-python call for {other}")


def test_rudderstack_python_sdk(sandbox: SandboxHandle, serve_process: StartServe) -> None:
    """rudder-sdk-python sends identify traits only in context.traits (no top-level traits)."""
    service = serve_process(**SCENARIO_SETTINGS)
    failures: list[str] = []
    client = RudderClient(
        WRITE_KEY,
        host=service.url,
        upload_size=100,
        max_retries=3,
        on_error=lambda error, batch: failures.append(repr(error)),
    )
    calls = scenario_calls()
    for call in calls:
        send_with_rudder_python(client, call)
    client.flush()
    assert failures == []
    assert_story_delivered(service, sandbox, calls)
