"""The pure mapping from Segment events to Sailthru calls (SPEC §3 to §5).

No I/O, no clock, no randomness: given an event, the destination's settings and the
facts looked up so far, `plan_event` says what to do. The executor performs any
`Lookup` it asks for and calls it again with the fact filled in.
"""

from sailbridge.mapping.ordering import ordering_keys
from sailbridge.mapping.planner import plan_event
from sailbridge.mapping.products import cart_from_sailthru
from sailbridge.mapping.routing import ignored_overrides, normalize_event_name

__all__ = [
    "cart_from_sailthru",
    "ignored_overrides",
    "normalize_event_name",
    "ordering_keys",
    "plan_event",
]
