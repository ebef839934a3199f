"""``sailbridge demo``: the whole path, end to end, without a Sailthru account.

Starts the sandbox on a free local port, delivers the bundled example events through
the same code ``sailbridge send`` uses (real HTTP, real signatures), and prints what
the sandbox Sailthru now holds, so a newcomer sees the mapping's result in a minute.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from rich.console import Console
from rich.table import Table

from sailbridge.delivery.direct import deliver_all
from sailbridge.inputs import read_events
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import running_sandbox
from sailbridge.settings import load_settings

DEMO_EVENTS = "demo_events.jsonl"


def demo_events_text() -> str:
    return (files("sailbridge.examples") / DEMO_EVENTS).read_text(encoding="utf-8")


def run_demo(console: Console) -> int:
    """Run the demo; 0 when every example event ended as the demo expects."""
    config = SandboxConfig(cart_read_lag=3.0)
    with running_sandbox(config) as sandbox, tempfile.TemporaryDirectory() as scratch:
        console.print(f"[bold]sandbox Sailthru[/] listening on {sandbox.url} "
                      f"(cart reads lag {config.cart_read_lag:g} s, like the real one)")
        settings = load_settings(
            sailthru_api_key=config.api_key,
            sailthru_api_secret=config.api_secret,
            sailthru_base_url=sandbox.url,
            pageview_base_url=sandbox.url,
            customer_id=config.customer_id,
            database=str(Path(scratch) / "demo.db"),
            retry_min_delay=0.2,
        )
        entries = read_events(demo_events_text())
        events = [entry.event for entry in entries if entry.event is not None]
        results = asyncio.run(deliver_all(events, settings))
        table = Table("event", "outcome", "detail", title="sailbridge → Sailthru")
        for result in results:
            event = result.event
            name = event.event if event.type == "track" else event.type
            calls = ", ".join(call.route for call in result.outcome.calls)
            table.add_row(f"{name} ({event.user_key})", result.outcome.status,
                          result.outcome.reason or calls)
        console.print(table)
        state = _get_json(f"{sandbox.url}/_sandbox/users/user-1001")
        console.print("[bold]What Sailthru now holds for user-1001[/] "
                      f"(from {sandbox.url}/_sandbox/users/user-1001):")
        console.print_json(json.dumps(state))
    statuses = [result.outcome.status for result in results]
    expected = ["delivered"] * 10 + ["skipped", "failed"]
    if statuses == expected:
        console.print("[green]demo complete:[/] the last event failed on purpose — removing "
                      "from an empty cart — to show how failures are explained.")
        return 0
    console.print(f"[red]unexpected outcomes:[/] {statuses}")
    return 1


def _get_json(url: str) -> Any:
    with urlopen(url, timeout=10) as response:  # noqa: S310 - local sandbox URL
        return json.loads(response.read())
