"""Run every benchmark in one go: ``.venv/bin/python bench/run.py``.

Each script prints its figures side by side with its baseline (a bare endpoint, the
small queue, the sandbox's limit), as ratios; docs/benchmarks.md records a run.
Pass ``--quick`` for shorter runs (a 200,000-job queue instead of 1,000,000).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    runs = [
        ["ingest.py", *(["--seconds", "4"] if quick else [])],
        ["delivery.py", *(["--events", "2000"] if quick else [])],
        ["store_claim.py", *(["--big", "200000"] if quick else [])],
    ]
    postgres = HERE / "postgres_claim.py"
    if postgres.exists():
        runs.append(["postgres_claim.py", *(["--big", "200000"] if quick else [])])
    runs.append(["multinode.py", *(["--seconds", "3"] if quick else [])])
    runs.append(["backfill.py", *(["--identifies", "200000"] if quick else [])])
    runs.append(["filters.py", *(["--events", "1000", "--rounds", "1"] if quick else [])])
    runs.append(["backlog.py", *(["--users", "100"] if quick else [])])
    failed = 0
    for script, *args in runs:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / script), *args])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
