"""Destination filters (docs/filters.md): reading the rules, and the pure evaluation
`plan_event` runs before the mapping."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.events import Event
from sailbridge.mapping.filters import (
    Filtered,
    FilterError,
    FilterSet,
    Passed,
    apply_filters,
    parse_filters,
    sample_point,
)
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, Skip

from .builders import event, identify, only_call, plan, track


def rules(*raw: dict[str, Any]) -> FilterSet:
    return parse_filters(list(raw))


def verdict(
    filters: FilterSet, subject: Event, write_key: str | None = "wk-web"
) -> Passed | Filtered:
    return apply_filters(filters, subject, write_key)


def when(condition: dict[str, Any], subject: Event, write_key: str | None = "wk-web") -> bool:
    rule = parse_filters([{"name": "c", "action": "drop", "when": condition}]).rules[0]
    assert rule.test is not None
    return rule.test(subject, write_key)


# -- conditions -------------------------------------------------------------------------


def test_type_condition_matches_the_event_type() -> None:
    assert when({"type": "identify"}, identify())
    assert not when({"type": "identify"}, track("Signed Up"))
    assert when({"type": ["page", "track"]}, track("Signed Up"))


@pytest.mark.parametrize(
    "spelling",
    ["Product Viewed", "product_viewed", "productViewed", "PRODUCT-VIEWED", " product viewed "],
)
def test_event_name_is_matched_as_track_names_are(spelling: str) -> None:
    assert when({"event": spelling}, track("Product Viewed"))
    assert when({"event": "Product Viewed"}, track(spelling.strip()))


def test_event_condition_is_only_for_track_events() -> None:
    assert not when({"event": "Home"}, event("page", userId="u", name="Home"))
    assert when({"field": "name", "equals": "Home"}, event("page", userId="u", name="Home"))


def test_write_key_condition() -> None:
    assert when({"write_key": "wk-web"}, track("A"), "wk-web")
    assert not when({"write_key": ["wk-ios", "wk-android"]}, track("A"), "wk-web")
    assert not when({"write_key": "wk-web"}, track("A"), None)


def test_field_equals_reads_nested_paths() -> None:
    subject = track("A", {"plan": "pro"}, context={"page": {"url": "https://x.test/a"}})
    assert when({"field": "properties.plan", "equals": "pro"}, subject)
    assert not when({"field": "properties.plan", "equals": "free"}, subject)
    assert when({"field": "context.page.url", "equals": "https://x.test/a"}, subject)
    assert not when({"field": "context.page.referrer", "equals": "https://x.test/a"}, subject)
    assert when({"field": "traits.plan", "equals": "gold"}, identify({"plan": "gold"}))
    assert when({"field": "userId", "equals": "user-1"}, subject)


def test_field_equals_is_json_equality() -> None:
    subject = track("A", {"flag": True, "count": 1, "code": "1", "price": 2.0})
    assert when({"field": "properties.flag", "equals": True}, subject)
    assert not when({"field": "properties.count", "equals": True}, subject)
    assert not when({"field": "properties.flag", "equals": 1}, subject)
    assert when({"field": "properties.count", "equals": 1.0}, subject)
    assert not when({"field": "properties.code", "equals": 1}, subject)
    assert when({"field": "properties.price", "equals": 2}, subject)


def test_field_one_of() -> None:
    subject = track("A", {"plan": "pro"})
    assert when({"field": "properties.plan", "one_of": ["free", "pro"]}, subject)
    assert not when({"field": "properties.plan", "one_of": ["free", "team"]}, subject)


def test_field_exists_counts_null_as_present() -> None:
    subject = track("A", {"coupon": None})
    assert when({"field": "properties.coupon", "exists": True}, subject)
    assert not when({"field": "properties.discount", "exists": True}, subject)
    assert when({"field": "properties.discount", "exists": False}, subject)
    assert not when({"field": "properties.coupon.code", "exists": True}, subject)


def test_field_path_reads_into_lists_by_index() -> None:
    subject = track("A", {"products": [{"sku": "s1"}, {"sku": "s2"}]})
    assert when({"field": "properties.products.1.sku", "equals": "s2"}, subject)
    assert not when({"field": "properties.products.2.sku", "exists": True}, subject)


def test_field_matches_searches_strings_only() -> None:
    subject = track("A", {"n": 42}, context={"page": {"url": "https://shop.test/checkout?x"}})
    assert when({"field": "context.page.url", "matches": "/checkout"}, subject)
    assert not when({"field": "context.page.url", "matches": "^/checkout"}, subject)
    assert not when({"field": "properties.n", "matches": "42"}, subject)


def test_all_any_not_combine() -> None:
    subject = track("Product Viewed", {"plan": "pro"})
    pro = {"field": "properties.plan", "equals": "pro"}
    viewed = {"event": "Product Viewed"}
    assert when({"all": [pro, viewed]}, subject)
    assert not when({"all": [pro, {"type": "page"}]}, subject)
    assert when({"any": [{"type": "page"}, viewed]}, subject)
    assert not when({"any": [{"type": "page"}, {"event": "Other"}]}, subject)
    assert when({"not": {"type": "page"}}, subject)
    assert not when({"not": viewed}, subject)


@given(st.booleans(), st.booleans())
def test_combinators_are_boolean_logic(left: bool, right: bool) -> None:
    subject = track("A", {"l": left, "r": right})
    first = {"field": "properties.l", "equals": True}
    second = {"field": "properties.r", "equals": True}
    assert when({"all": [first, second]}, subject) is (left and right)
    assert when({"any": [first, second]}, subject) is (left or right)
    assert when({"not": {"all": [first, second]}}, subject) is not (left and right)


# -- actions -----------------------------------------------------------------------------


def test_drop_skips_matching_events_with_the_rule_name() -> None:
    filters = rules({"name": "no tests", "action": "drop", "when": {"event": "Test Event"}})
    result = verdict(filters, track("Test Event"))
    assert isinstance(result, Filtered) and isinstance(result, Skip)
    assert result.rule == "no tests" and "no tests" in result.reason
    assert isinstance(verdict(filters, track("Signed Up")), Passed)


def test_only_send_skips_what_does_not_match() -> None:
    filters = rules(
        {
            "name": "LO events",
            "action": "only_send",
            "when": {"event": ["Order Completed", "Signed Up"]},
        }
    )
    assert isinstance(verdict(filters, track("signed_up")), Passed)
    result = verdict(filters, track("Product Viewed"))
    assert isinstance(result, Filtered) and result.rule == "LO events"


def test_sample_keeps_a_person_all_in_or_all_out() -> None:
    filters = rules(
        {
            "name": "ten percent",
            "action": "sample",
            "share": 0.1,
            "when": {"event": "Product Viewed"},
        }
    )
    kept = {
        user
        for user in (f"user-{n}" for n in range(2000))
        if isinstance(verdict(filters, track("Product Viewed", userId=user)), Passed)
    }
    assert 140 <= len(kept) <= 260  # 10 % of 2000, give or take
    for user in list(kept)[:20]:
        assert all(
            isinstance(verdict(filters, track("Product Viewed", {"n": n}, userId=user)), Passed)
            for n in range(5)
        )
    assert isinstance(verdict(filters, track("Signed Up", userId="user-999999")), Passed)


@given(st.text(min_size=1).filter(str.strip), st.floats(min_value=0.001, max_value=0.999))
def test_sample_is_decided_by_the_user_key_alone(user: str, share: float) -> None:
    filters = rules({"name": "s", "action": "sample", "share": share})
    subject = track("A", userId=user)
    expected = sample_point(user) < share
    assert isinstance(verdict(filters, subject), Passed) is expected
    assert 0 <= sample_point(user) < 1


def test_sample_point_is_stable_across_releases() -> None:
    # blake2b, never Python's salted hash(): the same person lands in the same place in
    # every process, so a restart does not reshuffle who is sampled
    assert sample_point("user-1") == pytest.approx(sample_point("user-1"))
    assert round(sample_point("user-1"), 6) == round(
        int.from_bytes(__import__("hashlib").blake2b(b"user-1", digest_size=8).digest(), "big")
        / 2**64,
        6,
    )


def test_drop_fields_removes_paths_and_leaves_the_rest() -> None:
    filters = rules(
        {
            "name": "no ip",
            "action": "drop_fields",
            "fields": ["context.ip", "properties.card.number", "properties.absent"],
        }
    )
    subject = track(
        "A",
        {"card": {"number": "4111", "brand": "visa"}, "sku": "s"},
        context={"ip": "1.2.3.4", "locale": "fr"},
    )
    result = verdict(filters, subject)
    assert isinstance(result, Passed)
    assert result.event.context == {"locale": "fr"}
    assert result.event.properties == {"card": {"brand": "visa"}, "sku": "s"}
    assert subject.context["ip"] == "1.2.3.4"  # the original is untouched
    assert result.notes and "no ip" in result.notes[0]


def test_keep_fields_keeps_only_the_listed_fields_of_the_roots_it_names() -> None:
    filters = rules(
        {
            "name": "keep",
            "action": "keep_fields",
            "fields": ["properties.sku", "properties.shipping.city"],
        }
    )
    subject = track(
        "A",
        {"sku": "s", "price": 3, "shipping": {"city": "Lyon", "zip": "69"}},
        context={"ip": "1.2.3.4"},
    )
    result = verdict(filters, subject)
    assert isinstance(result, Passed)
    assert result.event.properties == {"sku": "s", "shipping": {"city": "Lyon"}}
    assert result.event.context == {"ip": "1.2.3.4"}


def test_field_rules_apply_only_when_their_condition_matches() -> None:
    filters = rules(
        {
            "name": "strip",
            "action": "drop_fields",
            "fields": ["properties.x"],
            "when": {"type": "page"},
        }
    )
    result = verdict(filters, track("A", {"x": 1}))
    assert isinstance(result, Passed) and result.event.properties == {"x": 1}
    assert result.notes == ()


def test_rules_run_in_order_and_later_rules_see_dropped_fields() -> None:
    filters = rules(
        {"name": "strip plan", "action": "drop_fields", "fields": ["properties.plan"]},
        {
            "name": "drop pro",
            "action": "drop",
            "when": {"field": "properties.plan", "equals": "pro"},
        },
    )
    assert isinstance(verdict(filters, track("A", {"plan": "pro"})), Passed)
    reversed_filters = FilterSet(tuple(reversed(filters.rules)))
    assert isinstance(verdict(reversed_filters, track("A", {"plan": "pro"})), Filtered)


def test_no_rules_pass_the_event_itself() -> None:
    subject = track("A")
    result = verdict(FilterSet(), subject)
    assert isinstance(result, Passed) and result.event is subject


# -- in planning -----------------------------------------------------------------------


def test_planning_maps_the_filtered_event() -> None:
    options = MappingOptions(
        filters=rules({"name": "no ip", "action": "drop_fields", "fields": ["properties.secret"]})
    )
    call = only_call(plan(track("Signed Up", {"secret": "s", "plan": "pro"}), options))
    assert "secret" not in str(call.params) and "pro" in str(call.params)


def test_planning_skips_with_the_rule_name() -> None:
    options = MappingOptions(
        filters=rules({"name": "no tests", "action": "drop", "when": {"event": "Test"}})
    )
    result = plan(track("Test"), options)
    assert isinstance(result, Filtered) and result.rule == "no tests"
    assert isinstance(plan(track("Signed Up"), options), Deliver)


def test_integrations_object_is_read_before_the_filters() -> None:
    options = MappingOptions(
        filters=rules({"name": "everything", "action": "drop", "when": {"type": "track"}})
    )
    result = plan(track("A", integrations={"Sailthru": False}), options)
    assert isinstance(result, Skip) and not isinstance(result, Filtered)


# -- rules written wrong: one line naming the rule ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"name": "r", "action": "drop", "when": {"field": "prop.x", "exists": True}},
            "rule 1 ('r'): when.field: unknown field root 'prop' in 'prop.x'",
        ),
        (
            {"name": "r", "action": "drop", "when": {"field": "properties.x", "matches": "(["}},
            "rule 1 ('r'): when: matches '([' is not a valid regular expression",
        ),
        ({"name": "r", "action": "only_send"}, "rule 1 ('r'): only_send needs a condition"),
        ({"name": "r", "action": "drop"}, "rule 1 ('r'): drop needs a condition"),
        ({"name": "r", "action": "forward"}, "rule 1 ('r'): unknown action 'forward'"),
        ({"name": "r", "action": "sample", "share": 10}, "share must be above 0 and below 1"),
        ({"name": "r", "action": "sample", "share": 0}, "share must be above 0 and below 1"),
        ({"name": "r", "action": "sample"}, "share is for action sample, which needs one"),
        ({"name": "r", "action": "sample", "share": "10%"}, "got `str` - at `$.share`"),
        (
            {"name": "r", "action": "drop", "share": 0.5, "when": {"type": "track"}},
            "share is only for action sample",
        ),
        ({"name": "r", "action": "drop_fields"}, "drop_fields needs fields"),
        (
            {"name": "r", "action": "drop_fields", "fields": ["userId"]},
            "unknown field root 'userId'",
        ),
        ({"name": "r", "action": "keep_fields", "fields": ["properties"]}, "names a whole object"),
        ({"name": "r", "action": "drop", "when": {"type": "trak"}}, "unknown event type 'trak'"),
        (
            {"name": "r", "action": "drop", "when": {"type": "track", "event": "A"}},
            "exactly one of",
        ),
        (
            {"name": "r", "action": "drop", "when": {"field": "properties.x"}},
            "needs exactly one of equals, one_of, exists, matches",
        ),
        (
            {"name": "r", "action": "drop", "when": {"event": "A", "equals": 1}},
            "equals goes with field",
        ),
        ({"name": "r", "action": "drop", "when": {"any": []}}, "any needs at least one condition"),
        (
            {"name": "r", "action": "drop", "when": {"not": {"field": "x.y", "exists": True}}},
            "when.not.field: unknown field root 'x'",
        ),
        (
            {"name": "r", "action": "drop", "when": {"type": "track", "color": "red"}},
            "unknown field `color`",
        ),
        (
            {"action": "drop", "when": {"type": "track"}},
            "rule 1: Object missing required field `name`",
        ),
        ({"name": " ", "action": "drop", "when": {"type": "track"}}, "name is blank"),
        ("drop everything", "rule 1: Expected `object`, got `str`"),
    ],
)
def test_a_rule_written_wrong_is_one_line_naming_it(raw: Any, problem: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filters([raw])
    message = str(caught.value)
    assert problem in message, message
    assert "\n" not in message


def test_two_rules_with_one_name_are_refused() -> None:
    with pytest.raises(FilterError, match="two rules are named 'r'"):
        rules(
            {"name": "r", "action": "drop", "when": {"type": "page"}},
            {"name": "r", "action": "drop", "when": {"type": "screen"}},
        )


def test_the_second_rule_is_named_by_its_position() -> None:
    with pytest.raises(FilterError, match=re.escape("rule 2 ('b')")):
        rules(
            {"name": "a", "action": "drop", "when": {"type": "page"}},
            {"name": "b", "action": "only_send"},
        )


def test_action_spellings_are_forgiving() -> None:
    filters = rules({"name": "a", "action": "Only-Send", "when": {"type": "track"}})
    assert filters.rules[0].action == "only_send"
