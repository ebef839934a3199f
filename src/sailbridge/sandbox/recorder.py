"""What the sandbox saw: a log of REST calls and counters, for tests and the curious.

The log keeps decoded parameters (the point of a sandbox is to show what was sent)
and the api key, but never the shared secret, which is never sent anyway, nor the
signature. It is bounded so a long benchmark run cannot exhaust memory.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from sailbridge.clock import Clock

DEFAULT_LOG_SIZE = 10_000


@dataclass
class Counters:
    requests: Counter[str] = field(default_factory=Counter)
    """Every request received, per route (``"POST /user"``), refused ones included."""
    rate_limited: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    """``http_500``, ``http_200``, ``dropped``, ``slowed``."""
    errors: Counter[int] = field(default_factory=Counter)
    """Error answers per Sailthru error code."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "rate_limited": self.rate_limited,
            "faults": {
                name: self.faults.get(name, 0)
                for name in ("http_500", "http_200", "dropped", "slowed")
            },
            "errors": {str(code): count for code, count in sorted(self.errors.items())},
        }


class Recorder:
    """The request log and counters of one sandbox."""

    def __init__(self, clock: Clock = time.time, log_size: int = DEFAULT_LOG_SIZE) -> None:
        self._clock = clock
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._sequence = 0
        self.counters = Counters()

    def record(
        self,
        *,
        method: str,
        endpoint: str,
        api_key: str | None,
        params: Any,
        status: int | None,
        error: int | None = None,
        errormsg: str | None = None,
        fault: str | None = None,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        """Log one call and count it; ``status`` is ``None`` for a dropped connection."""
        self._sequence += 1
        route = f"{method} {endpoint}"
        entry = {
            "seq": self._sequence,
            "time": self._clock(),
            "method": method,
            "endpoint": endpoint,
            "route": route,
            "api_key": api_key,
            "params": params,
            "status": status,
            "error": error,
            "errormsg": errormsg,
            "fault": fault,
            "delay": delay,
        }
        self._log.append(entry)
        self.counters.requests[route] += 1
        if status == 429:
            self.counters.rate_limited += 1
        if fault is not None:
            self.counters.faults[fault] += 1
        if delay:
            self.counters.faults["slowed"] += 1
        if error is not None:
            self.counters.errors[error] += 1
        return entry

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        """Logged calls with a sequence number above ``since``, oldest first."""
        return [entry for entry in self._log if entry["seq"] > since]

    def reset(self) -> None:
        self._log.clear()
        self._sequence = 0
        self.counters = Counters()
