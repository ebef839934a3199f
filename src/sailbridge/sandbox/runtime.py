"""One running sandbox: its configuration, account, rate limiter, faults and records.

Held by the app (``app.state.sandbox``) rather than a module global, so several
sandboxes can run side by side in one process, each with its own accounts and limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sailbridge.clock import Clock
from sailbridge.sandbox.account import Account
from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.errors import missing
from sailbridge.sandbox.faults import FaultInjector
from sailbridge.sandbox.jobs import SandboxJobs
from sailbridge.sandbox.ratelimit import FixedWindowRateLimiter
from sailbridge.sandbox.recorder import Recorder
from sailbridge.sandbox.var_names import check_call_var_names

Operation = Callable[[Mapping[str, Any]], dict[str, Any]]


class UnknownRoute(Exception):
    """No such Sailthru endpoint (404), or not with that method (405)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Sandbox:
    """The mutable heart of a sandbox; every field is replaced or reset, never shared."""

    def __init__(self, config: SandboxConfig, clock: Clock = time.time) -> None:
        self.initial_config = config
        self.config = config
        self.clock = clock
        self.account = Account(lambda: clock() + self.config.clock_offset)
        self.limiter = FixedWindowRateLimiter(clock)
        self.faults = FaultInjector(config.seed)
        self.recorder = Recorder(clock)
        self.jobs = SandboxJobs(
            self.account,
            clock,
            lambda: self.config.templates,
            lambda: self.config.job_delay,
            lambda: self.config.var_name_max_length,
        )
        self._operations: dict[tuple[str, str], Operation] = {
            ("POST", "/user"): self.account.post_user,
            ("GET", "/user"): lambda params: self.account.get_user(
                params, self.config.cart_read_lag
            ),
            ("DELETE", "/user"): self.account.delete_user,
            ("POST", "/event"): self.account.post_event,
            ("POST", "/purchase"): lambda params: self.account.post_purchase(
                params, self.config.templates
            ),
            ("POST", "/return"): self.account.post_return,
            ("GET", "/job"): self.jobs.status,
            ("POST", "/job"): _job_without_file,
        }

    def operation(self, method: str, endpoint: str) -> Operation:
        """The handler for a REST route; `UnknownRoute` when Sailthru has no such thing."""
        found = self._operations.get((method, endpoint))
        if found is not None:
            return found
        if any(known == endpoint for _, known in self._operations):
            raise UnknownRoute(f"Method {method} is not supported for {endpoint}", 405)
        raise UnknownRoute(f"Unknown API endpoint: {endpoint}", 404)

    def perform(self, method: str, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run one authenticated call against the account; raises `ApiError`.

        Var names are checked first (`check_call_var_names`), so a refused call
        changes nothing."""
        operation = self.operation(method, endpoint)
        if method == "POST":
            check_call_var_names(params, self.config.var_name_max_length)
        return operation(params)

    def submit_job(self, params: Mapping[str, Any], data: bytes, filename: str) -> dict[str, Any]:
        """POST /job with its file: accepted now, run ``config.job_delay`` s later."""
        return self.jobs.submit(dict(params), data, filename)

    def configure(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """Apply runtime changes (see `SandboxConfig.with_changes`)."""
        self.config = self.config.with_changes(changes)
        return self.config

    def reset(self, *, config: bool = False) -> None:
        """Forget every profile, count and logged call.

        The configuration stays unless ``config``, which restores the one the sandbox
        started with (what a test suite sharing one sandbox wants between tests).
        """
        if config:
            self.config = self.initial_config
        self.account.reset()
        self.limiter.reset()
        self.faults.reset()
        self.recorder.reset()
        self.jobs.reset()

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (carts current, not lagged)."""
        return {
            "profiles": [profile.inspect() for profile in self.account.profiles()],
            "jobs": self.jobs.snapshot(),
            "counters": self.recorder.counters.as_dict(),
            "config": self.config.public(),
        }


def _job_without_file(params: Mapping[str, Any]) -> dict[str, Any]:
    """POST /job reached the account with no multipart file (the sandbox needs one)."""
    raise missing("file")


__all__ = ["Sandbox", "UnknownRoute"]
