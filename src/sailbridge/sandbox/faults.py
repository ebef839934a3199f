"""Injected trouble: slow answers, dropped connections and internal errors.

Real Sailthru sometimes answers error 9 with HTTP 500 and sometimes with HTTP 200 (the
body is the only tell), so consecutive failures alternate between the two. Decisions
come from one seeded generator, so a run with a seed replays the same trouble.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from sailbridge.sandbox.config import SandboxConfig


class FaultOutcome(Enum):
    """What happens to a request after any delay."""

    ANSWER = "answer"
    ERROR_500 = "http_500"
    ERROR_200 = "http_200"
    DROP = "dropped"


@dataclass(frozen=True)
class FaultPlan:
    delay: float
    outcome: FaultOutcome


class FaultInjector:
    """Decides, request by request, whether and how to misbehave."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._throttle_random = random.Random(seed)
        self._next_failure_is_500 = True

    def throttled(self, config: SandboxConfig) -> bool:
        """Whether to answer this call 429 whatever the rate limit says (a storm). A
        generator of its own, so the other faults of a seeded run stay as they were."""
        return config.throttle_rate > 0 and self._throttle_random.random() < config.throttle_rate

    def plan(self, config: SandboxConfig) -> FaultPlan:
        # Always draw three numbers so that changing one rate does not shift the others.
        slow, drop, fail = self._random.random(), self._random.random(), self._random.random()
        delay = config.slow_seconds if slow < config.slow_rate else 0.0
        if drop < config.drop_rate:
            return FaultPlan(delay, FaultOutcome.DROP)
        if fail < config.fail_rate:
            outcome = (
                FaultOutcome.ERROR_500 if self._next_failure_is_500 else FaultOutcome.ERROR_200
            )
            self._next_failure_is_500 = not self._next_failure_is_500
            return FaultPlan(delay, outcome)
        return FaultPlan(delay, FaultOutcome.ANSWER)

    def reset(self) -> None:
        self._random = random.Random(self._seed)
        self._throttle_random = random.Random(self._seed)
        self._next_failure_is_500 = True
