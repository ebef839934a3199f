"""SPEC §4 custom track → POST /event."""

from __future__ import annotations

import pytest

from sailbridge.mapping.plan import Deliver, Fail
from sailbridge.sailthru.calls import Call

from .builders import event, only_call, plan, track


def test_custom_event_posts_the_event_by_extid() -> None:
    result = plan(track("Registered", {"plan": "pro"}, userId="u1"))
    assert only_call(result) == Call(
        "POST",
        "/event",
        {"id": "u1", "key": "extid", "event": "Registered", "vars": {"plan": "pro"}},
    )


def test_custom_event_name_is_sent_as_written() -> None:
    assert only_call(plan(track("played_game  v2"))).params["event"] == "played_game  v2"


def test_custom_event_without_properties_sends_no_vars() -> None:
    assert "vars" not in only_call(plan(track("Registered"))).params


def test_custom_event_of_an_anonymous_visitor_uses_the_anonymous_id() -> None:
    anonymous = event("track", event="Registered", anonymousId="anon-1")
    assert only_call(plan(anonymous)).params["id"] == "anon-1"


@pytest.mark.parametrize(
    "name", ["send", "cancel", "open", "click", "purchase", "daily", "Purchase", " OPEN "]
)
def test_reserved_event_names_fail_before_any_call(name: str) -> None:
    result = plan(track(name))
    assert isinstance(result, Fail)
    assert repr(name) in result.reason
    assert "Sailthru" in result.reason and "rejects" in result.reason


@pytest.mark.parametrize("name", ["Sent", "Clicked Button", "purchase made", "send_off"])
def test_names_merely_containing_a_reserved_word_are_sent(name: str) -> None:
    assert isinstance(plan(track(name)), Deliver)
