"""CORS for the browser ingest routes: which web pages may post events here.

Browsers send analytics.js's events from the shop's own origin to sailbridge's, so
each answer must name that origin in ``Access-Control-Allow-Origin`` or the page's
script never sees it; recent analytics.js versions also send ``Authorization`` and
``X-Retry-Count``, which makes the browser ask first (a preflight ``OPTIONS``).
RudderStack's JS SDK (XHR transport) adds ``AnonymousId`` and ``SentAt`` headers.
Origins are configured (`SAILBRIDGE_CORS_ORIGINS`), empty by default: no page may
post until someone says which. An origin not allowed gets no CORS headers at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ANY_ORIGIN: Final = "*"
ALLOWED_HEADERS: Final = (
    "Content-Type, Authorization, X-Retry-Count, Content-Encoding, AnonymousId, SentAt"
)
MAX_AGE_SECONDS: Final = 7200
"""How long a browser may cache a preflight answer (Chromium's own cap is 2 hours)."""


@dataclass(frozen=True)
class CorsPolicy:
    """The allowed origins (`ANY_ORIGIN` among them allows every origin)."""

    origins: frozenset[str] = frozenset()

    def allows(self, origin: str | None) -> bool:
        if not origin or not self.origins:
            return False
        return ANY_ORIGIN in self.origins or origin.rstrip("/") in self.origins

    def answer_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual request's answer: the origin echoed, or none at all."""
        if not self.allows(origin):
            return {}
        assert origin is not None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight_headers(self, origin: str | None) -> dict[str, str] | None:
        """Headers of a preflight's 204, or ``None`` when the origin is not allowed."""
        if not self.allows(origin):
            return None
        return {
            **self.answer_headers(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        }
