"""SPEC §4: the track events that change the profile, Subscribed and User Deleted."""

from __future__ import annotations

import pytest

from sailbridge.mapping.plan import Deliver, Facts, ForgetUser
from sailbridge.sailthru.calls import Call

from .builders import event, only_call, plan, track


def test_subscribed_with_a_list_adds_the_user_to_it_and_opts_them_in() -> None:
    result = plan(track("Subscribed", {"list": "Weekly Digest"}, userId="u1"))
    assert only_call(result) == Call(
        "POST",
        "/user",
        {"id": "u1", "key": "extid", "lists": {"Weekly Digest": 1}, "optout_email": "none"},
    )


def test_subscribed_is_matched_like_every_spec_name() -> None:
    assert only_call(plan(track("subscribed", {"list": "News"}))).endpoint == "/user"


@pytest.mark.parametrize("properties", [{}, {"list": ""}, {"list": 7}])
def test_subscribed_without_a_list_is_an_ordinary_custom_event(
    properties: dict[str, object],
) -> None:
    call = only_call(plan(track("Subscribed", properties)))
    assert (call.endpoint, call.params["event"]) == ("/event", "Subscribed")


def test_user_deleted_deletes_the_profile_by_extid() -> None:
    result = plan(track("User Deleted", userId="u1"))
    assert only_call(result) == Call("DELETE", "/user", {"id": "u1", "key": "extid"})


def test_user_deleted_of_an_anonymous_visitor_deletes_by_anonymous_id() -> None:
    anonymous = event("track", event="user_deleted", anonymousId="anon-1")
    assert only_call(plan(anonymous)).params == {"id": "anon-1", "key": "extid"}


def test_user_deleted_forgets_the_user_once_the_deletion_succeeded() -> None:
    result = plan(track("User Deleted", userId="u1"))
    assert isinstance(result, Deliver)
    assert result.remember == (ForgetUser("u1"),)


def test_user_deleted_needs_no_lookup_whatever_is_known() -> None:
    result = plan(track("User Deleted", userId="u1"), facts=Facts(email="a@example.com"))
    assert isinstance(result, Deliver) and result.remember == (ForgetUser("u1"),)
