"""Running a sandbox: in the foreground (`serve`) or beside a test (`running_sandbox`).

`running_sandbox` binds the socket itself on a free port of 127.0.0.1 before starting
uvicorn in a thread, so there is no window in which another process can take the port,
and the yielded URL works as soon as the context is entered.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette

from sailbridge.sandbox.app import create_app
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.runtime import Sandbox

STARTUP_TIMEOUT = 10.0


class SandboxStartError(RuntimeError):
    """The sandbox server did not come up."""


@dataclass(frozen=True)
class SandboxHandle:
    """A sandbox running in this process: where it listens and how it was configured.

    The helper methods go through the HTTP inspection API (never the objects directly),
    so they are safe from any thread. ``config`` is the configuration it started with;
    `configure` returns the one in force after a change.
    """

    url: str
    config: SandboxConfig
    app: Starlette = field(repr=False)

    @property
    def sandbox(self) -> Sandbox:
        """The live object; it runs on the server's thread, so read it, do not change it."""
        sandbox: Sandbox = self.app.state.sandbox
        return sandbox

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._call("GET", "/_sandbox/state")
        return state

    def user(self, extid: str) -> dict[str, Any] | None:
        """One profile by extid, ``None`` if there is none."""
        try:
            profile: dict[str, Any] = self._call(
                "GET", "/_sandbox/users/" + urllib.parse.quote(extid, safe="")
            )
            return profile
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self._call("GET", f"/_sandbox/requests?since={since}")[
            "requests"
        ]
        return entries

    def reset(self, *, config: bool = False) -> None:
        """Clear profiles, counters and the log; with ``config``, restore the start config."""
        self._call("POST", "/_sandbox/reset" + ("?config=1" if config else ""))

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime settings (fail_rate, rate_limits, ...); returns the public config."""
        config: dict[str, Any] = self._call("POST", "/_sandbox/config", changes)["config"]
        return config

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = msgspec.json.encode(body) if body is not None else b"" if method == "POST" else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return msgspec.json.decode(response.read())


def serve(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8900,
    log_level: str = "info",
) -> None:
    """Serve a sandbox until interrupted (blocking)."""
    uvicorn.run(
        create_app(config or SandboxConfig()),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
    )


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    log_level: str = "warning",
) -> Iterator[SandboxHandle]:
    """A sandbox on a free port in a background thread, shut down on exit."""
    config = config or SandboxConfig()
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with closing(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level=log_level,
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
        )
        thread.start()
        try:
            _wait_started(server, thread)
            yield SandboxHandle(url=f"http://{host}:{port}", config=config, app=app)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise SandboxStartError("the sandbox server stopped during startup")
        if time.monotonic() > deadline:
            raise SandboxStartError(f"the sandbox server did not start in {STARTUP_TIMEOUT:g} s")
        time.sleep(0.005)
