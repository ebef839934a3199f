"""Reading Segment's ``context`` object, which every event may carry."""

from __future__ import annotations

from typing import Any

from sailbridge.events import Event
from sailbridge.mapping.values import text


def page_url(event: Event) -> str | None:
    """``context.page.url``: where the event happened, set by Segment's web SDK."""
    page = event.context.get("page")
    return text(page.get("url")) if isinstance(page, dict) else None


def context_email(event: Event) -> str | None:
    """``context.traits.email``: how server-side SDKs attach a user's email to a track."""
    traits = event.context.get("traits")
    return text(traits.get("email")) if isinstance(traits, dict) else None


def identify_traits(event: Event) -> dict[str, Any]:
    """An identify's traits: ``context.traits`` merged under the top-level ``traits``,
    the top level winning key by key. RudderStack's SDKs send identify traits only in
    ``context.traits``; Segment's send them at the top level (and sometimes both)."""
    nested = event.context.get("traits")
    if not isinstance(nested, dict) or not nested:
        return event.traits
    return {**nested, **event.traits}
