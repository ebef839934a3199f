"""How a sandbox behaves: credentials, templates, rate limits, read lag and faults.

One frozen value, replaced as a whole when `/_sandbox/config` changes it at runtime,
so a request never sees half of an update.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PER_SECOND_LIMITS: Final[Mapping[str, int]] = {
    "POST /user": 300,
    "GET /user": 300,
    "POST /event": 40,
    "POST /purchase": 40,
    "POST /return": 40,
    "DELETE /user": 40,
}
"""Sailthru's documented default limits per second (SPEC §1)."""

FALLBACK_PER_SECOND: Final[int] = 40
"""Sailthru documents "other POSTs 40/s" and "DELETEs 40/s"; used for unlisted routes."""

DEFAULT_WINDOW: Final[float] = 60.0

PAGEVIEW_ROUTE: Final[str] = "POST /v1/track/event/pageview"

RUNTIME_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "fail_rate",
        "throttle_rate",
        "slow_rate",
        "slow_seconds",
        "drop_rate",
        "cart_read_lag",
        "rate_limits",
        "rate_limit_window",
        "templates",
        "job_delay",
        "clock_offset",
        "var_name_max_length",
    }
)
"""The fields `SandboxConfig.with_changes` (and so `POST /_sandbox/config`) may change."""


class ConfigError(ValueError):
    """A configuration value the sandbox cannot honour."""


def default_rate_limits(window: float = DEFAULT_WINDOW) -> dict[str, int]:
    """Sailthru's per-second defaults scaled to requests per ``window`` seconds."""
    return {route: int(per_second * window) for route, per_second in PER_SECOND_LIMITS.items()}


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes a sandbox's answers.

    ``rate_limits`` are requests per ``rate_limit_window`` seconds, keyed ``"POST /user"``;
    a route not listed gets ``FALLBACK_PER_SECOND × window``, except the pageview route,
    which is limited only when listed (Sailthru documents no limit for it).
    The ``*_rate`` fields are probabilities in [0, 1] drawn per REST request from a
    generator seeded with ``seed``, so a run with a seed is reproducible.
    """

    api_key: str = "sandbox-key"
    api_secret: str = "sandbox-secret"
    customer_id: str = "sandbox-customer"
    templates: frozenset[str] = frozenset({"abandoned cart"})
    cart_read_lag: float = 0.0
    rate_limits: dict[str, int] = field(default_factory=default_rate_limits)
    rate_limit_window: float = DEFAULT_WINDOW
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    """Share of calls answered 429 whatever the rate limit says: a storm of 429s (1.0:
    every call, for as long as it is set), as Sailthru sends when an account's limit is
    used up by someone else or lowered."""
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None
    job_delay: float = 0.5
    """Seconds between a Job API upload and the job being applied (it is pending until)."""
    clock_offset: float = 0.0
    """Seconds added to the account's clock (negative: the past), so a test can file a
    cart "30 hours ago" and then read it back as 30 hours old. Rate limits keep real time."""
    var_name_max_length: int | None = None
    """Var names longer than this are refused with error 99 (``None``: no cap)."""

    def __post_init__(self) -> None:
        # Accept any iterable of names (a JSON list, a set) but keep an immutable set.
        object.__setattr__(self, "templates", _templates(self.templates))
        object.__setattr__(self, "rate_limits", _rate_limits(self.rate_limits))
        for name in ("fail_rate", "throttle_rate", "slow_rate", "drop_rate"):
            value = _number(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, not {value}")
            object.__setattr__(self, name, value)
        for name in ("slow_seconds", "cart_read_lag", "job_delay"):
            value = _number(name, getattr(self, name))
            if value < 0:
                raise ConfigError(f"{name} must not be negative, not {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "clock_offset", _number("clock_offset", self.clock_offset))
        cap = self.var_name_max_length
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(
                f"var_name_max_length must be a positive integer or null, not {cap!r}"
            )
        window = _number("rate_limit_window", self.rate_limit_window)
        if window <= 0:
            raise ConfigError(f"rate_limit_window must be positive, not {window}")
        object.__setattr__(self, "rate_limit_window", window)

    def limit_for(self, route: str) -> int | None:
        """Requests allowed per window on ``route``; ``None`` when it is not limited."""
        if route in self.rate_limits:
            return self.rate_limits[route]
        if route == PAGEVIEW_ROUTE:
            return None
        return max(1, int(FALLBACK_PER_SECOND * self.rate_limit_window))

    def with_changes(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied; ``rate_limits`` are merged route by route.

        Merging lets a test tighten one route without restating Sailthru's defaults.
        Credentials and the seed are fixed for a sandbox's life: the client under test
        was configured with them.
        """
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ConfigError(
                f"cannot change {', '.join(sorted(unknown))} at runtime; "
                f"changeable: {', '.join(sorted(RUNTIME_FIELDS))}"
            )
        updates = dict(changes)
        if "rate_limits" in updates:
            if not isinstance(updates["rate_limits"], Mapping):
                raise ConfigError("rate_limits must be an object of route → requests per window")
            updates["rate_limits"] = {**self.rate_limits, **updates["rate_limits"]}
        return dataclasses.replace(self, **updates)

    def public(self) -> dict[str, Any]:
        """The configuration as JSON-ready data, without the shared secret."""
        return {
            "api_key": self.api_key,
            "customer_id": self.customer_id,
            "templates": sorted(self.templates),
            "cart_read_lag": self.cart_read_lag,
            "rate_limits": dict(self.rate_limits),
            "rate_limit_window": self.rate_limit_window,
            "fail_rate": self.fail_rate,
            "throttle_rate": self.throttle_rate,
            "slow_rate": self.slow_rate,
            "slow_seconds": self.slow_seconds,
            "drop_rate": self.drop_rate,
            "seed": self.seed,
            "job_delay": self.job_delay,
            "clock_offset": self.clock_offset,
            "var_name_max_length": self.var_name_max_length,
        }


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, not {value!r}")
    return float(value)


def _templates(value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"templates must be a list of names, not {value!r}")
    names = frozenset(value)
    if not all(isinstance(name, str) for name in names):
        raise ConfigError("templates must be names (strings)")
    return names


def _rate_limits(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ConfigError("rate_limits must be a mapping of route → requests per window")
    limits: dict[str, int] = {}
    for route, limit in value.items():
        method, _, endpoint = str(route).partition(" ")
        if method not in {"GET", "POST", "DELETE"} or not endpoint.startswith("/"):
            raise ConfigError(f"rate limit route must look like 'POST /user', not {route!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(f"rate limit for {route} must be a non-negative integer")
        limits[route] = limit
    return limits
