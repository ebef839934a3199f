"""Consent (Segment Consent Management): the destination's categories against the
event's ``context.consent.categoryPreferences``, checked before anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sailbridge.mapping.consent import ConsentPolicy, WithoutConsent, consent_verdict
from sailbridge.mapping.filters import parse_filters
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, Skip

from .builders import plan, track

ADS_AND_EMAIL = ConsentPolicy(("Advertising", "Email"))


def consented(preferences: Any, **fields: Any) -> Any:
    return track("Signed Up", context={"consent": {"categoryPreferences": preferences}}, **fields)


def test_every_category_granted_flows() -> None:
    subject = consented({"Advertising": True, "Email": True, "Analytics": False})
    assert consent_verdict(subject, ADS_AND_EMAIL) == "consent granted for Advertising, Email"
    assert isinstance(plan(subject, MappingOptions(consent=ADS_AND_EMAIL)), Deliver)


def test_a_declined_category_skips_with_its_name() -> None:
    subject = consented({"Advertising": True, "Email": False})
    result = plan(subject, MappingOptions(consent=ADS_AND_EMAIL))
    assert isinstance(result, WithoutConsent) and isinstance(result, Skip)
    assert result.category == "Email"
    assert result.reason == "no consent for category 'Email' (declined)"


def test_a_category_not_in_the_preferences_is_not_granted() -> None:
    result = consent_verdict(consented({"Advertising": True}), ADS_AND_EMAIL)
    assert isinstance(result, WithoutConsent) and result.category == "Email"
    assert "not given" in result.reason


def test_only_a_true_grants() -> None:
    for value in ("true", 1, None, {}):
        result = consent_verdict(consented({"Advertising": value, "Email": True}), ADS_AND_EMAIL)
        assert isinstance(result, WithoutConsent) and result.category == "Advertising"


def test_events_without_the_consent_object_flow_unless_consent_is_required() -> None:
    bare = track("Signed Up")
    assert "sent unenforced" in str(consent_verdict(bare, ADS_AND_EMAIL))
    assert isinstance(plan(bare, MappingOptions(consent=ADS_AND_EMAIL)), Deliver)
    required = ConsentPolicy(("Advertising",), required=True)
    result = plan(bare, MappingOptions(consent=required))
    assert isinstance(result, WithoutConsent) and result.category is None
    odd = track("Signed Up", context={"consent": {"categoryPreferences": ["Advertising"]}})
    assert isinstance(consent_verdict(odd, required), WithoutConsent)


def test_no_categories_means_no_enforcement() -> None:
    subject = consented({"Advertising": False})
    assert consent_verdict(subject, ConsentPolicy()) is None
    assert isinstance(plan(subject), Deliver)


def test_consent_is_read_before_the_integrations_object() -> None:
    subject = consented(
        {"Advertising": False, "Email": True}, integrations={"All": False, "Sailthru": True}
    )
    result = plan(subject, MappingOptions(consent=ADS_AND_EMAIL))
    assert isinstance(result, WithoutConsent)
    granted = consented({"Advertising": True, "Email": True}, integrations={"Sailthru": False})
    result = plan(granted, MappingOptions(consent=ADS_AND_EMAIL))
    assert isinstance(result, Skip) and not isinstance(result, WithoutConsent)
    assert "integrations.Sailthru is false" in result.reason


def test_consent_is_read_before_the_filters() -> None:
    options = MappingOptions(
        consent=ADS_AND_EMAIL,
        filters=parse_filters([{"name": "all", "action": "drop", "when": {"type": "track"}}]),
    )
    assert isinstance(plan(consented({"Email": False}), options), WithoutConsent)


def test_a_deletion_is_sent_whatever_the_consent() -> None:
    subject = track("User Deleted", context={"consent": {"categoryPreferences": {}}})
    options = MappingOptions(consent=ConsentPolicy(("Advertising",), required=True))
    assert isinstance(plan(subject, options), Deliver)


@given(st.dictionaries(st.sampled_from(["Advertising", "Email", "Analytics"]), st.booleans()))
def test_an_event_flows_exactly_when_every_category_is_true(preferences: dict[str, bool]) -> None:
    result = consent_verdict(consented(preferences), ADS_AND_EMAIL)
    granted = preferences.get("Advertising") is True and preferences.get("Email") is True
    assert isinstance(result, WithoutConsent) is not granted
    if not granted:
        assert isinstance(result, WithoutConsent)
        first = next(c for c in ADS_AND_EMAIL.categories if preferences.get(c) is not True)
        assert result.category == first
