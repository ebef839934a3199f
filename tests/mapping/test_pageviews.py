"""SPEC §4 page and screen → the pageview tracking call."""

from __future__ import annotations

from typing import Any

import pytest

from sailbridge.events import Event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Fail, Skip
from sailbridge.sailthru.calls import Call

from .builders import event, only_call, params, plan

CUSTOMER = MappingOptions(customer_id="cust-1")
SCREENS = MappingOptions(customer_id="cust-1", track_screens_as_pageviews=True)


def page(**fields: Any) -> Event:
    fields.setdefault("userId", "u1")
    fields.setdefault("context", {"page": {"url": "https://site/home"}})
    return event("page", name="Home", **fields)


def screen(properties: dict[str, Any] | None = None, **fields: Any) -> Event:
    fields.setdefault("userId", "u1")
    return event("screen", name="Home", properties=properties or {}, **fields)


def test_page_without_a_customer_id_is_skipped() -> None:
    result = plan(page())
    assert isinstance(result, Skip) and "customer id" in result.reason


def test_page_posts_a_pageview_for_the_user_key() -> None:
    assert only_call(plan(page(), CUSTOMER)) == Call(
        "POST",
        "/v1/track/event/pageview",
        {"userIdKey": "extid", "userIdValue": "u1", "url": "https://site/home"},
        api="pageview",
    )


def test_page_of_an_anonymous_visitor_uses_the_anonymous_id() -> None:
    anonymous = page(userId=None, anonymousId="anon-1")
    assert params(plan(anonymous, CUSTOMER))["userIdValue"] == "anon-1"


def test_page_url_comes_from_context_page_first() -> None:
    both = page(properties={"url": "https://site/props"})
    assert params(plan(both, CUSTOMER))["url"] == "https://site/home"


def test_page_url_falls_back_to_properties_url() -> None:
    only_props = page(context={}, properties={"url": "https://site/props"})
    assert params(plan(only_props, CUSTOMER))["url"] == "https://site/props"


def test_page_without_any_url_fails() -> None:
    result = plan(page(context={}), CUSTOMER)
    assert isinstance(result, Fail) and "needs a url" in result.reason


def test_page_keywords_become_tags() -> None:
    tagged = page(properties={"keywords": ["football", "new york giants", "eli manning"]})
    assert params(plan(tagged, CUSTOMER))["tags"] == ["football", "new york giants", "eli manning"]


def test_page_keywords_as_a_comma_separated_string_are_split_and_trimmed() -> None:
    tagged = page(properties={"keywords": "football, new york giants ,eli manning"})
    assert params(plan(tagged, CUSTOMER))["tags"] == ["football", "new york giants", "eli manning"]


@pytest.mark.parametrize("keywords", [None, [], "", [1, 2], {"a": "b"}])
def test_page_without_usable_keywords_sends_no_tags(keywords: Any) -> None:
    assert "tags" not in params(plan(page(properties={"keywords": keywords}), CUSTOMER))


def test_screen_is_skipped_unless_screens_are_tracked_as_pageviews() -> None:
    result = plan(screen({"url": "https://site/home"}), CUSTOMER)
    assert isinstance(result, Skip) and "setting is off" in result.reason


def test_screen_without_properties_url_is_skipped() -> None:
    result = plan(screen(), SCREENS)
    assert isinstance(result, Skip) and "properties.url" in result.reason


def test_screen_without_a_customer_id_is_skipped() -> None:
    settings = MappingOptions(track_screens_as_pageviews=True)
    result = plan(screen({"url": "https://site/home"}), settings)
    assert isinstance(result, Skip) and "customer id" in result.reason


def test_screen_with_a_url_becomes_a_pageview_when_enabled() -> None:
    tagged = screen({"url": "https://site/home", "keywords": ["app"]})
    assert only_call(plan(tagged, SCREENS)) == Call(
        "POST",
        "/v1/track/event/pageview",
        {"userIdKey": "extid", "userIdValue": "u1", "url": "https://site/home", "tags": ["app"]},
        api="pageview",
    )
