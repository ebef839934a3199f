"""page (and, optionally, screen) → Sailthru's pageview tracking call (SPEC §1, §4).

Pageviews have no REST endpoint: they go to the sail-track API, authorised by the
customer id instead of an md5 signature, which is why they need that setting.
"""

from __future__ import annotations

from typing import Any, Final

from sailbridge.events import Event
from sailbridge.mapping.context import page_url
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, Plan, Skip
from sailbridge.mapping.routing import require_user_key
from sailbridge.mapping.values import string_list, text
from sailbridge.sailthru.calls import Call

PAGEVIEW_ENDPOINT: Final = "/v1/track/event/pageview"


def plan_page(event: Event, options: MappingOptions) -> Plan:
    """A pageview at ``context.page.url``, else ``properties.url``."""
    if text(options.customer_id) is None:
        return Skip("page tracking needs a Sailthru customer id, and none is configured")
    url = page_url(event) or text(event.properties.get("url"))
    if url is None:
        raise Unmappable("page has no context.page.url or properties.url; a pageview needs a url")
    return _pageview(event, url)


def plan_screen(event: Event, options: MappingOptions) -> Plan:
    """A pageview for a screen, when screens are tracked as pageviews and name a url.

    Apps have no page url of their own, so only screens that say which web page
    they stand for (``properties.url``) can become pageviews.
    """
    if not options.track_screens_as_pageviews:
        return Skip("screens are not tracked as pageviews (the setting is off)")
    url = text(event.properties.get("url"))
    if url is None:
        return Skip("screen has no properties.url, so it cannot be a pageview")
    if text(options.customer_id) is None:
        return Skip("screen tracking needs a Sailthru customer id, and none is configured")
    return _pageview(event, url)


def _pageview(event: Event, url: str) -> Deliver:
    """The call; ``tags`` from ``properties.keywords`` for sites Sailthru cannot scrape."""
    params: dict[str, Any] = {
        "userIdKey": "extid",
        "userIdValue": require_user_key(event),
        "url": url,
    }
    tags = string_list(event.properties.get("keywords"))
    if tags is not None:
        params["tags"] = tags
    return Deliver(calls=(Call("POST", PAGEVIEW_ENDPOINT, params, api="pageview"),))
