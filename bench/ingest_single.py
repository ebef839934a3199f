"""Single-event and batch ingest against a bare Starlette endpoint, driven by ``wrk``.

Usage::

    .venv/bin/python bench/ingest_single.py [--seconds 8] [--connections 64]
                                            [--batch-connections 16] [--repeat 1]

Browsers (analytics.js) send one event per request, so the single-event path is
measured the way the issue asks: the load generator is ``wrk`` (C, not Python: the
previous Python client was itself the bottleneck), with a Lua script that gives every
event a unique messageId and scatters users; the server process is pinned to CPU 0
and ``wrk`` to CPU 1 with ``taskset``. In the same run, on the same cores:

- ``bare``: Starlette on uvicorn (httptools, uvloop), reads the body and JSON-decodes
  it, answers ``{"success":true}``; stores nothing — the ceiling of the HTTP stack;
- ``sailbridge``: the real app (its guarded uvicorn protocol included) over a real
  `SqliteStore`; 200 only after the events are committed.

Reported: requests/s for ``/v1/t`` (analytics.js's route, text/plain, writeKey in the
body) and ``/v1/track``, their ratio to bare; events/s for ``/v1/batch`` with 100
events a request and its ratio to bare. Non-2xx answers are counted (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
SERVER_CPU = "0"
CLIENT_CPU = "1"

# The Lua script: each request a fresh body with unique messageIds (per wrk thread
# prefix + counter) and users scattered over 10,000.
LUA = r"""
local counter = 0
local prefix = tostring(math.random(1, 2147483647))
local mode = os.getenv("BENCH_MODE")
local key = os.getenv("BENCH_WRITE_KEY")
local size = tonumber(os.getenv("BENCH_BATCH_SIZE"))

local function event(n)
  counter = counter + 1
  return string.format(
    '{"type":"track","event":"Product Viewed","userId":"user-%d",' ..
    '"messageId":"ajs-%s-%d","timestamp":"2024-05-01T12:30:15.250Z",' ..
    '"sentAt":"2024-05-01T12:30:15.300Z","properties":{"product_id":"sku-%d",' ..
    '"name":"Blue Shirt","price":19.99,"category":"apparel"},' ..
    '"context":{"library":{"name":"analytics.js","version":"next-1.70.0"},' ..
    '"page":{"url":"https://shop.example/p/blue-shirt","path":"/p/blue-shirt",' ..
    '"referrer":"","title":"Blue Shirt"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)",' ..
    '"locale":"en-US"},"integrations":{}',
    (counter * 7919) % 10000, prefix, counter, n % 97)
end

request = function()
  if mode == "batch" then
    local parts = {}
    for i = 1, size do parts[i] = event(i) .. "}" end
    local body = '{"batch":[' .. table.concat(parts, ",") ..
      '],"sentAt":"2024-05-01T12:30:16.000Z","writeKey":"' .. key .. '"}'
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
  local body = event(1) .. ',"writeKey":"' .. key .. '"}'
  return wrk.format("POST", nil, {["Content-Type"] = "text/plain"}, body)
end
"""


def serve(kind: str, port: int, db: str) -> None:
    """Run one server (``bare`` or ``sailbridge``) on ``port`` until SIGTERM."""
    import asyncio

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
        else:
            from sailbridge.server.app import create_app
            from sailbridge.server.connections import ConnectionLimits, guarded_protocol
            from sailbridge.server.ingest import IngestConfig
            from sailbridge.server.metrics import Metrics
            from sailbridge.store.sqlite import SqliteStore

            store = await SqliteStore.open(db)
            app = create_app(store, IngestConfig(frozenset({WRITE_KEY})), Metrics())
            http = guarded_protocol(ConnectionLimits())
        config = uvicorn.Config(app, http=http, loop="none", log_level="warning",
                                access_log=False, lifespan="off", backlog=2048)
        try:
            await uvicorn.Server(config).serve(sockets=[sock])
        finally:
            if store is not None:
                await store.close()

    del asyncio
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

    return Starlette(routes=[Route(path, ingest, methods=["POST"])
                             for path in ("/v1/t", "/v1/track", "/v1/batch")]
                     + [Route("/healthz", healthz)])


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


def wrk(url: str, mode: str, connections: int, seconds: float, script: str) -> dict[str, float]:
    """One wrk run pinned to the client CPU; requests/s, p50/p99 ms, non-2xx count."""
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_WRITE_KEY": WRITE_KEY,
           "BENCH_BATCH_SIZE": str(BATCH_SIZE)}
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s",
         "--latency", "-s", script, url], env=env, capture_output=True, text=True,
        check=True, timeout=seconds + 60).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rate, "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "non_2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def _latency(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run(kind: str, path: str, mode: str, connections: int, seconds: float,
        script: str) -> dict[str, float]:
    """A fresh server of ``kind`` pinned to the server CPU, a warm-up, then the run."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sailbridge-bench-")
    db = str(Path(workdir) / "bench.db")
    server = subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, str(HERE),
                               "serve", kind, str(port), db])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        wrk(url + path, mode, connections, 2, script)  # warm-up
        return wrk(url + path, mode, connections, seconds, script)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA)
        script = handle.name
    plan = [("bare", "/v1/t", "single", args.connections),
            ("sailbridge", "/v1/t", "single", args.connections),
            ("sailbridge", "/v1/track", "single", args.connections),
            ("bare", "/v1/batch", "batch", args.batch_connections),
            ("sailbridge", "/v1/batch", "batch", args.batch_connections)]
    results: list[dict[str, Any]] = []
    for round_ in range(args.repeat):
        figures: dict[str, dict[str, float]] = {}
        for kind, path, mode, connections in plan:
            figures[f"{kind} {path}"] = run(kind, path, mode, connections, args.seconds,
                                            script)
            print(f"round {round_ + 1} {kind:10s} {path:10s} {figures[f'{kind} {path}']}",
                  file=sys.stderr, flush=True)
        bare_single = figures["bare /v1/t"]["rps"]
        bare_batch = figures["bare /v1/batch"]["rps"]
        results.append({
            "figures": figures,
            "v1_t_ratio": figures["sailbridge /v1/t"]["rps"] / bare_single,
            "v1_track_ratio": figures["sailbridge /v1/track"]["rps"] / bare_single,
            "batch_events_per_second": figures["sailbridge /v1/batch"]["rps"] * BATCH_SIZE,
            "batch_ratio": figures["sailbridge /v1/batch"]["rps"] / bare_batch,
        })
    os.unlink(script)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
