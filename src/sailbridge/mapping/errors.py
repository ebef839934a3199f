"""The one way a mapping step says "this event can never be delivered as it is"."""

from __future__ import annotations


class Unmappable(Exception):
    """Raised deep inside a mapping step; `plan_event` turns it into a `Fail`.

    Raising lets the small helpers (prices, quantities, overrides) stop the whole plan
    with a precise reason, without every caller threading a `Fail` back up by hand.
    The message is the reason a person reads, so it says what to change.
    """
