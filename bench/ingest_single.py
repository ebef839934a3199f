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

Both servers are `bench/ingest.py`'s (``BENCH_PROFILE=prefix`` profiles them there).

Reported: requests/s for ``/v1/t`` (analytics.js's route, text/plain, writeKey in the
body) and ``/v1/track``, their ratio to bare; events/s for ``/v1/batch`` with 100
events a request and its ratio to bare. Non-2xx answers are counted (must be 0).

On a shared machine the server's core is shared with other work too, so each run also
reports the server's CPU time per request (``/proc``, every thread: the store's writer
included), and ``cpu_ratio_*`` = bare's CPU per request over sailbridge's: the ratio
the two would reach each on a core of its own, much less moved by other load;
``cpu_us <thread>`` splits it by thread (``MainThread`` the event loop,
``sailbridge-sqlite-writer`` the store's writer).

What a request acknowledges is in the store's inbox; sorting it into the queue can go
on after the run (a burst's backlog: batches arrive faster than they are sorted). So
the SQLite runs start once the warm-up's events are sorted, and after the run wait
until the run's are too: ``cpu_us sorting after the run`` is that CPU per request and
``server_cpu_us_per_request_sorted`` / ``*_sorted`` ratios include it — what ingest
costs when it is sustained, not only absorbed. ``gc_us_per_request`` is the wall-clock time
the server spent in garbage-collection passes (``gc_passes genN`` how many): on the one
core the server has, it includes whatever its other threads ran meanwhile, so it
shows stalls of the event loop, not CPU.

``BENCH_RAW=1`` adds two servers that show where the event loop's time goes: ``raw``,
uvicorn with a plain ASGI app (no framework), and ``nothing-stored``, sailbridge's
app over a store that keeps nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from ingest import counters_in, free_port, gc_report_path, serve, wait_ready  # noqa: E402 - beside this file, on the path now

WRITE_KEY = "wk_bench"
BATCH_SIZE = 100
SERVER_CPU = "0"
CLIENT_CPU = "1"
_DATABASES = count()

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


def wrk(url: str, mode: str, connections: int, seconds: float, script: str) -> dict[str, float]:
    """One wrk run pinned to the client CPU; requests/s, p50/p99 ms, non-2xx count."""
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_WRITE_KEY": WRITE_KEY,
        "BENCH_BATCH_SIZE": str(BATCH_SIZE),
    }
    out = subprocess.run(
        [
            "taskset",
            "-c",
            CLIENT_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            script,
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rate,
        "requests": total,
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _latency(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) of process ``pid`` and its children: the
    server is ``taskset``'s child, so its own pid is found below it."""
    return sum(_thread_cpu(pid).values())


def _thread_cpu(pid: int, names: dict[str, str] | None = None) -> dict[str, float]:
    """CPU seconds by thread of ``pid`` and its children, named from ``names`` (native
    id: name, as the server wrote them; others are ``other``), to split a request's cost
    between the event loop and the store's threads."""
    by_name: dict[str, float] = {}
    names = names or {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        name = names.get(task.name, "other")
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        by_name[name] = by_name.get(name, 0.0) + seconds
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for name, seconds in _thread_cpu(int(child), names).items():
            by_name[name] = by_name.get(name, 0.0) + seconds
    return by_name


def _per_request(
    before: dict[str, float], after: dict[str, float], requests: float
) -> dict[str, float]:
    return {
        name: round((spent - before.get(name, 0.0)) / requests * 1e6, 1)
        for name, spent in after.items()
    }


def _gc_totals(pid: int, db: str) -> dict[str, Any]:
    """The server's garbage-collection totals so far (it writes them on SIGUSR1)."""
    path = gc_report_path(db)
    seq = json.loads(path.read_text())["seq"] if path.exists() else 0
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            totals: dict[str, Any] = json.loads(path.read_text())
            if totals["seq"] > seq:
                return totals
        time.sleep(0.01)
    raise RuntimeError("the server did not report its garbage collection")


def _wait_sorted(db: str, limit: float = 600.0) -> None:
    """Until the SQLite store at ``db`` has sorted its whole inbox into the queue."""
    deadline = time.monotonic() + limit
    while counters_in(db).get("inbox", 0) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the inbox of {db} was not sorted within {limit:.0f} s")
        time.sleep(0.05)


def _fresh_postgres(server_url: str) -> str:
    """A new empty database on the PostgreSQL server at ``server_url``; its URL."""
    import psycopg

    name = f"sailbridge_bench_{os.getpid()}_{next(_DATABASES)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def _drop_postgres(url: str, server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')


def run(
    kind: str,
    path: str,
    mode: str,
    connections: int,
    seconds: float,
    script: str,
    postgres_url: str = "",
) -> dict[str, float]:
    """A fresh server of ``kind`` pinned to the server CPU, a warm-up, then the run
    (``postgres``: sailbridge on a fresh database of the server at ``postgres_url``; its
    CPU per request is sailbridge's only — PostgreSQL's own processes are not counted)."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sailbridge-bench-")
    db = str(Path(workdir) / "bench.db")
    serve_kind = kind
    if kind == "postgres":  # a fresh database on the server `--postgres` names
        db, serve_kind = _fresh_postgres(postgres_url), "sailbridge"
    server = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, sys.executable, str(HERE), "serve", serve_kind, str(port), db]
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        wrk(url + path, mode, connections, 2, script)  # warm-up
        sorts = serve_kind == "sailbridge" and "://" not in db
        if sorts:
            _wait_sorted(db)  # the warm-up's events are not the run's to sort
        thread_names = Path(db + ".threads")
        names = json.loads(thread_names.read_text()) if thread_names.exists() else {}
        gc_before = _gc_totals(server.pid, db)
        threads_before = _thread_cpu(server.pid, names)
        figures = wrk(url + path, mode, connections, seconds, script)
        threads_after = _thread_cpu(server.pid, names)
        gc_after = _gc_totals(server.pid, db)
        per_request = _per_request(threads_before, threads_after, figures["requests"])
        figures["server_cpu_us_per_request"] = round(sum(per_request.values()), 1)
        figures |= {f"cpu_us {name}": value for name, value in per_request.items() if value}
        for generation in range(3):
            figures[f"gc_passes gen{generation}"] = (
                gc_after["passes"][generation] - gc_before["passes"][generation]
            )
        figures["gc_us_per_request"] = round(
            (sum(gc_after["seconds"]) - sum(gc_before["seconds"])) / figures["requests"] * 1e6, 2
        )
        if sorts:
            # What is acknowledged is in the inbox; sorting it into the queue may go on
            # after the run (a burst's backlog): charge that CPU to the run too.
            _wait_sorted(db)
            sorted_after = _thread_cpu(server.pid, names)
            after_run = _per_request(threads_after, sorted_after, figures["requests"])
            figures["cpu_us sorting after the run"] = round(sum(after_run.values()), 1)
            figures["server_cpu_us_per_request_sorted"] = round(
                figures["server_cpu_us_per_request"] + sum(after_run.values()), 1
            )
        return figures
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
        if kind == "postgres":
            _drop_postgres(db, postgres_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--postgres",
        default="",
        metavar="URL",
        help="also measure sailbridge on PostgreSQL (a server URL, e.g. "
        "postgresql://root@127.0.0.1:5432/postgres)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA)
        script = handle.name
    plan = [
        *(
            [
                ("raw", "/v1/t", "single", args.connections),
                ("nothing-stored", "/v1/t", "single", args.connections),
            ]
            if os.environ.get("BENCH_RAW")
            else []
        ),
        ("bare", "/v1/t", "single", args.connections),
        ("sailbridge", "/v1/t", "single", args.connections),
        ("sailbridge", "/v1/track", "single", args.connections),
        ("bare", "/v1/batch", "batch", args.batch_connections),
        ("sailbridge", "/v1/batch", "batch", args.batch_connections),
    ]
    if args.postgres:
        plan += [
            ("postgres", "/v1/t", "single", args.connections),
            ("postgres", "/v1/batch", "batch", args.batch_connections),
        ]
    results: list[dict[str, Any]] = []
    for round_ in range(args.repeat):
        figures: dict[str, dict[str, float]] = {}
        for kind, path, mode, connections in plan:
            figures[f"{kind} {path}"] = run(
                kind, path, mode, connections, args.seconds, script, args.postgres
            )
            print(
                f"round {round_ + 1} {kind:10s} {path:10s} {figures[f'{kind} {path}']}",
                file=sys.stderr,
                flush=True,
            )
        bare_single = figures["bare /v1/t"]["rps"]
        bare_batch = figures["bare /v1/batch"]["rps"]

        def cpu(name: str, figures: dict[str, dict[str, float]] = figures) -> float:
            return figures[name]["server_cpu_us_per_request"]

        def sorted_cpu(name: str, figures: dict[str, dict[str, float]] = figures) -> float:
            return figures[name]["server_cpu_us_per_request_sorted"]

        results.append(
            {
                "figures": figures,
                # throughput ratios if each server had its core to itself: bare CPU per
                # request over sailbridge's (robust to other load on the machine)
                "cpu_ratio_v1_t": cpu("bare /v1/t") / cpu("sailbridge /v1/t"),
                "cpu_ratio_v1_track": cpu("bare /v1/t") / cpu("sailbridge /v1/track"),
                "cpu_batch_events_per_core_second": 1e6 / cpu("sailbridge /v1/batch") * BATCH_SIZE,
                "v1_t_ratio": figures["sailbridge /v1/t"]["rps"] / bare_single,
                "v1_track_ratio": figures["sailbridge /v1/track"]["rps"] / bare_single,
                "batch_events_per_second": figures["sailbridge /v1/batch"]["rps"] * BATCH_SIZE,
                "batch_ratio": figures["sailbridge /v1/batch"]["rps"] / bare_batch,
                "cpu_batch_ratio": cpu("bare /v1/batch") / cpu("sailbridge /v1/batch"),
                # the same, with the CPU spent sorting the run's events after it ended
                "cpu_ratio_v1_t_sorted": cpu("bare /v1/t") / sorted_cpu("sailbridge /v1/t"),
                "cpu_batch_ratio_sorted": cpu("bare /v1/batch")
                / sorted_cpu("sailbridge /v1/batch"),
                "cpu_batch_events_per_core_second_sorted": 1e6
                / sorted_cpu("sailbridge /v1/batch")
                * BATCH_SIZE,
                **(
                    {
                        "postgres_cpu_ratio_v1_t": cpu("bare /v1/t") / cpu("postgres /v1/t"),
                        "postgres_cpu_batch_ratio": cpu("bare /v1/batch")
                        / cpu("postgres /v1/batch"),
                        "postgres_batch_events_per_second": figures["postgres /v1/batch"]["rps"]
                        * BATCH_SIZE,
                    }
                    if args.postgres
                    else {}
                ),
            }
        )
    os.unlink(script)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
