"""Fixtures for the real-client tests: the npm clients installed, `serve` started.

Node and npm (and, for the browser tests, Chromium) are tools of the machine, not of
the venv: a test that needs a missing one is skipped here and fails under ``CI``
(``tests.environment.unavailable``). ``.ci/run`` installs them on a new machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ..environment import unavailable
from ..service.conftest import serve_process  # noqa: F401 (fixture)

JS_DIR = Path(__file__).parent / "js"


def node_modules_current(js_dir: Path) -> bool:
    """Whether ``npm ci`` already installed exactly what the lock file pins."""
    installed = js_dir / "node_modules" / ".package-lock.json"
    lock = js_dir / "package-lock.json"
    return installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """``tests/sources/js`` with its pinned npm packages installed (``npm ci`` if needed)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            unavailable(f"`{tool}` is not installed (Debian: apt-get install -y nodejs npm); "
                        "the Node and browser client tests need it")
    if not node_modules_current(JS_DIR):
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                cwd=JS_DIR, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {JS_DIR}:\n{result.stdout}\n{result.stderr}")
    return JS_DIR
