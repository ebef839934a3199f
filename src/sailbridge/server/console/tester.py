"""The event tester: paste Segment events, see what sailbridge would send Sailthru
for each (`explain`'s planning), and optionally queue them for delivery."""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from sailbridge.explain import explain_entries
from sailbridge.inputs import read_events
from sailbridge.intake.jobs import job_for
from sailbridge.server.console import views
from sailbridge.server.console.forms import form
from sailbridge.server.console.rendering import Console
from sailbridge.store.memory import AccountMemory

MAX_TESTER_EVENTS = 100
TESTER_WRITE_KEY = "sailbridge-console"
"""The write key jobs sent from the event tester are stored under (shown in history)."""


async def tester(console: Console, request: Request) -> Response:
    """The empty tester."""
    return await console.render(
        request,
        "tester.html",
        {
            "text": "",
            "explained": None,
            "sent": None,
            "error": None,
            "tester_account": console.accounts[0],
        },
    )


async def test_events(console: Console, request: Request) -> Response:
    """Explain the pasted events; with ``action=send``, queue them too."""
    fields = await form(request)
    text = fields.get("events", "")
    chosen = fields.get("account")
    account = chosen if chosen in console.accounts else console.accounts[0]
    entries = read_events(text)
    error = None
    if not entries:
        error = "Paste a Segment event (JSON), a JSON array, JSON lines or a batch body."
    elif len(entries) > MAX_TESTER_EVENTS:
        error = f"At most {MAX_TESTER_EVENTS} events at a time ({len(entries)} given)."
    if error is not None:
        return await console.render(
            request,
            "tester.html",
            {
                "text": text,
                "explained": None,
                "sent": None,
                "error": error,
                "tester_account": account,
            },
            400,
        )
    explained = [
        views.call_views(view)
        for view in await explain_entries(
            entries,
            console.settings,
            memory=AccountMemory(console.store, account),
            write_key=TESTER_WRITE_KEY,
            account=account,
        )
    ]
    sent = None
    if fields.get("action") == "send":
        now = time.time()
        events = [entry.event for entry in entries if entry.event is not None]
        result = await console.store.enqueue(
            [
                msgspec.structs.replace(job_for(event, TESTER_WRITE_KEY, now), accounts=(account,))
                for event in events
            ],
            [],
            0.0,
            now,
        )
        sent = list(result.job_ids)
    return await console.render(
        request,
        "tester.html",
        {
            "text": text,
            "explained": explained,
            "sent": sent,
            "error": None,
            "tester_account": account,
        },
    )
