"""One worker's view of its accounts' pauses: read, set and ended in one place.

A pause lives in the store, so every node sharing it stops delivering that account,
and another node or an operator may set or clear it at any time. The claim loop
(`sailbridge.delivery.worker`) asks which accounts are paused and when each may probe;
carrying out a `Pause` (`sailbridge.delivery.lines`) sets one, and a success ends one
this worker saw. Both share this one view, so neither holds the other's state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from sailbridge.clock import Clock
from sailbridge.delivery.stall import Progress
from sailbridge.delivery.store_failures import store_failed
from sailbridge.store.base import Store

log = logging.getLogger("sailbridge.worker")
PAUSE_READ_EVERY = 0.05
"""Seconds between two reads of the pause while delivering (another node may set it)."""


class Pauses:
    """The accounts whose delivery one worker saw paused, and when each may probe."""

    def __init__(
        self,
        store: Store,
        accounts: Collection[str],
        progress: Progress,
        *,
        probe_interval: float,
        clock: Clock,
    ) -> None:
        self._store = store
        self._accounts = set(accounts)
        self._progress = progress
        self._probe_interval = probe_interval
        self._clock = clock
        self.seen: set[str] = set()
        """The accounts this worker saw paused (by itself, another node or an operator)."""
        self.probe_at: dict[str, float] = {}
        """When each paused account may probe Sailthru again."""
        self._read_at = float("-inf")

    async def current(self) -> set[str]:
        """The accounts whose delivery is paused (another node or an operator may pause
        or resume one), read from the store at most every ``PAUSE_READ_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._read_at >= PAUSE_READ_EVERY:
            self._read_at = now
            try:
                reasons = await self._store.paused_accounts()
            except Exception as error:
                store_failed("reading the pause", error)
                return set(self.seen)
            paused = {account for account in reasons if account in self._accounts}
            if paused and paused >= self._accounts:  # nothing to deliver but probes
                self._progress.moved(work_ready=False)
            for account in paused - self.seen:  # set elsewhere
                log.warning(
                    "delivery paused", extra={"account": account, "reason": reasons[account]}
                )
            for account in self.seen - paused:  # cleared elsewhere
                log.info(
                    "delivery resumed",
                    extra={"account": account, "by": "another node or an operator"},
                )
            self.seen = paused
        return set(self.seen)

    async def pause(self, account: str, reason: str, code: int | None) -> None:
        """Pause ``account`` for every node sharing the store; this worker probes it
        again after ``probe_interval``."""
        self.probe_at[account] = self._clock() + self._probe_interval
        if account not in self.seen:
            log.warning(
                "delivery paused",
                extra={"account": account, "reason": reason, "sailthru_code": code},
            )
        self.seen.add(account)
        await self._store.set_paused(reason, account)

    async def resume_if_paused(self, account: str) -> None:
        """Sailthru accepted a call of ``account``: end its pause, if this worker saw one."""
        # Only when this worker saw the pause: delivering while it looked unpaused, a
        # store read per delivered job would cost more than the delivery. A pause set
        # elsewhere since then is seen by the claim loop, whose probe then resumes.
        if account not in self.seen:
            return
        if await self._store.paused_reason(account) is not None:
            log.info(
                "delivery resumed",
                extra={"account": account, "by": "Sailthru accepted a call again"},
            )
            await self._store.set_paused(None, account)
        self.seen.discard(account)
