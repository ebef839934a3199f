"""Is delivery stalled? The pure judgement behind readiness, ``status`` and the console.

A worker that died, or one that keeps failing to reach the store, leaves ingest
answering 200 while nothing is delivered. Readiness says so — but only when that is
what is happening: a paused delivery (bad credentials) is reported as paused, a route
held by Sailthru's rate limit is waiting as it should, and a worker with nothing ready
to claim has nothing to do. The worker keeps the facts (`Progress`); `judge` decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

NOT_RUNNING = "delivery_not_running"
STALLED = "delivery_stalled"


@dataclass
class Progress:
    """What the worker last did, updated as it works (monotonic seconds)."""

    running: bool = False
    """The worker's loop is running (false before its start, while a crashed loop waits
    to be restarted, and after it stopped)."""
    moved_at: float = field(default_factory=time.monotonic)
    """When delivery last moved forward: a claim answered (even with nothing ready), an
    attempt's outcome committed, or the pause read while paused."""
    work_ready: bool = False
    """Whether work is known (or, after a failed claim, presumed) to be waiting."""

    def moved(self, *, work_ready: bool) -> None:
        self.moved_at = time.monotonic()
        self.work_ready = work_ready


@dataclass(frozen=True)
class DeliveryFacts:
    """A snapshot of what `judge` needs, taken at one moment."""

    running: bool
    idle_for: float
    """Seconds since delivery last moved forward."""
    work_ready: bool
    paused: bool
    rate_limited: bool
    """A call is waiting for a route's rate limit (or its 429 block) right now."""


@dataclass(frozen=True)
class Stall:
    """Why delivery is not working: a code for machines and a sentence for people."""

    code: str
    message: str


def judge(facts: DeliveryFacts, stall_after: float) -> Stall | None:
    """``None`` when delivery is working (or rightly waiting), else the `Stall`.

    Not running is always a stall. Running, it is stalled only when it has made no
    progress for more than ``stall_after`` seconds (0 turns this check off) while work
    is ready, delivery is not paused and no call is held by a rate limit.
    """
    if not facts.running:
        return Stall(NOT_RUNNING, "the delivery worker is not running")
    if facts.paused or facts.rate_limited or not facts.work_ready or stall_after <= 0:
        return None
    if facts.idle_for > stall_after:
        return Stall(
            STALLED,
            f"delivery has made no progress for {facts.idle_for:.0f} s "
            f"while work is ready (SAILBRIDGE_DELIVERY_STALL_AFTER is "
            f"{stall_after:g} s)",
        )
    return None
