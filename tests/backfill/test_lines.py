"""Job lines come from live delivery's own plan: the same vars, lists, items and reasons."""

from __future__ import annotations

from typing import Any

import pytest

from sailbridge.backfill.lines import (
    CART_NO_BULK,
    MERGE_NEEDS_EXTID,
    NO_EMAIL_FOR_UPDATE,
    JobLine,
    LineKey,
    NoBulkForm,
    backfill_facts,
    import_date,
    plan_line,
)
from sailbridge.events import event_from_dict
from sailbridge.mapping import plan_event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Deliver, EmailLookup, Fail, Lookup, RememberEmail, Skip

OPTIONS = MappingOptions(default_list_name="Main")


def line_for(
    raw: dict[str, Any],
    key: LineKey = "email",
    email: Any = None,
    options: MappingOptions = OPTIONS,
) -> Any:
    facts = backfill_facts(key) if email is None else backfill_facts(key, email)
    return plan_line(event_from_dict(raw), options, key, facts)


IDENTIFY = {
    "type": "identify",
    "userId": "u-1",
    "traits": {"email": "ada@example.com", "name": "Ada", "address": {"city": "Paris"}},
}
ORDER = {
    "type": "track",
    "userId": "u-1",
    "event": "Order Completed",
    "timestamp": "2024-02-01T10:00:00.123Z",
    "properties": {
        "order_id": 42,
        "tax": 1.5,
        "coupon": "SPRING",
        "products": [
            {
                "sku": "mug-1",
                "name": "Mug",
                "price": 12.99,
                "quantity": 2,
                "url": "https://shop/mug",
                "color": "blue",
            }
        ],
    },
}


def test_identify_by_email_keeps_only_the_documented_email_and_vars() -> None:
    planned = line_for(IDENTIFY)

    assert planned == JobLine(
        "update",
        {
            "email": "ada@example.com",
            "vars": {"email": "ada@example.com", "name": "Ada", "address_city": "Paris"},
        },
        {"update": {"lists": {"Main": 1}}},
        (RememberEmail("u-1", "ada@example.com"),),
    )


def test_identify_by_extid_is_the_live_post_user_without_job_wide_fields() -> None:
    live = plan_event(event_from_dict(IDENTIFY), OPTIONS)
    assert isinstance(live, Deliver)

    planned = line_for(IDENTIFY, key="extid")

    assert isinstance(planned, JobLine)
    assert planned.line == {k: v for k, v in live.calls[0].params.items() if k != "lists"}
    assert planned.line["key"] == "extid" and planned.line["id"] == "u-1"
    assert planned.job_params == {"update": {"lists": {"Main": 1}}}


def test_an_optout_override_goes_to_the_jobs_update_object() -> None:
    raw = IDENTIFY | {
        "integrations": {"Sailthru": {"optoutValue": "basic", "defaultListName": "VIP"}}
    }

    planned = line_for(raw)

    assert planned.job_params == {"update": {"lists": {"VIP": 1}, "optout": "basic"}}


def test_identify_without_email_has_no_bulk_form_by_email_but_has_one_by_extid() -> None:
    raw = {"type": "identify", "userId": "u-2", "traits": {"plan": "pro"}}

    assert line_for(raw) == NoBulkForm(NO_EMAIL_FOR_UPDATE)
    assert line_for(raw, key="extid").line == {"id": "u-2", "key": "extid", "vars": {"plan": "pro"}}


def test_a_login_identify_merges_the_anonymous_profile_only_by_extid() -> None:
    raw = IDENTIFY | {"anonymousId": "anon-1"}

    by_email = line_for(raw)
    by_extid = line_for(raw, key="extid")

    assert by_email.line["email"] == "ada@example.com" and "keysconflict" not in by_email.line
    assert by_extid.line["id"] == "anon-1" and by_extid.line["keysconflict"] == "merge"
    assert by_extid.line["keys"] == {"extid": "u-1", "email": "ada@example.com"}


def test_alias_is_a_merge_line_by_extid_and_has_no_bulk_form_by_email() -> None:
    raw = {"type": "alias", "previousId": "anon-1", "userId": "u-1"}

    assert line_for(raw) == NoBulkForm(MERGE_NEEDS_EXTID)
    assert line_for(raw, key="extid").line == {
        "id": "anon-1",
        "key": "extid",
        "keys": {"extid": "u-1"},
        "keysconflict": "merge",
    }


def test_subscribed_is_an_update_whose_job_opts_the_people_back_in() -> None:
    raw = {"type": "track", "userId": "u-1", "event": "Subscribed", "properties": {"list": "News"}}

    planned = line_for(raw, key="extid")

    assert planned.line == {"id": "u-1", "key": "extid"}
    assert planned.job_params == {"update": {"lists": {"News": 1}, "optout": "none"}}


def test_an_order_is_the_live_purchase_without_incomplete_and_with_the_import_date() -> None:
    raw = ORDER | {"context": {"traits": {"email": "ada@example.com"}}}

    planned = line_for(raw)

    assert planned == JobLine(
        "purchase_import",
        {
            "email": "ada@example.com",
            "items": [
                {
                    "id": "mug-1",
                    "title": "Mug",
                    "qty": 2,
                    "price": 1299,
                    "url": "https://shop/mug",
                    "vars": {"sku": "mug-1", "color": "blue"},
                }
            ],
            "adjustments": [{"title": "Tax", "price": 150}],
            "date": "2024-02-01 10:00:00 +0000",
            "purchase_keys": {"extid": "42"},
            "vars": {"order_id": 42, "tax": 1.5, "coupon": "SPRING"},
        },
        {},
        (RememberEmail("u-1", "ada@example.com"),),
    )


def test_an_order_without_its_own_email_asks_for_one_then_uses_the_one_found() -> None:
    assert line_for(ORDER) == Lookup(EmailLookup("u-1"))

    planned = line_for(ORDER, email="ada@example.com")

    assert isinstance(planned, JobLine) and planned.line["email"] == "ada@example.com"
    assert planned.remember == ()  # nothing new learned


def test_an_order_with_no_email_anywhere_fails_with_live_deliverys_reason() -> None:
    planned = plan_line(event_from_dict(ORDER), OPTIONS, "email", backfill_facts("email", None))

    assert isinstance(planned, Fail)
    assert planned.reason.startswith("no email is known for user 'u-1'")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            {"type": "track", "userId": "u", "event": "Played Game"},
            "custom events have no bulk form in Sailthru's Job API",
        ),
        (
            {
                "type": "track",
                "userId": "u",
                "event": "Product Added",
                "properties": {"product_id": "p", "price": 1, "url": "https://x"},
            },
            CART_NO_BULK,
        ),
        (
            {"type": "track", "userId": "u", "event": "User Deleted"},
            "user deletions have no bulk form in Sailthru's Job API",
        ),
        (
            {
                "type": "track",
                "userId": "u",
                "event": "Order Refunded",
                "properties": {
                    "email": "a@x.io",
                    "products": [{"product_id": "p", "price": 1, "url": "https://x"}],
                },
            },
            "returns (Order Refunded) have no bulk form in Sailthru's Job API",
        ),
    ],
)
def test_events_only_live_delivery_can_make_have_no_bulk_form(
    raw: dict[str, Any], reason: str
) -> None:
    assert line_for(raw) == NoBulkForm(reason)


def test_pageviews_have_no_bulk_form_when_they_would_be_sent_at_all() -> None:
    raw = {"type": "page", "userId": "u", "context": {"page": {"url": "https://x"}}}

    assert line_for(raw, options=MappingOptions(customer_id="c")) == NoBulkForm(
        "pageviews have no bulk form in Sailthru's Job API"
    )
    assert isinstance(line_for(raw), Skip)


def test_skips_and_failures_are_live_deliverys() -> None:
    off = IDENTIFY | {"integrations": {"Sailthru": False}}
    bad = IDENTIFY | {"integrations": {"Sailthru": {"optoutValue": "sometimes"}}}
    no_url = {
        "type": "track",
        "userId": "u",
        "event": "Order Completed",
        "context": {"traits": {"email": "a@example.com"}},
        "properties": {"products": [{"product_id": "p", "price": 1}]},
    }

    assert line_for(off) == Skip("integrations.Sailthru is false")
    assert isinstance(line_for(bad), Fail) and "sometimes" in line_for(bad).reason
    assert isinstance(line_for(no_url), Fail) and "no url" in line_for(no_url).reason


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-02-01T10:00:00.123Z", "2024-02-01 10:00:00 +0000"),
        ("2024-02-01T10:00:00Z", "2024-02-01 10:00:00 +0000"),
        ("2024-02-01T12:00:00+02:00", "2024-02-01 10:00:00 +0000"),
        ("2024-02-01 10:00:00", "2024-02-01 10:00:00 +0000"),
    ],
)
def test_import_dates_are_utc_in_the_documented_form(timestamp: str, expected: str) -> None:
    assert import_date(timestamp) == expected


def test_an_order_with_an_unreadable_timestamp_fails_with_a_reason() -> None:
    raw = ORDER | {"timestamp": "last tuesday", "context": {"traits": {"email": "a@e.com"}}}

    planned = line_for(raw)

    assert isinstance(planned, Fail) and "last tuesday" in planned.reason
