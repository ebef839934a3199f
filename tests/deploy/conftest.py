"""Fixtures for the deployment files: the container image, built once per session.

Containers cannot be started here (``podman run`` is refused), and no registry is
reachable, so the image is built the way the Dockerfile allows anyway: on a base made
locally with ``debootstrap`` (Debian bookworm with python3 and its venv module, the same
layout as the official Python slim image for what the Dockerfile needs), imported with
``podman import``, then ``podman build --isolation chroot --format docker`` (the OCI
format drops ``HEALTHCHECK``). Programs run inside it with ``buildah run --isolation
chroot``, which shares this machine's network, so a ``serve`` inside reaches the
machine's PostgreSQL and a sandbox started by the test.

The base is kept between sessions under one tag (it does not depend on this tree); the
sailbridge image is built once per session, under a tag of its own, and removed at the
end. A missing tool skips these tests with the command that installs it, or fails them
when ``CI`` is set (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..environment import unavailable
from ..store.postgres_server import fresh_database

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/sailbridge-test-base:bookworm"
APT_PACKAGES = {
    "podman": "podman",
    "buildah": "buildah",
    "debootstrap": "debootstrap",
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "docker-compose": "--no-install-recommends docker-compose",
}


def require_tool(name: str) -> str:
    """The path of ``name``, or skip (fail under CI) saying how to install it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        unavailable(
            f"{name} is not installed (apt-get install {APT_PACKAGES.get(name, name)}; "
            ".ci/run installs it)"
        )
    return path


def run(
    *command: str, timeout: float = 600, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure shows its output, not only its exit status."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        if not source.is_file() or not source.name.endswith((".list", ".sources")):
            continue
        for url in re.findall(
            r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)",
            source.read_text(encoding="utf-8"),
            re.MULTILINE,
        ):
            if url.rstrip("/").endswith("/debian"):
                return str(url)
    return "http://deb.debian.org/debian"


def ca_bundle() -> Path:
    """The machine's certificate authorities, as pip here is told to trust them."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    unavailable("no CA bundle found for the image build (set PIP_CERT)")


def image_exists(podman: str, image: str) -> bool:
    return run(podman, "image", "exists", image, check=False).returncode == 0


@pytest.fixture(scope="session")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Debian bookworm with python3 and venv, imported as a local image (kept between
    sessions: it does not depend on this tree)."""
    podman = require_tool("podman")
    if image_exists(podman, BASE_IMAGE):
        return BASE_IMAGE
    debootstrap = require_tool("debootstrap")
    if os.geteuid() != 0:
        unavailable("debootstrap needs root to build the test's base image")
    tree = tmp_path_factory.mktemp("base") / "root"
    try:
        run(
            debootstrap,
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(tree),
            debian_mirror(),
            timeout=900,
        )
        tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
        run(podman, "import", "-", BASE_IMAGE, stdin=tar.stdout, timeout=600)
        assert tar.wait(60) == 0
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return BASE_IMAGE


@dataclass(frozen=True)
class Image:
    """The sailbridge image built from this tree, and how to run programs in it."""

    name: str
    base: str
    buildah: str
    podman: str

    def inspect(self) -> dict[str, Any]:
        result: list[dict[str, Any]] = json.loads(
            run(self.podman, "image", "inspect", self.name).stdout
        )
        return result[0]

    def container(self) -> str:
        """A new working container of the image (``buildah from``); removed by `Image`'s
        fixture at the end of the session."""
        name = f"{self.name.rsplit('/', 1)[-1].replace(':', '-')}-{secrets.token_hex(3)}"
        run(self.buildah, "from", "--pull=never", "--name", name, self.name)
        return name

    def run_argv(
        self,
        container: str,
        *command: str,
        env: dict[str, str] | None = None,
        mounts: dict[Path, str] | None = None,
    ) -> list[str]:
        """The ``buildah run`` command line for ``command`` in ``container``, with
        ``env`` set and each file of ``mounts`` mounted read-only where it maps to."""
        argv = [self.buildah, "run", "--isolation", "chroot"]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        for source, target in (mounts or {}).items():
            argv += ["--volume", f"{source}:{target}:ro"]
        return [*argv, container, "--", *command]

    def run(
        self,
        container: str,
        *command: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return run(*self.run_argv(container, *command, env=env), timeout=timeout, check=check)


@pytest.fixture(scope="session")
def image(base_image: str) -> Iterator[Image]:
    """This tree's Dockerfile built on the local base, once per session."""
    podman = require_tool("podman")
    buildah = require_tool("buildah")
    name = f"localhost/sailbridge-test:{secrets.token_hex(4)}"
    revision = run("git", "rev-parse", "HEAD", cwd=ROOT, check=False).stdout.strip()
    # --layers=false: no intermediate images are left behind (each would hold a stage).
    run(
        podman,
        "build",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "--layers=false",
        "--tag",
        name,
        "--build-arg",
        f"BASE={base_image}",
        "--build-arg",
        "SOURCE=https://example.invalid/sailbridge",
        "--build-arg",
        f"REVISION={revision or 'unknown'}",
        # The machine's certificate authorities for pip, at build time only.
        "--volume",
        f"{ca_bundle()}:/build-ca.crt:ro",
        "--build-arg",
        "PIP_CERT=/build-ca.crt",
        str(ROOT),
        timeout=1200,
    )
    built = Image(name, base_image, buildah, podman)
    try:
        yield built
    finally:
        containers = json.loads(run(buildah, "containers", "--json", check=False).stdout or "[]")
        for container in containers or []:
            if container.get("imagename") == name:
                run(buildah, "rm", container["containername"], check=False)
        run(podman, "rmi", "--force", name, check=False)


@pytest.fixture(scope="session")
def container(image: Image) -> str:
    """One working container of the image, shared by the tests that only run commands."""
    return image.container()


@pytest.fixture
def database_url() -> Iterator[str]:
    """A new PostgreSQL database on the machine's server, dropped afterwards."""
    with fresh_database("sailbridge_image") as url:
        yield url
