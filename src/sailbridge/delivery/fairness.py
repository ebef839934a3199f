"""How one worker shares its delivery slots between accounts: a pure decision.

Every account may hold at most an even share of the worker's ``concurrency`` (rounded
up) of the accounts delivering now (paused ones are left out: they only probe). So an
account whose calls wait — a 429 storm holding its routes, an outage timing its calls
out — can fill only its own share, and every other account keeps slots for its events
whatever that account's backlog. Claims go round the accounts from a rotating start,
so no account is always first to take the slots that are free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def fair_share(concurrency: int, delivering: int) -> int:
    """The most slots one account may hold while ``delivering`` accounts deliver."""
    return max(1, math.ceil(concurrency / max(1, delivering)))


def claim_limits(
    free: int,
    concurrency: int,
    delivering: Sequence[str],
    in_flight: Mapping[str, int],
    start: int = 0,
) -> list[tuple[str, int]]:
    """How many jobs to claim for each account now: ``(account, limit)``, limits > 0,
    each account within its `fair_share`, all of them within ``free`` slots, going
    round ``delivering`` from ``start``."""
    if not delivering or free <= 0:
        return []
    share = fair_share(concurrency, len(delivering))
    order = [delivering[(start + i) % len(delivering)] for i in range(len(delivering))]
    limits: list[tuple[str, int]] = []
    for account in order:
        limit = min(share - in_flight.get(account, 0), free)
        if limit > 0:
            limits.append((account, limit))
            free -= limit
        if free <= 0:
            break
    return limits
