"""This tree against an earlier commit, benchmark by benchmark, in one run.

    .venv/bin/python bench/compare.py --baseline efb1f81 --rounds 3 delivery store_claim

A restructuring should change no figure. Absolute figures move with the machine's load,
so each benchmark runs alternately on the baseline's code and on this tree's, round
after round (on each tree's own ``src/``, through ``PYTHONPATH``), and the report is
this tree's median over the baseline's median for each figure: 1.00 means unchanged.
The baseline is checked out into a temporary git worktree, removed afterwards.

Every benchmark runs this tree's script against both trees (the same workload, and
fixes to the script apply to both); ``ingest_single``'s servers take what they need of
the tree they run on (a tree without `freeze_startup_heap` runs without it, as its
`serve` did).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

Figures = dict[str, float]


def _numbers(pattern: str, names: tuple[str, ...]) -> Callable[[str], Figures]:
    def parse(output: str) -> Figures:
        match = re.search(pattern, output)
        if match is None:
            raise ValueError(f"no figures in the output:\n{output[-2000:]}")
        return {
            name: float(value.replace(",", ""))
            for name, value in zip(names, match.groups(), strict=True)
        }

    return parse


def _delivery(output: str) -> Figures:
    return {
        **_numbers(r"saturation: ([\d.]+) calls/s", ("calls/s at the limit",))(output),
        **_numbers(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms", ("latency p50 ms", "latency p99 ms"))(
            output
        ),
    }


def _store_claim(output: str) -> Figures:
    rows = re.findall(r"^\s*([\d,]+)\s+([\d,]+)\s+(\d+)\s+(\d+)", output, re.MULTILINE)
    figures = {f"claim µs at {queued} queued": float(mean) for queued, _, mean, _ in rows}
    figures |= {
        f"enqueue/s at {queued} queued": float(rate.replace(",", "")) for queued, rate, _, _ in rows
    }
    return figures


def _ingest_single(output: str) -> Figures:
    start = re.search(r"^\[", output, re.MULTILINE)
    if start is None:
        raise ValueError(f"no JSON figures in the output:\n{output[-2000:]}")
    rounds = json.loads(output[start.start() :])
    keys = (
        "cpu_ratio_v1_t",
        "cpu_ratio_v1_track",
        "cpu_batch_events_per_core_second",
        "cpu_ratio_v1_t_sorted",  # (scripts from issue 18 on)
        "cpu_batch_events_per_core_second_sorted",
    )
    figures = {key: statistics.median(r[key] for r in rounds) for key in keys if key in rounds[0]}
    for run in ("sailbridge /v1/t", "sailbridge /v1/batch"):  # µs a request, by thread
        threads = {
            name
            for r in rounds
            for name in r["figures"][run]
            if name.startswith(("cpu_us", "gc_us"))
        }
        for name in sorted(threads):
            figures[f"{run} {name}"] = statistics.median(
                r["figures"][run].get(name, 0.0) for r in rounds
            )
    return figures


def _multinode(output: str) -> Figures:
    rows = re.findall(r"^\s*(\d)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)%", output, re.MULTILINE)
    figures: Figures = {}
    for nodes, ingest, delivery, accuracy, _ in rows:
        figures[f"{nodes} nodes ingest ev/s"] = float(ingest)
        figures[f"{nodes} nodes delivery ev/s"] = float(delivery)
        figures[f"{nodes} nodes limit accuracy"] = float(accuracy)
    return figures


BENCHMARKS: dict[str, tuple[list[str], Callable[[str], Figures]]] = {
    # name: (this tree's script and its arguments, the figures it prints)
    "delivery": (["delivery.py", "--events", "2000"], _delivery),
    "store_claim": (["store_claim.py", "--big", "200000", "--cycles", "300"], _store_claim),
    "ingest_single": (["ingest_single.py", "--seconds", "5"], _ingest_single),
    "store_sort": (
        ["store_sort.py", "--events", "30000", "--step", "2000"],
        _numbers(
            r"work ([\d.]+) µs an event, commit ([\d.]+) µs an event",
            ("sort work µs an event", "sort commit µs an event"),
        ),
    ),
    "multinode": (["multinode.py", "--seconds", "4"], _multinode),
    "filters": (
        ["filters.py", "--events", "2000", "--rounds", "1", "--without-only"],
        _numbers(r"without filters (\d+) µs", ("serve CPU µs per event, no rules",)),
    ),
    "mapping": (
        ["mapping.py", "--events", "60000"],
        _numbers(r"mapping: (\d+) events per CPU-second", ("events per CPU-s",)),
    ),
    "mapping_odd": (
        ["mapping.py", "--events", "60000", "--odd"],
        _numbers(r"mapping: (\d+) events per CPU-second", ("events per CPU-s",)),
    ),
}


def run(tree: Path, name: str) -> Figures:
    command, parse = BENCHMARKS[name]
    environment = {**os.environ, "PYTHONPATH": str(tree / "src")}
    script = ROOT / "bench" / command[0]
    done = subprocess.run(
        [sys.executable, str(script), *command[1:]],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed on {tree}:\n{done.stdout}\n{done.stderr}")
    return parse(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="a commit (the code before)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("benchmarks", nargs="+", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(baseline), args.baseline],
            cwd=ROOT,
            check=True,
        )
        try:
            for name in args.benchmarks:
                seen: dict[str, list[Figures]] = {"before": [], "now": []}
                for round_ in range(args.rounds):
                    for label, tree in (("before", baseline), ("now", ROOT)):
                        seen[label].append(run(tree, name))
                        print(
                            f"{name} round {round_ + 1} {label}: {seen[label][-1]}",
                            file=sys.stderr,
                            flush=True,
                        )
                print(f"\n{name} ({args.rounds} rounds, medians; now ÷ before)")
                for figure in seen["now"][0]:
                    if any(figure not in f for f in seen["before"]):
                        continue  # not measured on the baseline's code
                    before = statistics.median(f[figure] for f in seen["before"])
                    now = statistics.median(f[figure] for f in seen["now"])
                    ratio = now / before if before else float("nan")
                    print(
                        f"  {figure:38s} before {before:>12,.2f}  now {now:>12,.2f}  "
                        f"ratio {ratio:.2f}"
                    )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
