"""A PostgreSQL cluster of the test's own, on a free port, that the test may restart
and stop: the machine's shared server must not be taken down under other tests.

Debian's binaries are used (``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses
to run as root, so as root (CI) the cluster runs as the ``postgres`` user through
``runuser``, in a temporary directory that user owns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..environment import unavailable
from .process import free_port


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL binaries here (unavailable if there are none)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name),
    )
    if not found:
        unavailable("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


@dataclass
class Cluster:
    """One running cluster; `url` connects as ``root`` (trust) to ``postgres``."""

    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._ctl(
            "-l",
            str(self.data.parent / "postgres.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A fresh cluster (``initdb``), started; stopped and deleted afterwards."""
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="sailbridge-pg-"))
    data = root / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "root", "-A", "trust", "--no-sync"]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        initdb = ["runuser", "-u", "postgres", "--", *initdb]
    subprocess.run(initdb, check=True, capture_output=True, timeout=120)
    cluster = Cluster(bin_dir, data, free_port())
    cluster.start()
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        with suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
