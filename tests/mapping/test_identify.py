"""SPEC §4 identify → POST /user, and the merge of an anonymous profile."""

from __future__ import annotations

import pytest

from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import (
    Deliver,
    Facts,
    Fail,
    Lookup,
    ProfileLookup,
    ProfileState,
    RememberEmail,
    RememberMerge,
)
from sailbridge.sailthru.calls import Call

from .builders import identify, only_call, params, plan


def test_identify_posts_the_user_by_extid() -> None:
    assert only_call(plan(identify(userId="u1"))) == Call(
        "POST", "/user", {"id": "u1", "key": "extid"}
    )


def test_identify_with_an_email_sends_it_as_the_email_key() -> None:
    result = plan(identify({"email": "neil@example.com"}))
    assert params(result)["keys"] == {"email": "neil@example.com"}


def test_identify_without_email_sends_no_keys() -> None:
    assert "keys" not in params(plan(identify({"name": "Neil"})))


def test_identify_ignores_a_blank_email() -> None:
    assert "keys" not in params(plan(identify({"email": "  "})))


def test_identify_sends_all_traits_flattened_as_vars() -> None:
    traits = {"email": "h@example.com", "name": "Hamurai", "address": {"city": "Paris"}}
    assert params(plan(identify(traits)))["vars"] == {
        "email": "h@example.com",
        "name": "Hamurai",
        "address_city": "Paris",
    }


def test_identify_without_traits_sends_no_vars() -> None:
    assert "vars" not in params(plan(identify()))


def test_identify_adds_the_user_to_the_default_list_setting() -> None:
    result = plan(identify(), MappingOptions(default_list_name="Everyone"))
    assert params(result)["lists"] == {"Everyone": 1}


def test_identify_list_override_beats_the_default_list_setting() -> None:
    overridden = identify(integrations={"Sailthru": {"defaultListName": "testingList"}})
    result = plan(overridden, MappingOptions(default_list_name="Everyone"))
    assert params(result)["lists"] == {"testingList": 1}


def test_identify_without_any_list_sends_no_lists() -> None:
    assert "lists" not in params(plan(identify()))


def test_identify_never_defaults_the_optout_to_none() -> None:
    assert "optout_email" not in params(plan(identify({"email": "a@example.com"})))


def test_identify_sends_the_configured_optout_setting() -> None:
    result = plan(identify(), MappingOptions(optout_value="all"))
    assert params(result)["optout_email"] == "all"


def test_identify_optout_override_beats_the_setting() -> None:
    overridden = identify(integrations={"Sailthru": {"optoutValue": "basic"}})
    result = plan(overridden, MappingOptions(optout_value="all"))
    assert params(result)["optout_email"] == "basic"


def test_identify_optout_is_matched_ignoring_case_and_sent_lower_case() -> None:
    shouted = identify(integrations={"Sailthru": {"optoutValue": "BLAST"}})
    assert params(plan(shouted))["optout_email"] == "blast"


def test_identify_with_an_invalid_optout_override_fails_naming_the_value_and_the_allowed_ones() -> (
    None
):
    result = plan(identify(integrations={"Sailthru": {"optoutValue": "everything"}}))
    assert isinstance(result, Fail)
    assert "'everything'" in result.reason
    assert "none, basic, blast, all" in result.reason


def test_identify_with_an_invalid_optout_setting_fails() -> None:
    result = plan(identify(), MappingOptions(optout_value="sometimes"))  # type: ignore[arg-type]
    assert isinstance(result, Fail)
    assert "'sometimes'" in result.reason and "setting" in result.reason


def test_identify_remembers_the_email_it_sends() -> None:
    result = plan(identify({"email": "neil@example.com"}, userId="u1"))
    assert isinstance(result, Deliver)
    assert result.remember == (RememberEmail("u1", "neil@example.com"),)


def test_identify_without_email_remembers_nothing() -> None:
    result = plan(identify({"name": "Neil"}))
    assert isinstance(result, Deliver) and result.remember == ()


def test_identify_of_an_anonymous_visitor_posts_by_anonymous_id() -> None:
    anonymous = identify({"plan": "free"}, userId=None, anonymousId="anon-1")
    assert params(plan(anonymous)) == {"id": "anon-1", "key": "extid", "vars": {"plan": "free"}}


# --- merging the anonymous profile -------------------------------------------------


def test_identify_with_a_new_anonymous_id_first_looks_up_the_anonymous_profile() -> None:
    result = plan(identify(userId="u1", anonymousId="anon-1"))
    assert result == Lookup(ProfileLookup(anonymous_id="anon-1", user_id="u1"))


def test_identify_whose_anonymous_id_equals_its_user_id_needs_no_lookup() -> None:
    result = plan(identify(userId="same", anonymousId="same"))
    assert isinstance(result, Deliver)


def test_an_invalid_optout_fails_before_the_profile_lookup() -> None:
    bad = identify(
        userId="u1", anonymousId="anon-1", integrations={"Sailthru": {"optoutValue": "x"}}
    )
    assert isinstance(plan(bad), Fail)


def test_an_existing_anonymous_profile_is_merged_into_the_user() -> None:
    merging = identify(
        {"email": "neil@example.com"},
        userId="u1",
        anonymousId="anon-1",
        integrations={"Sailthru": {"optoutValue": "basic"}},
    )
    facts = Facts(anonymous_profile=ProfileState.EXISTS)
    result = plan(merging, MappingOptions(default_list_name="Everyone"), facts)
    assert only_call(result) == Call(
        "POST",
        "/user",
        {
            "id": "anon-1",
            "key": "extid",
            "keys": {"extid": "u1", "email": "neil@example.com"},
            "keysconflict": "merge",
            "vars": {"email": "neil@example.com"},
            "lists": {"Everyone": 1},
            "optout_email": "basic",
        },
    )


def test_a_merge_without_email_sends_only_the_extid_key() -> None:
    merging = identify(userId="u1", anonymousId="anon-1")
    result = plan(merging, facts=Facts(anonymous_profile=ProfileState.EXISTS))
    assert params(result)["keys"] == {"extid": "u1"}


def test_a_merge_remembers_the_resolved_pair_and_the_email() -> None:
    merging = identify({"email": "neil@example.com"}, userId="u1", anonymousId="anon-1")
    result = plan(merging, facts=Facts(anonymous_profile=ProfileState.EXISTS))
    assert isinstance(result, Deliver)
    assert result.remember == (
        RememberEmail("u1", "neil@example.com"),
        RememberMerge("anon-1", "u1"),
    )


def test_an_absent_anonymous_profile_gets_the_plain_post_and_the_pair_is_remembered() -> None:
    result = plan(
        identify(userId="u1", anonymousId="anon-1"),
        facts=Facts(anonymous_profile=ProfileState.ABSENT),
    )
    assert isinstance(result, Deliver)
    assert only_call(result).params == {"id": "u1", "key": "extid"}
    assert result.remember == (RememberMerge("anon-1", "u1"),)


def test_an_already_merged_pair_gets_the_plain_post_and_nothing_new_to_remember() -> None:
    facts = Facts(anonymous_profile=ProfileState.ALREADY_MERGED)
    result = plan(identify(userId="u1", anonymousId="anon-1"), facts=facts)
    assert isinstance(result, Deliver)
    assert only_call(result).params == {"id": "u1", "key": "extid"}
    assert result.remember == ()


@pytest.mark.parametrize("state", list(ProfileState))
def test_identify_without_a_user_id_never_merges(state: ProfileState) -> None:
    anonymous = identify(userId=None, anonymousId="anon-1")
    result = plan(anonymous, facts=Facts(anonymous_profile=state))
    assert params(result) == {"id": "anon-1", "key": "extid"}
