"""The container image: built from this tree, run as an operator would run it.

Each test runs real programs inside the image (``buildah run``): ``--version``, the
demo, and ``serve`` against the machine's PostgreSQL delivering to a sandbox, as the
image's non-root user.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sailbridge.demo import demo_events
from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from ..service.process import free_port
from .conftest import ROOT, Image

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
WRITE_KEY = "wk_image_test"
ADMIN_TOKEN = "image-admin-token-0123"


def test_the_image_is_labelled_runs_as_a_user_and_keeps_no_secret(image: Image) -> None:
    config = image.inspect()["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"] == "https://example.invalid/sailbridge"
    assert labels["org.opencontainers.image.revision"]
    assert config["User"] == "sailbridge"
    assert config["Entrypoint"] == ["sailbridge"] and config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert "/livez" in " ".join(image.inspect()["Healthcheck"]["Test"])
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert environment["SAILBRIDGE_DATABASE"] == "/data/sailbridge.db"
    secret_words = ("KEY", "SECRET", "TOKEN", "PASSWORD", "CERT")
    assert not [name for name in environment if any(word in name for word in secret_words)]
    history = json.dumps(image.inspect().get("History", []))
    assert "build-ca.crt" not in history and "PIP_CERT" not in history


def test_the_image_adds_little_to_its_base(image: Image) -> None:
    """Only the virtual environment is copied over the base: no compiler, cache or source."""
    added = (
        image.inspect()["Size"]
        - json.loads(
            subprocess.run(
                [image.podman, "image", "inspect", image.base],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )[0]["Size"]
    )
    assert added < 150_000_000, f"the image adds {added / 1e6:.0f} MB to its base"


def test_version_and_user_inside(image: Image, container: str) -> None:
    assert image.run(container, "sailbridge", "--version").stdout.strip() == (
        f"sailbridge {VERSION}"
    )
    assert image.run(container, "id", "-un").stdout.strip() == "sailbridge"
    # Nothing of the build is left: neither the source tree nor the CA bundle.
    leftovers = image.run(container, "ls", "/src", "/build-ca.crt", check=False)
    assert leftovers.returncode != 0 and "No such file" in leftovers.stderr


def test_the_demo_runs_inside(image: Image, container: str) -> None:
    result = image.run(container, "sailbridge", "demo", timeout=180)
    assert "demo complete" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture
def serving(
    image: Image, sandbox: SandboxHandle, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, str, Path]]:
    """``sailbridge serve`` (the image's default command) inside a container of its own,
    on the machine's PostgreSQL and network: its URL, its container and its log. The
    secrets come from a TOML file mounted read-only, the rest from the environment, the
    two ways the image takes settings."""
    port = free_port()
    settings = {
        name: value
        for name, value in sandbox_environment(
            sandbox,
            database_url,
            SAILBRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
            SAILBRIDGE_HOST="127.0.0.1",
            SAILBRIDGE_PORT=str(port),
        ).items()
        if name.startswith("SAILBRIDGE_")
    }
    secrets = {
        "sailthru_api_secret": settings.pop("SAILBRIDGE_SAILTHRU_API_SECRET"),
        "write_keys": WRITE_KEY,
    }
    config = tmp_path / "sailbridge.toml"
    config.write_text("".join(f'{key} = "{value}"\n' for key, value in secrets.items()))
    config.chmod(0o644)  # readable by the image's user
    container = image.container()
    entrypoint = image.inspect()["Config"]["Entrypoint"] + image.inspect()["Config"]["Cmd"]
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            image.run_argv(
                container,
                *entrypoint,
                env={**settings, "SAILBRIDGE_CONFIG": "/etc/sailbridge/sailbridge.toml"},
                mounts={config: "/etc/sailbridge/sailbridge.toml"},
            ),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(url + "/livez", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        yield url, container, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def serve_uids(port: str) -> set[int]:
    """The users running ``sailbridge serve`` with ``SAILBRIDGE_PORT=port`` (inside a
    container or not: under chroot isolation they are processes of this machine)."""
    uids = set()
    marker = f"SAILBRIDGE_PORT={port}".encode()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # not a process, gone, or not ours to read
            continue
        if (
            b"serve" in command
            and marker in environment
            and any(part.endswith(b"/sailbridge") or part == b"sailbridge" for part in command)
        ):
            uids.add(entry.stat().st_uid)
    return uids


def test_serve_in_the_image_delivers_to_the_sandbox_as_a_non_root_user(
    image: Image, serving: tuple[str, str, Path], sandbox: SandboxHandle
) -> None:
    url, container, log = serving
    assert requests.get(url + "/readyz", timeout=5).json() == {"ok": True}

    answer = requests.post(
        url + "/v1/batch", auth=(WRITE_KEY, ""), timeout=10, json={"batch": demo_events()}
    )
    assert answer.status_code == 200 and answer.json() == {"success": True}

    deadline = time.monotonic() + 60
    status: dict[str, int] = {}
    while time.monotonic() < deadline:
        status = requests.get(
            url + "/admin/status", timeout=5, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()
        if (
            status["pending"] + status["retrying"] + status["in_flight"] == 0
            and status["delivered"] > 0
        ):
            break
        time.sleep(0.3)
    assert status["delivered"] > 0, status
    profile = sandbox.user("user-1001")
    assert profile is not None and profile["keys"]["email"] == "ada@example.com"

    # The image's HEALTHCHECK, run inside a container as the engine would, passes.
    healthcheck = image.inspect()["Healthcheck"]["Test"]
    assert healthcheck[0] == "CMD"
    port = url.rsplit(":", 1)[1]
    image.run(container, *healthcheck[1:], env={"SAILBRIDGE_PORT": port})

    # The serving process is the image's user (uid 10001), not root.
    assert serve_uids(port) == {10001}
    # The secret came from the mounted file and is not in the log.
    text = log.read_text(errors="replace")
    assert '"sailthru_api_secret": "***"' in text and sandbox.config.api_secret not in text
