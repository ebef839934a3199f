"""Durable ingest throughput: sailbridge vs a bare endpoint that stores nothing.

Usage::

    .venv/bin/python bench/ingest.py [--seconds 8] [--batch-concurrency 16]
                                     [--single-concurrency 64]

Four runs, each with a fresh server process (uvicorn, uvloop + httptools, one worker)
and a separate client process (N keep-alive HTTP/1.1 connections on uvloop streams,
bodies prepared in advance). Every event has a unique messageId, so dedupe never
shortcuts the insert, and ids and users are scattered like the UUIDs and user
bases of real traffic (each request's events land all over the dedupe and line
indexes, not on one page):

- ``bare``: Starlette, reads and JSON-decodes the same body, answers
  ``{"success": true}``; stores nothing. This is the ceiling of the HTTP stack.
- ``sailbridge``: the real app over a real `SqliteStore` (WAL, group commit,
  ``synchronous=NORMAL``): 200 only after COMMIT.

each for ``/v1/batch`` (100 events per request) and ``/v1/track`` (one event per
request). After each sailbridge run the store is reopened and its pending count
compared with the events the client saw acknowledged.

Ingest acknowledges once a request's events are in the store's *inbox*; the store
sorts them into the queue (dedupe, per-user lines) behind the acknowledgements. So
each sailbridge run also reports how many events were sorted while it ran, and how
fast the store sorts the rest once ingest stops (timed on reopening the file): the
sustained rate, which says how long a burst above it takes to drain.

With ``--fan-out``, a third run per mode: the same load from a source feeding two
accounts (``default`` and ``brand-b``), so every event becomes two jobs when sorted.
Ingest's acknowledgement stores the event once (its inbox row); the fan-out costs in
sorting. The stored check counts events (jobs ÷ 2).

A last run drives the store alone (no HTTP): ``accept`` and ``enqueue`` from 16
concurrent 100-event calls and 64 concurrent one-event calls. Client and server share
the machine's cores, so absolute numbers understate what a dedicated server does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
WRITE_KEY = "wk_bench"
BATCH_SIZE = 100
USERS = 10_000
MARK = b"@@@@@@@@"  # replaced per request: messageIds unique and scattered
USER_MARK = b"%%"  # replaced per request: each event's user one of USERS, scattered
FAN_OUT = ("default", "brand-b")
"""The accounts the ``fan-out`` run's source feeds: one delivery (job) per account."""


# ---------------------------------------------------------------- request bodies


def sdk_event(n: int) -> dict[str, Any]:
    """An event shaped as segment-analytics-python sends it (~450 bytes of JSON)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": f"user-{USER_MARK.decode()}{n % 100:02d}",
        "anonymousId": None,
        "messageId": f"{n:03d}-{MARK.decode()}",
        "timestamp": "2024-05-01T12:30:15.250+00:00",
        "properties": {
            "product_id": f"sku-{n % 97}",
            "name": "Blue Shirt",
            "price": 19.99,
            "category": "apparel",
            "url": "https://shop.example/p/blue-shirt",
        },
        "context": {
            "library": {"name": "analytics-python", "version": "2.4.0"},
            "ip": "203.0.113.7",
        },
        "integrations": {},
    }


def stamp(template: bytes, counter: int) -> bytes:
    """The template with request ``counter``'s marks: a unique, scattered id (an odd
    multiplier permutes 32-bit numbers) and a scattered group of users."""
    scattered = counter * 2_654_435_761 % 2**32
    return template.replace(MARK, b"%08x" % scattered).replace(
        USER_MARK, b"%02d" % (scattered % (USERS // 100))
    )


def templates() -> dict[str, bytes]:
    batch = {
        "batch": [sdk_event(i) for i in range(BATCH_SIZE)],
        "sentAt": "2024-05-01T12:30:16.000+00:00",
        "writeKey": WRITE_KEY,
    }
    single = {**sdk_event(0), "writeKey": WRITE_KEY}
    del single["type"]
    return {"batch": json.dumps(batch).encode(), "single": json.dumps(single).encode()}


# ---------------------------------------------------------------- servers


class _NothingStored:
    """A store that keeps nothing and answers at once: sailbridge's ingest without its
    storage, to tell the event loop's own cost from the store's (``nothing-stored``)."""

    async def accept(self, jobs: Any, rejections: Any, dedupe_window: float, now: float) -> int:
        return len(jobs)

    async def check_writable(self, now: float) -> None:  # /healthz
        return None

    async def close(self) -> None:
        return None


def gc_report_path(db: str) -> Path:
    """Where the server for ``db`` writes its garbage-collection totals."""
    if "://" in db:  # PostgreSQL: beside the temporary files
        return Path(tempfile.gettempdir()) / f"{re.sub(r'[^A-Za-z0-9]+', '_', db)}.gc"
    return Path(db + ".gc")


def _report_gc_on_signal(path: Path) -> None:
    """Count the garbage collector's passes and their time by generation; on SIGUSR1,
    write the totals so far to ``path`` (with a sequence number the reader waits for)."""
    import gc
    import signal

    totals: dict[str, Any] = {"seq": 0, "passes": [0, 0, 0], "seconds": [0.0, 0.0, 0.0]}
    began = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            generation = info["generation"]
            totals["passes"][generation] += 1
            totals["seconds"][generation] += time.perf_counter() - began[0]

    def report(signum: int, frame: Any) -> None:
        totals["seq"] += 1
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(totals))
        partial.replace(path)  # whole, for the reader

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, report)


def serve(kind: str, port: int, db: str) -> None:
    import uvicorn
    import uvloop

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        store = None
        http: Any = "httptools"
        if kind == "bare":
            app = bare_app()
        elif kind == "raw":
            app = raw_app()
        else:
            from sailbridge.metrics import Metrics
            from sailbridge.server.app import create_app
            from sailbridge.server.connections import ConnectionLimits, guarded_protocol
            from sailbridge.server.ingest import IngestConfig
            from sailbridge.store.factory import open_store

            # a file: SQLite; postgresql://...: PostgreSQL; nothing-stored: none at all
            store = _NothingStored() if kind == "nothing-stored" else await open_store(db)
            routing = {WRITE_KEY: FAN_OUT} if kind == "fan-out" else {}
            config = IngestConfig(frozenset({WRITE_KEY}), write_key_accounts=routing)
            app = create_app(store, config, Metrics())
            http = guarded_protocol(ConnectionLimits())  # what `serve` runs
        if "://" not in db:
            _name_threads(db + ".threads")
        _report_gc_on_signal(gc_report_path(db))
        server_config = uvicorn.Config(
            app,
            http=http,
            loop="none",
            log_level="warning",
            access_log=False,
            lifespan="off",
            backlog=2048,
        )
        try:
            from sailbridge.service import freeze_startup_heap
        except ImportError:  # a tree from before issue 18 (`compare.py`): its serve did not
            pass
        else:
            freeze_startup_heap()  # what `serve` does; the bare servers too, to stay fair
        try:
            await uvicorn.Server(server_config).serve(sockets=[sock])
        finally:
            if store is not None:
                await store.close()

    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        uvloop.run(main())
        return
    import cProfile  # the event-loop thread only; the store's writer thread is not seen
    import signal

    def stop(signum: int, frame: Any) -> None:  # uvicorn re-raises SIGTERM after shutdown
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvloop.run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}-{kind}.prof")


def _name_threads(path: str) -> None:
    """Write {native thread id: thread name} to ``path``: Python 3.11 does not name its
    OS threads, and `ingest_single` splits the server's CPU time by thread with it."""
    import threading

    names = {str(thread.native_id): thread.name for thread in threading.enumerate()}
    Path(path).write_text(json.dumps(names))


def bare_app() -> Any:
    """The same HTTP stack and JSON decode, no validation and no store."""
    import msgspec
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    decode = msgspec.json.decode

    async def ingest(request: Request) -> Response:
        decode(await request.body())
        return Response(b'{"success":true}', media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route(path, ingest, methods=["POST"]) for path in ("/v1/t", "/v1/batch", "/v1/track")
        ]
        + [Route("/healthz", healthz)]
    )


def raw_app() -> Any:
    """uvicorn alone: a plain ASGI callable that reads and decodes the body, no framework."""
    import msgspec

    decode = msgspec.json.decode
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
    }
    body = {"type": "http.response.body", "body": b'{"success":true}'}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            decode(b"".join(chunks))
        await send(start)
        await send(body)

    return app


# ---------------------------------------------------------------- load client


def load(url: str, mode: str, concurrency: int, seconds: float, warmup: float) -> None:
    """Drive ``concurrency`` keep-alive HTTP/1.1 connections as fast as answers come.

    A hand-rolled client on uvloop streams rather than aiohttp: it costs a few
    microseconds per request, so on a machine where client and server share cores
    the server gets nearly all of the CPU the client does not strictly need.
    """
    import uvloop

    template = templates()[mode]
    path = "/v1/batch" if mode == "batch" else "/v1/track"
    per_request = BATCH_SIZE if mode == "batch" else 1
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(template)}\r\n\r\n"
    ).encode()

    async def main() -> dict[str, Any]:
        counter = 0
        ok = ok_warm = errors = 0
        statuses: dict[int, int] = {}
        latencies: list[float] = []
        measure_from = time.perf_counter() + warmup
        stop_at = measure_from + seconds

        async def connection() -> None:
            nonlocal counter, ok, ok_warm, errors
            reader, writer = await asyncio.open_connection(host, int(port))
            while (now := time.perf_counter()) < stop_at:
                counter += 1
                writer.write(head + stamp(template, counter))
                status_line, _, headers = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                status = int(status_line.split(b" ", 2)[1])
                if now < measure_from:
                    ok_warm += status == 200
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    ok += 1
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1
            writer.close()

        await asyncio.gather(*(connection() for _ in range(concurrency)))
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(int(len(latencies) * p), len(latencies) - 1)] if latencies else 0

        return {
            "requests_per_s": ok / seconds,
            "events_per_s": ok * per_request / seconds,
            "errors": errors,
            "statuses": statuses,
            "p50_ms": pct(0.5) * 1000,
            "p99_ms": pct(0.99) * 1000,
            "acked_events_total": (ok + ok_warm) * per_request,
        }

    print(json.dumps(uvloop.run(main())))


# ---------------------------------------------------------------- the store alone


def store_only(db: str, seconds: float) -> None:
    """The store's own ceiling, no HTTP: the jobs ingest would build, taken by 16
    concurrent 100-event calls, then by 64 concurrent one-event requests through the
    same coalescer ingest uses; with `accept` (ingest's call) and with `enqueue`."""
    import msgspec
    import uvloop

    from sailbridge.server import coalesce
    from sailbridge.store.base import NewJob
    from sailbridge.store.sqlite import SqliteStore

    event = msgspec.Raw(msgspec.json.encode(sdk_event(1)))

    def job(n: int) -> NewJob:
        scattered = n * 2_654_435_761 % 2**32
        user = f"user-{scattered % USERS}"
        return NewJob(WRITE_KEY, f"{scattered:08x}", event, "track", user, (user,), time.time())

    async def main() -> dict[str, float]:
        counter = 0

        async def drive(concurrency: int, call: Any, per_call: int) -> float:
            nonlocal counter
            done = 0
            stop_at = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal counter, done
                while time.perf_counter() < stop_at:
                    jobs = [job(counter + i) for i in range(per_call)]
                    counter += per_call
                    await call(jobs)
                    done += per_call

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done / seconds

        results = {}
        for name in ("accept", "enqueue"):
            if not hasattr(SqliteStore, name):  # a sailbridge from before the inbox
                continue
            if name == "enqueue" and not hasattr(coalesce, "EnqueueCoalescer"):
                continue  # removed (issue 15): ingest only ever used accept
            store = await SqliteStore.open(f"{db}-{name}")
            try:
                coalescer: Any = (
                    coalesce.AcceptCoalescer if name == "accept" else coalesce.EnqueueCoalescer
                )(store, 86400.0)
                store_call, coalesced_call = getattr(store, name), getattr(coalescer, name)

                async def batch(jobs: list[NewJob], call: Any = store_call) -> None:
                    await call(jobs, [], 86400.0, time.time())

                async def single(jobs: list[NewJob], call: Any = coalesced_call) -> None:
                    await call(jobs, [], time.time())

                results[f"{name}_batch_events_per_s"] = await drive(16, batch, BATCH_SIZE)
                results[f"{name}_single_events_per_s"] = await drive(64, single, 1)
            finally:
                await store.close()
        return results

    print(json.dumps(uvloop.run(main())))


# ---------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 15.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not become ready")


def counters_in(db: str) -> dict[str, int]:
    """The store's counters as the server left them (read without opening the store,
    which would start sorting)."""
    import sqlite3

    connection = sqlite3.connect(db)
    try:
        return dict(connection.execute("SELECT name, n FROM job_counts").fetchall())
    finally:
        connection.close()


def reopen_and_sort(db: str, limit: float = 60.0) -> dict[str, float]:
    """Reopen the file, check that every acknowledged event is there, and time the
    store sorting what was left in its inbox (nothing else running)."""
    from sailbridge.store.sqlite import SqliteStore

    async def run() -> dict[str, float]:
        started = time.perf_counter()
        store = await SqliteStore.open(db)
        try:
            counts = await store.counts()
            left = getattr(counts, "inbox", 0)  # (0 from a sailbridge without an inbox)
            while getattr(counts, "inbox", 0) and time.perf_counter() - started < limit:
                await asyncio.sleep(0.05)
                counts = await store.counts()
            elapsed = time.perf_counter() - started
            return {
                "stored": counts.pending,
                "left": left,
                "sorted": left - getattr(counts, "inbox", 0),
                "seconds": elapsed,
            }
        finally:
            await store.close()

    return asyncio.run(run())


def run(
    kind: str, mode: str, concurrency: int, seconds: float, warmup: float, workdir: str
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = os.path.join(workdir, f"{kind}-{mode}.db")
    server = subprocess.Popen([sys.executable, str(HERE), "serve", kind, str(port), db])
    try:
        wait_ready(url)
        client = subprocess.run(
            [
                sys.executable,
                str(HERE),
                "load",
                url,
                mode,
                str(concurrency),
                str(seconds),
                str(warmup),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, Any] = json.loads(client.stdout)
    finally:
        server.terminate()
        server.wait(15)
    if kind != "bare":
        counters = counters_in(db)  # "pending": the account default's, one job per event
        result["sorted_during_run"] = counters["pending"] + counters.get("deduplicated", 0)
        result["drain"] = reopen_and_sort(db)
        deliveries = len(FAN_OUT) if kind == "fan-out" else 1
        result["stored"] = result["drain"]["stored"] // deliveries  # events, not jobs
    return result


def rate(result: dict[str, Any]) -> float:
    """Events a second the store sorted into the queue once ingest stopped."""
    drain = result["drain"]
    return float(drain["sorted"]) / max(float(drain["seconds"]), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--batch-concurrency", type=int, default=16)
    parser.add_argument("--single-concurrency", type=int, default=64)
    parser.add_argument(
        "--fan-out",
        action="store_true",
        help="also a run whose source feeds two accounts (a job per account per event)",
    )
    args = parser.parse_args()
    kinds = ("bare", "sailbridge", "fan-out") if args.fan_out else ("bare", "sailbridge")
    print(
        f"{os.cpu_count()} CPUs shared by client and server; {args.seconds:.0f}s per run "
        f"after {args.warmup:.0f}s warm-up; uvicorn+uvloop+httptools, 1 worker"
    )
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sailbridge-bench-") as workdir:
        for mode, concurrency in (
            ("batch", args.batch_concurrency),
            ("single", args.single_concurrency),
        ):
            for kind in kinds:
                result = run(kind, mode, concurrency, args.seconds, args.warmup, workdir)
                results[(kind, mode)] = result
                stored = (
                    f"  stored {result['stored']:,} of {result['acked_events_total']:,} acked"
                    if "stored" in result
                    else ""
                )
                print(
                    f"{kind:>10} {mode:>6} x{concurrency:<3} "
                    f"{result['events_per_s']:>10,.0f} events/s "
                    f"{result['requests_per_s']:>8,.0f} req/s  "
                    f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                    f"errors {result['errors']}{stored}",
                    flush=True,
                )
                if "drain" in result:
                    drain = result["drain"]
                    run_seconds = args.seconds + args.warmup
                    print(
                        f"{'':>10} sorted into the queue while ingesting: "
                        f"{result['sorted_during_run']:,} "
                        f"(~{result['sorted_during_run'] / run_seconds:,.0f}/s); "
                        f"the other {drain['left']:,.0f} sorted after: "
                        f"{drain['sorted']:,.0f} in {drain['seconds']:.1f} s = "
                        f"{drain['sorted'] / max(drain['seconds'], 1e-9):,.0f} events/s",
                        flush=True,
                    )
        store = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    str(HERE),
                    "store",
                    os.path.join(workdir, "store-only.db"),
                    str(args.seconds),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for name in ("accept", "enqueue"):
            if f"{name}_batch_events_per_s" not in store:
                continue
            print(
                f"store alone, {name:<7} (no HTTP): "
                f"{store[f'{name}_batch_events_per_s']:>9,.0f} events/s in 100-event calls, "
                f"{store[f'{name}_single_events_per_s']:>7,.0f} one-event requests/s "
                f"(coalesced)"
            )
    if args.fan_out:
        for mode in ("batch", "single"):
            one, two = results[("sailbridge", mode)], results[("fan-out", mode)]
            print(
                f"{mode}: one source feeding two accounts / one account = "
                f"{two['events_per_s'] / one['events_per_s']:.2f} events/s acknowledged, "
                f"p99 {two['p99_ms'] / max(one['p99_ms'], 1e-9):.2f}x; sorting after: "
                f"{rate(two) / max(rate(one), 1e-9):.2f} (events/s)"
            )
    for mode, target in (("batch", 50_000), ("single", 8_000)):
        real = results[("sailbridge", mode)]["events_per_s"]
        bare = results[("bare", mode)]["events_per_s"]
        print(
            f"{mode}: sailbridge/bare = {real / bare:.2f}; target {target:,} events/s: "
            f"{'met' if real >= target else 'NOT met'} ({real:,.0f})"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "store":
        store_only(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
    else:
        main()
