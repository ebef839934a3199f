"""When to try a failed delivery again: exponential backoff with full jitter, in a window.

Full jitter (a uniform draw between 0 and the capped exponential delay) spreads the
retries of many events that failed together, so a Sailthru hiccup is not answered with
a synchronized stampede one backoff step later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """``min_delay`` doubling up to ``max_delay``, giving up ``window`` seconds after the
    first attempt (defaults: 10 s, 5 min, 4 h — SPEC §7)."""

    min_delay: float = 10.0
    max_delay: float = 300.0
    window: float = 4 * 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def ceiling(self, failures: int) -> float:
        """The largest delay after the ``failures``-th failure (1-based)."""
        exponent = min(max(failures - 1, 0), 32)
        return min(self.max_delay, self.min_delay * (2**exponent))

    def delay(self, failures: int) -> float:
        """A full-jitter delay after ``failures`` failures; never below a tenth of the
        minimum, so a lucky draw does not hammer a struggling Sailthru immediately."""
        ceiling = self.ceiling(failures)
        return max(self.min_delay / 10, self.rng.uniform(0, ceiling))

    def next_attempt_at(self, first_attempt_at: float, now: float, failures: int) -> float | None:
        """When to try again, or ``None`` when the retry window is spent."""
        at = now + self.delay(failures)
        return at if at <= first_attempt_at + self.window else None
