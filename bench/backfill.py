"""Backfill benchmark: generated history through ``backfill --dry-run``, through the
sandbox's Job API, and — extrapolated — through ``send`` at Sailthru's default limits.

Input: N identifies (with email and nested traits) and N/5 Order Completed, as JSON
lines in a temporary folder; half the orders carry their email, half rely on the
identify earlier in the file. Reported:

1. the streaming pass in this process (read, map with live delivery's mapping, write
   the job files): events per CPU-second of this process, i.e. on one core;
2. ``sailbridge backfill --dry-run`` as a real process: wall time and peak RSS;
3. ``sailbridge backfill`` against the sandbox (``--job-delay 0``) as real processes:
   wall time until every job completed, and the backfill process's peak RSS;
4. ``sailbridge send`` on a sample against the sandbox with its limits lifted (what
   sailbridge itself costs per event), and the same events' time at Sailthru's default
   limits (SPEC §1: POST /user 300/s, POST /purchase 40/s, in parallel per route), so
   the ratio send ÷ backfill.

    python bench/backfill.py [--identifies 1000000] [--sample 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from sailbridge.backfill.build import build_job_files
from sailbridge.backfill.emails import EmailBook
from sailbridge.backfill.files import JobFileWriter
from sailbridge.backfill.reading import open_source, read_entries
from sailbridge.mapping.options import MappingOptions
from sailbridge.settings import DEFAULT_RATE_LIMITS

SANDBOX_KEY, SANDBOX_SECRET = "sandbox-key", "sandbox-secret"


def generate(path: Path, identifies: int) -> tuple[int, int]:
    """Blocks of five identifies and one order of a user identified in the block."""
    encode = msgspec.json.Encoder().encode
    orders = 0
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(identifies):
            out.write(
                encode(
                    {
                        "type": "identify",
                        "userId": f"user-{i}",
                        "messageId": f"i-{i}",
                        "timestamp": "2023-05-01T12:00:00.000Z",
                        "traits": {
                            "email": f"user{i}@example.com",
                            "name": f"User {i}",
                            "plan": "pro" if i % 3 else "free",
                            "address": {"city": "London", "postcode": "E1 6AN"},
                            "logins": i % 97,
                        },
                    }
                )
                + b"\n"
            )
            if i % 5 == 4:
                user = i - (i % 7) % 5
                order: dict[str, Any] = {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"user-{user}",
                    "messageId": f"o-{i}",
                    "timestamp": "2023-06-01T12:00:00.000Z",
                    "properties": {
                        "order_id": f"order-{i}",
                        "total": 25.98,
                        "shipping": 4.5,
                        "products": [
                            {
                                "product_id": "mug",
                                "name": "Mug",
                                "price": 12.99,
                                "quantity": 2,
                                "url": "https://shop.example/mug",
                            }
                        ],
                    },
                }
                if i % 2:
                    order["context"] = {"traits": {"email": f"user{user}@example.com"}}
                out.write(encode(order) + b"\n")
                orders += 1
    return identifies, orders


def in_process_pass(path: Path, folder: Path) -> dict[str, Any]:
    folder.mkdir()
    book = EmailBook(folder / "emails.sqlite")
    cpu, wall = time.process_time(), time.perf_counter()
    with open_source(str(path)) as source:
        result = build_job_files(
            read_entries(source),
            MappingOptions(default_list_name="Main"),
            "email",
            JobFileWriter(folder, 90_000_000),
            book,
        )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    book.close()
    return {
        "events": result.read,
        "mapped": result.mapped,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "events_per_cpu_s": round(result.read / cpu),
        "files": [(f.name, f.lines, f.size) for f in result.files],
    }


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Wall seconds, exit code and peak RSS (KiB) of one child process, and its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, process.returncode, usage.ru_maxrss, out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_sandbox(limits: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "sailbridge", "sandbox", "--port", str(port), "--job-delay", "0"]
    for limit in limits:
        args += ["--rate-limit", limit]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/_sandbox/config", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the sandbox did not start")


def environment(url: str, database: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAILBRIDGE_")},
        "SAILBRIDGE_SAILTHRU_API_KEY": SANDBOX_KEY,
        "SAILBRIDGE_SAILTHRU_API_SECRET": SANDBOX_SECRET,
        "SAILBRIDGE_SAILTHRU_BASE_URL": url,
        "SAILBRIDGE_DATABASE": str(database),
        "SAILBRIDGE_DEFAULT_LIST_NAME": "Main",
        "SAILBRIDGE_BACKFILL_POLL_INTERVAL": "0.5",
        "SAILBRIDGE_RATE_LIMITS": "POST /user=100000/s,POST /purchase=100000/s,GET /user=100000/s",
    }


def head(path: Path, out: Path, lines: int) -> None:
    with path.open("rb") as source, out.open("wb") as target:
        for _ in range(lines):
            line = source.readline()
            if not line:
                break
            target.write(line)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--identifies", type=int, default=1_000_000)
    parser.add_argument(
        "--sample", type=int, default=3_000, help="identifies in the sample sent through `send`"
    )
    options = parser.parse_args()
    cli = [sys.executable, "-m", "sailbridge"]
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        root = Path(tmp)
        history = root / "history.jsonl"
        identifies, orders = generate(history, options.identifies)
        events = identifies + orders
        size_mb = history.stat().st_size / 1e6
        print(
            f"input: {identifies} identifies + {orders} orders = {events} events, "
            f"{size_mb:.0f} MB of JSON lines"
        )

        inproc = in_process_pass(history, root / "inproc")
        print(
            f"1. streaming pass in-process: {inproc['events_per_cpu_s']} events per "
            f"CPU-second (one core; {inproc['cpu_s']} s CPU, {inproc['wall_s']} s wall); "
            f"target >= 50000: {inproc['events_per_cpu_s'] / 50_000:.2f}x; files "
            f"{inproc['files']}"
        )

        dry_wall, code, dry_rss, _ = run_measured(
            [*cli, "backfill", "--dry-run", "--json", "--out", str(root / "dry"), str(history)],
            environment("http://127.0.0.1:9", root / "dry.db"),
        )
        print(
            f"2. backfill --dry-run: {dry_wall:.1f} s wall, {events / dry_wall:.0f} events/s, "
            f"peak RSS {dry_rss / 1024:.0f} MiB (target < 200: "
            f"{dry_rss / 1024 / 200:.2f}x), exit {code}"
        )

        sandbox, url = start_sandbox(["POST /job=40/s", "GET /job=40/s"])
        try:
            wall, code, rss, out = run_measured(
                [*cli, "backfill", "--json", str(history)], environment(url, root / "real.db")
            )
            jobs = [(j["job"], j["lines"], j["status"]) for j in json.loads(out)["jobs"]]
            print(
                f"3. backfill through the sandbox: {wall:.1f} s wall until every job "
                f"completed (upload + the sandbox applying {events} lines), peak RSS "
                f"{rss / 1024:.0f} MiB, exit {code}; jobs {jobs}"
            )
        finally:
            sandbox.terminate()
            sandbox.wait()

        sample = root / "sample.jsonl"
        head(history, sample, options.sample * 6 // 5)
        sample_orders = sum(b'"Order Completed"' in line for line in sample.open("rb"))
        sample_events = options.sample * 6 // 5
        sandbox, url = start_sandbox(
            ["POST /user=100000/s", "POST /purchase=100000/s", "GET /user=100000/s"]
        )
        one = root / "one.jsonl"
        head(history, one, 1)
        try:
            startup, _, _, _ = run_measured(
                [*cli, "send", "--json", str(one)], environment(url, root / "one.db")
            )
            send_wall, code, _, _ = run_measured(
                [*cli, "send", "--json", str(sample)], environment(url, root / "send.db")
            )
            send_wall = max(0.001, send_wall - startup)  # the process's start, once
        finally:
            sandbox.terminate()
            sandbox.wait()
        own_rate = sample_events / send_wall
        user_limit = DEFAULT_RATE_LIMITS["POST /user"]
        purchase_limit = DEFAULT_RATE_LIMITS["POST /purchase"]
        limited = max(identifies / user_limit, orders / purchase_limit)
        unlimited = events / own_rate
        send_estimate = max(limited, unlimited)
        print(
            f"4. send sample: {sample_events} events ({sample_orders} orders) in "
            f"{send_wall:.1f} s (less {startup:.1f} s of process start) with limits lifted = "
            f"{own_rate:.0f} events/s of "
            f"sailbridge's own (exit {code}); at Sailthru's default limits "
            f"({user_limit:.0f}/s POST /user, {purchase_limit:.0f}/s POST /purchase) the "
            f"{events} events take max({identifies / user_limit:.0f} s, "
            f"{orders / purchase_limit:.0f} s, own {unlimited:.0f} s) = "
            f"{send_estimate:.0f} s ({send_estimate / 3600:.1f} h)"
        )
        print(
            f"   ratio send / backfill through the sandbox: {send_estimate / wall:.0f}x "
            f"({send_estimate / 60:.0f} min against {wall / 60:.1f} min)"
        )
        print(
            f"   (measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on a 2-core "
            "machine shared with other work; compare ratios, not absolutes)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
