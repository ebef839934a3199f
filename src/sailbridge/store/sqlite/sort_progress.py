"""How far the inbox is sorted: one sort step's `SortOutcome`, and `SortProgress`.

The writer (`sailbridge.store.sqlite.writer`) records both; the store's reads consult
`SortProgress` to decide whether to wait for what this store just accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple


class SortOutcome(NamedTuple):
    through: int
    """Every inbox id up to this one is sorted (by this store or another)."""
    events: int
    """Events taken out of the inbox by this step (duplicates included)."""
    more: bool
    """Rows are left in the inbox."""


class SortProgress:
    """How far the inbox is sorted compared with what this store accepted.

    Written by the writer thread, read by event loops (hence the lock). Inbox ids only
    grow (AUTOINCREMENT) and rows are sorted as a prefix, so "sorted through id N"
    says everything about them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted_through = 0
        self._sorted_through = 0
        self._unsorted_events = 0

    def accepted(self, rows: Sequence[tuple[int, int]]) -> None:
        """Inbox rows ``(id, events)`` this store committed."""
        with self._lock:
            self._accepted_through = max(self._accepted_through, max(row for row, _ in rows))
            self._unsorted_events += sum(events for _, events in rows)

    def sorted(self, through: int, events: int) -> None:
        """Every inbox id up to ``through`` is sorted; ``events`` were just sorted."""
        with self._lock:
            self._sorted_through = max(self._sorted_through, through)
            if self._sorted_through >= self._accepted_through:
                self._unsorted_events = 0
            else:
                self._unsorted_events = max(0, self._unsorted_events - events)

    def lagging(self, max_events: int) -> bool:
        """Whether some of this store's accepts are not sorted yet, but no more than
        ``max_events`` events of them (a short wait, not a burst's backlog)."""
        with self._lock:
            return (
                self._sorted_through < self._accepted_through
                and self._unsorted_events <= max_events
            )
