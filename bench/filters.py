"""The cost of destination filters and consent, against the delivery CPU per event.

1. in process — CPU time of the pure gate (`consent_verdict` + `apply_filters`) per
   event with 20 rules of every kind, over a mix of identify, track, page and order
   events (most rules do not match, as in a real set; one drops fields from each).
2. in `serve` — the CPU the serve process spends per delivered event, draining a queued
   backlog to the sandbox, without filters and with the same 20 rules (which let every
   event of the backlog through, so each is evaluated and delivered), side by side.

Reported: (1) µs per event, (1) ÷ (2 without filters) as the share of the delivery CPU
(target < 5 %), and (2 with) ÷ (2 without). The backlog is queued while a first serve
has delivery paused (refused credentials), so the measured serve only delivers.

    python bench/filters.py [--events 3000] [--rounds 2]
    python bench/compare.py --baseline 5afbc4f --rounds 3 filters  # no rules: before/now
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delivery import ADMIN_TOKEN, WRITE_KEY, free_port, wait_healthy

FLOW_EVENTS = [
    "Signed Up",
    "Trial Started",
    "Order Completed",
    "Product Added",
    "Product Removed",
    "User Deleted",
    "Subscribed",
    "Backlog",
]

_FLOW_LIST = "[" + ", ".join(f'"{name}"' for name in FLOW_EVENTS) + "]"
_RULE_BODIES = (
    'action = "drop"\nwhen = { write_key = ["wk_staging", "wk_qa"] }',
    'action = "drop"\nwhen = { field = "traits.email", matches = "@staff\\\\.example$" }',
    'action = "drop"\nwhen = { field = "context.page.url", matches = "^https://preview\\\\." }',
    (
        'action = "drop"\nwhen = { all = [{ type = "page" }, '
        '{ field = "name", one_of = ["Admin", "Debug"] }] }'
    ),
    'action = "drop"\nwhen = { field = "properties.test", equals = true }',
    'action = "drop"\nwhen = { field = "context.library.name", equals = "analytics-debug" }',
    (
        'action = "drop"\nwhen = { any = [{ field = "userId", matches = "^bot-" }, '
        '{ field = "anonymousId", matches = "^bot-" }] }'
    ),
    (
        'action = "drop"\nwhen = { not = { any = [{ field = "userId", exists = true }, '
        '{ field = "anonymousId", exists = true }] } }'
    ),
    'action = "drop"\nwhen = { event = ["Test Event", "Debug Ping"] }',
    'action = "drop"\nwhen = { field = "context.userAgent", matches = "(?i)bot|crawler|spider" }',
    'action = "drop"\nwhen = { field = "properties.internal", exists = true }',
    (
        'action = "drop"\nwhen = { all = [{ type = "identify" }, '
        '{ field = "traits.plan", equals = "internal" }] }'
    ),
    'action = "drop"\nwhen = { field = "context.locale", one_of = ["xx-XX", "zz-ZZ"] }',
    'action = "drop"\nwhen = { field = "properties.products.0.sku", equals = "TEST-SKU" }',
    'action = "sample"\nshare = 0.999999\nwhen = { event = "Product Viewed" }',
    'action = "drop_fields"\nfields = ["context.ip", "traits.phone", "context.traits.phone"]',
    'action = "drop_fields"\nfields = ["properties.card_number"]\nwhen = { type = "page" }',
    (
        'action = "keep_fields"\nfields = ["properties.url"]\n'
        'when = { field = "properties.kind", equals = "minimal" }'
    ),
    'action = "drop"\nwhen = { field = "integrations.Sailthru", equals = false }',
)
RULES_TOML = f"""
consent_categories = ["Email"]

[[filters]]
name = "Lifecycle Optimizer events"
action = "only_send"
when = {{ any = [{{ not = {{ type = "track" }} }}, {{ event = {_FLOW_LIST} }}] }}
""" + "".join(
    f'\n[[filters]]\nname = "rule {n}"\n{body}\n' for n, body in enumerate(_RULE_BODIES, start=2)
)

CONSENT = {"consent": {"categoryPreferences": {"Email": True, "Advertising": False}}}


def sample_events() -> list[dict[str, Any]]:
    context = {
        **CONSENT,
        "ip": "10.0.0.1",
        "locale": "fr-FR",
        "userAgent": "Mozilla/5.0",
        "library": {"name": "analytics.js", "version": "5.2.0"},
        "page": {"url": "https://shop.example/p/1", "referrer": "https://s.example"},
    }
    return [
        {
            "type": "identify",
            "userId": "u-1",
            "context": context,
            "traits": {
                "email": "u1@example.com",
                "plan": "pro",
                "phone": "+33 6",
                "address": {"city": "Lyon"},
            },
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "Signed Up",
            "context": context,
            "properties": {"plan": "pro", "source": "ads"},
        },
        {
            "type": "track",
            "anonymousId": "a-1",
            "event": "Product Viewed",
            "context": context,
            "properties": {"sku": "s-1", "price": 12.5, "name": "Mug"},
        },
        {
            "type": "page",
            "userId": "u-1",
            "name": "Home",
            "context": context,
            "properties": {"url": "https://shop.example/", "title": "Home"},
        },
        {
            "type": "track",
            "userId": "u-1",
            "event": "Order Completed",
            "context": context,
            "properties": {
                "order_id": "o-1",
                "total": 30,
                "products": [
                    {"sku": "s-1", "price": 12.5, "quantity": 2, "url": "https://shop.example/s-1"}
                ],
            },
        },
    ]


def gate_cost(iterations: int) -> float:
    """CPU µs per event of consent + 20 filter rules, in process."""
    from sailbridge.events import event_from_dict
    from sailbridge.mapping.consent import ConsentPolicy, consent_verdict
    from sailbridge.mapping.filters import apply_filters, parse_filters

    filters = parse_filters(_toml_rules())
    policy = ConsentPolicy(("Email",))
    events = [event_from_dict(raw) for raw in sample_events()]
    started = time.process_time()
    for _ in range(iterations):
        for event in events:
            consent_verdict(event, policy)
            apply_filters(filters, event, WRITE_KEY)
    return (time.process_time() - started) / (iterations * len(events)) * 1e6


def _toml_rules() -> list[dict[str, Any]]:
    import tomllib

    rules: list[dict[str, Any]] = tomllib.loads(RULES_TOML)["filters"]
    assert len(rules) == 20, len(rules)
    return rules


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pinned(cpu: int) -> list[str]:
    return (
        ["taskset", "-c", str(cpu)]
        if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1
        else []
    )  # type: ignore[operator]


def delivery_cpu(events: int, config: Path | None, scratch: Path) -> float:
    """CPU µs the serve process spends per delivered event, draining a queued backlog."""
    limit = 100_000
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = subprocess.Popen(
        [
            *_pinned(1),
            sys.executable,
            "-m",
            "sailbridge",
            "sandbox",
            "--port",
            str(sandbox_port),
            "--rate-limit",
            f"POST /event={limit}/s",
            "--rate-limit",
            f"POST /user={limit}/s",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    database = scratch / f"bench-{time.monotonic_ns()}.db"
    try:
        wait_healthy(sandbox_url + "/_sandbox/state", sandbox)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAILBRIDGE_")}
        env.update(
            {
                "SAILBRIDGE_SAILTHRU_API_KEY": "sandbox-key",
                "SAILBRIDGE_SAILTHRU_BASE_URL": sandbox_url,
                "SAILBRIDGE_WRITE_KEYS": WRITE_KEY,
                "SAILBRIDGE_DATABASE": str(database),
                "SAILBRIDGE_RATE_LIMITS": f"POST /event={limit}/s,POST /user={limit}/s",
                "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        args = ["--config", str(config)] if config else []
        # 1. queue the backlog while delivery is paused (refused credentials)
        _queue_while_paused(env, args, events)
        # 2. the measured serve: only delivers
        port = free_port()
        serve = subprocess.Popen(
            [
                *_pinned(0),
                sys.executable,
                "-m",
                "sailbridge",
                "serve",
                "--log-level",
                "warning",
                *args,
            ],
            env={
                **env,
                "SAILBRIDGE_SAILTHRU_API_SECRET": "sandbox-secret",
                "SAILBRIDGE_PORT": str(port),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url + "/healthz", serve)
            started = _cpu_seconds(serve.pid)
            _wait_drained(url, events)
            return (_cpu_seconds(serve.pid) - started) / events * 1e6
        finally:
            serve.terminate()
            serve.wait(30)
    finally:
        sandbox.terminate()
        sandbox.wait(30)


def _queue_while_paused(env: dict[str, str], args: list[str], events: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "sailbridge", "serve", "--log-level", "warning", *args],
        env={
            **env,
            "SAILBRIDGE_SAILTHRU_API_SECRET": "not-the-secret",
            "SAILBRIDGE_PORT": str(port),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(url + "/healthz", serve)
        session = requests.Session()
        session.auth = (WRITE_KEY, "")
        session.post(
            url + "/v1/track",
            json={"userId": "probe", "event": "Backlog", "context": CONSENT},
            timeout=30,
        )
        while not _status(url)["paused"]:
            time.sleep(0.1)
        batch = [
            {
                "type": "track",
                "userId": f"u-{n % 300}",
                "event": FLOW_EVENTS[n % 2],
                "messageId": f"m-{n}",
                "context": {**CONSENT, "ip": "10.0.0.1"},
                "properties": {"n": n, "plan": "pro", "source": "ads"},
            }
            for n in range(events - 1)
        ]
        for start in range(0, len(batch), 100):
            session.post(
                url + "/v1/batch", json={"batch": batch[start : start + 100]}, timeout=30
            ).raise_for_status()
    finally:
        serve.terminate()
        serve.wait(30)


def _status(url: str) -> dict[str, Any]:
    response = requests.get(
        url + "/admin/status", timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    return dict(response.json())


def _wait_drained(url: str, events: int) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = _status(url)
        if status["delivered"] + status["skipped"] + status["dead"] >= events:
            if status["delivered"] != events:
                raise RuntimeError(f"expected every event delivered: {status}")
            return
        time.sleep(0.2)
    raise RuntimeError("backlog not drained in time")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument(
        "--without-only",
        action="store_true",
        help="only serve's CPU per event without filters (what compare.py "
        "runs on the code before filters existed)",
    )
    args = parser.parse_args()
    if args.without_only:
        with tempfile.TemporaryDirectory() as scratch_dir:
            for _ in range(args.rounds):
                without = delivery_cpu(args.events, None, Path(scratch_dir))
                print(f"serve CPU per delivered event: without filters {without:.0f} µs")
        return
    gate = gate_cost(args.iterations)
    print(f"gate (consent + 20 rules), in process: {gate:.2f} µs CPU per event")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        config = scratch / "filters.toml"
        config.write_text(RULES_TOML)
        for round_ in range(1, args.rounds + 1):
            without = delivery_cpu(args.events, None, scratch)
            with_rules = delivery_cpu(args.events, config, scratch)
            print(
                f"round {round_}: serve CPU per delivered event: without filters "
                f"{without:.0f} µs, with 20 rules + consent {with_rules:.0f} µs "
                f"(ratio {with_rules / without:.3f}); gate ÷ delivery CPU = "
                f"{gate / without * 100:.2f} % (target < 5 %)"
            )


if __name__ == "__main__":
    main()
