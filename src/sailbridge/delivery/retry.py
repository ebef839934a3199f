"""When to try a delivery again: after a failure, and after Sailthru's rate limits.

Failures back off exponentially with full jitter, inside a window. Full jitter (a
uniform draw between 0 and the capped exponential delay) spreads the retries of many
events that failed together, so a Sailthru hiccup is not answered with a synchronized
stampede one backoff step later.

A 429 is not a failure: the call is sent again once the route's block ends, up to
``rate_limit_resends`` times, and no block lasts longer than ``max_rate_limit_block``
(Sailthru counts per minute, so a reset hours ahead is a mistake to outlast, not obey).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK, DEFAULT_RATE_LIMIT_RESENDS, Settings


@dataclass(frozen=True)
class RetryPolicy:
    """``min_delay`` doubling up to ``max_delay``, giving up ``window`` seconds after the
    first attempt (defaults: 10 s, 5 min, 4 h — SPEC §7); ``rate_limit_resends`` 429s
    absorbed per call (20) and rate-limit blocks of at most ``max_rate_limit_block``
    seconds (65) — see docs/configuration.md."""

    min_delay: float = 10.0
    max_delay: float = 300.0
    window: float = 4 * 3600.0
    rate_limit_resends: int = DEFAULT_RATE_LIMIT_RESENDS
    max_rate_limit_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.retry_min_delay,
            settings.retry_max_delay,
            settings.retry_window,
            settings.rate_limit_resends,
            settings.max_rate_limit_block,
        )

    def ceiling(self, failures: int) -> float:
        """The largest delay after the ``failures``-th failure (1-based)."""
        exponent = min(max(failures - 1, 0), 32)
        return min(self.max_delay, self.min_delay * 2.0**exponent)

    def delay(self, failures: int) -> float:
        """A full-jitter delay after ``failures`` failures; never below a tenth of the
        minimum, so a lucky draw does not hammer a struggling Sailthru immediately."""
        ceiling = self.ceiling(failures)
        return max(self.min_delay / 10, self.rng.uniform(0, ceiling))

    def next_attempt_at(self, first_attempt_at: float, now: float, failures: int) -> float | None:
        """When to try again, or ``None`` when the retry window is spent."""
        at = now + self.delay(failures)
        return at if at <= first_attempt_at + self.window else None
