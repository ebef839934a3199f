"""Identify traits from ``context.traits`` (RudderStack) merged under top-level ``traits``."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sailbridge.mapping.context import identify_traits
from sailbridge.mapping.plan import Deliver, Facts, ProfileState, RememberEmail

from .builders import identify, params, plan


def test_traits_only_in_context_become_vars_and_the_email_key() -> None:
    result = plan(identify(context={"traits": {"email": "r@example.com", "plan": "pro"}}))
    assert params(result)["keys"] == {"email": "r@example.com"}
    assert params(result)["vars"] == {"email": "r@example.com", "plan": "pro"}


def test_traits_only_in_context_teach_the_email_for_later_purchases() -> None:
    result = plan(identify(context={"traits": {"email": "r@example.com"}}))
    assert isinstance(result, Deliver)
    assert result.remember == (RememberEmail("user-1", "r@example.com"),)


def test_top_level_traits_win_key_by_key() -> None:
    result = plan(
        identify(
            {"email": "top@example.com", "name": "Top"},
            context={"traits": {"email": "ctx@example.com", "city": "Oslo"}},
        )
    )
    assert params(result)["keys"] == {"email": "top@example.com"}
    assert params(result)["vars"] == {"email": "top@example.com", "name": "Top", "city": "Oslo"}


def test_a_blank_top_level_email_wins_over_the_context_one_and_sends_no_key() -> None:
    result = plan(identify({"email": " "}, context={"traits": {"email": "ctx@example.com"}}))
    assert "keys" not in params(result)


def test_the_context_email_fills_in_when_the_top_level_has_none() -> None:
    result = plan(identify({"name": "N"}, context={"traits": {"email": "ctx@example.com"}}))
    assert params(result)["keys"] == {"email": "ctx@example.com"}


def test_objects_are_not_merged_deeply_the_top_level_value_replaces() -> None:
    result = plan(
        identify(
            {"address": {"city": "Paris"}},
            context={"traits": {"address": {"street": "Rue 1", "city": "X"}}},
        )
    )
    assert params(result)["vars"] == {"address_city": "Paris"}


def test_context_traits_that_are_not_an_object_are_ignored() -> None:
    for odd in ("email@example.com", ["a"], 3, None):
        result = plan(identify({"name": "N"}, context={"traits": odd}))
        assert params(result)["vars"] == {"name": "N"}
        assert "keys" not in params(result)


def test_no_traits_anywhere_sends_no_vars_and_no_keys() -> None:
    assert set(params(plan(identify(context={"traits": {}})))) == {"id", "key"}


def test_the_anonymous_merge_carries_the_context_email() -> None:
    event = identify(anonymousId="anon-1", context={"traits": {"email": "m@example.com"}})
    result = plan(event, facts=Facts(anonymous_profile=ProfileState.EXISTS))
    assert params(result)["keys"] == {"extid": "user-1", "email": "m@example.com"}
    assert params(result)["vars"] == {"email": "m@example.com"}


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
_traits = st.dictionaries(st.sampled_from(["email", "name", "plan", "a", "b"]), _values, max_size=5)


@given(_traits, _traits)
def test_the_merge_is_the_context_under_the_top_level(
    top: dict[str, Any], nested: dict[str, Any]
) -> None:
    event = identify(top, context={"traits": nested})
    assert identify_traits(event) == {**nested, **top}
