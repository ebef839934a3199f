"""``sailbridge demo``: the whole product, end to end, without a Sailthru account.

Starts the sandbox Sailthru and ``sailbridge serve`` on free local ports, sends the
bundled example events with Segment's own Python SDK pointed at sailbridge, waits for
delivery, and prints each event's outcome and what the sandbox now holds, so a newcomer
sees the real path — SDK → ingest → durable queue → worker → signed Sailthru calls.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from rich.console import Console
from segment.analytics import Client  # type: ignore[import-untyped]  # ships no types

from sailbridge import operations
from sailbridge.events import EventType
from sailbridge.render import print_table
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import running_sandbox
from sailbridge.service import running_service
from sailbridge.settings import load_settings
from sailbridge.store.base import JobQuery
from sailbridge.store.factory import open_store

DEMO_EVENTS = "demo_events.jsonl"
WRITE_KEY = "demo-write-key"
EXPECTED = {"delivered": 10, "skipped": 1, "dead": 1}


def demo_events() -> list[dict[str, Any]]:
    text = (files("sailbridge.examples") / DEMO_EVENTS).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def send_with_segment_sdk(client: Client, event: dict[str, Any]) -> None:
    """Replay one Segment-spec event through the SDK call a real app would make."""
    common = {
        "context": event.get("context"),
        "integrations": event.get("integrations"),
        "message_id": event.get("messageId"),
    }
    who = {"user_id": event.get("userId"), "anonymous_id": event.get("anonymousId")}
    match event["type"]:
        case EventType.IDENTIFY:
            client.identify(traits=event.get("traits", {}), **who, **common)
        case EventType.TRACK:
            client.track(
                event=event["event"], properties=event.get("properties", {}), **who, **common
            )
        case EventType.PAGE:
            client.page(
                name=event.get("name"), properties=event.get("properties", {}), **who, **common
            )
        case EventType.SCREEN:
            client.screen(
                name=event.get("name"), properties=event.get("properties", {}), **who, **common
            )
        case EventType.GROUP:
            client.group(group_id=event["groupId"], traits=event.get("traits", {}), **who, **common)
        case EventType.ALIAS:
            client.alias(previous_id=event["previousId"], user_id=event["userId"], **common)


def run_demo(console: Console) -> int:
    """Run the demo; 0 when every example event ended as the demo expects."""
    sandbox_config = SandboxConfig(cart_read_lag=3.0)
    events = demo_events()
    with running_sandbox(sandbox_config) as sandbox, tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(
            sailthru_api_key=sandbox_config.api_key,
            sailthru_api_secret=sandbox_config.api_secret,
            sailthru_base_url=sandbox.url,
            pageview_base_url=sandbox.url,
            customer_id=sandbox_config.customer_id,
            database=str(Path(scratch) / "demo.db"),
            write_keys=WRITE_KEY,
            retry_min_delay=0.2,
        )
        console.print(
            f"[bold]sandbox Sailthru[/] on {sandbox.url} (cart reads lag "
            f"{sandbox_config.cart_read_lag:g} s, like the real one)"
        )
        with running_service(settings) as service:
            console.print(
                f"[bold]sailbridge serve[/] on {service.url}; sending "
                f"{len(events)} events with Segment's Python SDK…"
            )
            client = Client(WRITE_KEY, host=service.url, sync_mode=True)
            for event in events:
                send_with_segment_sdk(client, event)
            jobs = asyncio.run(_wait_for_outcomes(settings.database, len(events)))
        _print_outcomes(console, jobs)
        profile = _get_json(f"{sandbox.url}/_sandbox/users/user-1001")
        console.print(
            "[bold]What Sailthru now holds for user-1001[/] "
            f"(from {sandbox.url}/_sandbox/users/user-1001):"
        )
        console.print_json(json.dumps(profile))
    states = {state: sum(job["state"] == state for job in jobs) for state in EXPECTED}
    if states == EXPECTED:
        console.print(
            "[green]demo complete:[/] the dead event failed on purpose — removing "
            "from an empty cart — to show how failures are explained."
        )
        return 0
    console.print(f"[red]unexpected outcomes:[/] {states}")
    return 1


async def _wait_for_outcomes(
    database: str, count: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every job's summary once all ``count`` have finished, oldest first."""
    store = await open_store(database)
    try:
        deadline = time.monotonic() + timeout
        while True:
            counts = await store.counts()
            if counts.delivered + counts.skipped + counts.dead >= count or (
                time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.2)
        page = await store.find_jobs(JobQuery(limit=count, oldest_first=True))
        return [operations.job_summary(job) for job in page.items]
    finally:
        await store.close()


def _print_outcomes(console: Console, jobs: list[dict[str, Any]]) -> None:
    print_table(
        console,
        ("#", "event", "user", "outcome", "detail"),
        [(job["id"], job["event"], job["user"], job["state"], job["reason"] or "") for job in jobs],
        title="sailbridge → Sailthru",
    )


def _get_json(url: str) -> Any:
    with urlopen(url, timeout=10) as response:
        return json.loads(response.read())
