"""Sailthru's rate limits as sailbridge is configured with them.

``SAILBRIDGE_RATE_LIMITS`` names only the routes it changes, like
``POST /user=300/s,POST /event=2400/min``; every other route keeps Sailthru's
documented limit. The constants here are also the defaults the delivery's rate
limiting falls back on.
"""

from __future__ import annotations

import re
from typing import Final

DEFAULT_RATE_LIMITS: Final[dict[str, float]] = {
    "POST /user": 300.0,
    "GET /user": 300.0,
    "DELETE /user": 40.0,
    "POST /event": 40.0,
    "POST /purchase": 40.0,
    "POST /return": 40.0,
    "POST /v1/track/event/pageview": 40.0,
}
"""Sailthru's documented per-second limits; other POSTs and DELETEs get 40/s."""

DEFAULT_OTHER_LIMIT: Final = 40.0

DEFAULT_RATE_LIMIT_RESENDS: Final = 20
"""How many times one call is sent again after a 429 before its job goes back to the
queue (not counted as an attempt)."""

DEFAULT_MAX_RATE_LIMIT_BLOCK: Final = 65.0
"""The longest a route is held after a 429 or ``X-Rate-Limit-Remaining: 0``, whatever
``X-Rate-Limit-Reset`` says: Sailthru counts per minute, plus 5 s for clock skew."""

_RATE_ITEM = re.compile(
    r"^\s*(?P<method>GET|POST|DELETE)\s+(?P<endpoint>/\S*)\s*=\s*"
    r"(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|second|m|min|minute)\s*$",
    re.IGNORECASE,
)


def parse_rate_limit_items(text: str) -> dict[str, float]:
    """Parse ``"POST /user=300/s,POST /event=2400/min"`` into per-second limits keyed
    ``"METHOD /endpoint"`` (only the routes named)."""
    limits: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _RATE_ITEM.match(item)
        if match is None:
            raise ValueError(f"cannot read {item!r}; expected like 'POST /user=300/s'")
        count = float(match["count"])
        per_second = count if match["unit"].lower().startswith("s") else count / 60.0
        if per_second <= 0:
            raise ValueError(f"{item!r}: a limit must be positive")
        limits[f"{match['method'].upper()} {match['endpoint']}"] = per_second
    return limits


def parse_rate_limits(text: str) -> dict[str, float]:
    """Per-second limits for every route: Sailthru's documented defaults, overridden
    by the routes ``text`` names."""
    return {**DEFAULT_RATE_LIMITS, **parse_rate_limit_items(text)}
