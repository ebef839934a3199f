"""A request to Sailthru, as data: what the mapping plans and the client sends.

It lives with the client rather than with the mapping so that the dependency runs one
way: the pure mapping (`sailbridge.mapping`) speaks Sailthru's vocabulary — these calls,
its time format — and the client never needs to know about plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Method = Literal["GET", "POST", "DELETE"]
Api = Literal["rest", "pageview"]


@dataclass(frozen=True)
class Call:
    """One request: signed to Sailthru's REST API, or to the pageview tracking API.

    ``params`` are the real parameters — for the REST API they become the signed
    ``json`` parameter; for the pageview API they are the JSON body. Credentials are
    never part of a `Call`, so a `Call` is always safe to log, store and show.
    """

    method: Method
    endpoint: str
    params: dict[str, Any]
    api: Api = "rest"

    @property
    def route(self) -> str:
        """``"POST /user"``: the key rate limits and metrics are counted by."""
        return f"{self.method} {self.endpoint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "method": self.method,
            "endpoint": self.endpoint,
            "params": self.params,
        }
