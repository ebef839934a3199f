"""What sailbridge checks at start, and how it shows settings: pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from sailbridge.operations import (
    MAX_JOB_ID,
    check_job_id,
    check_job_ids,
    check_reason_filter,
    iso_utc,
    parse_limit,
    with_iso_times,
)
from sailbridge.redact import mask_url_password
from sailbridge.sailthru.times import accepted_by_sailthru, reminder_time_problem, sailthru_time
from sailbridge.settings import (
    SettingsError,
    is_loopback_url,
    list_name_problem,
    load_settings,
    masked_settings,
    unknown_environment,
)


@pytest.mark.parametrize(
    "text",
    [
        "20 minutes",
        "+20 minutes",
        "60 minutes",
        "24 hrs",
        "+2 hours",
        "1 hour",
        "2 weeks",
        "3 days",
        "1 month",
        "2026-12-24",
        "2026-12-24 09:00",
        "2026-12-24T09:00:00+00:00",
    ],
)
def test_reminder_times_sailthru_accepts_pass(text: str) -> None:
    assert reminder_time_problem(text) is None
    assert accepted_by_sailthru(sailthru_time(text))


@pytest.mark.parametrize(
    "text", ["tomorrow", "20", "minutes", "soon", "+-3 days", "2026-13-45", "20 minutes later"]
)
def test_reminder_times_sailthru_refuses_are_named(text: str) -> None:
    problem = reminder_time_problem(text)
    assert problem is not None and repr(text) in problem and "60 minutes" in problem


def test_an_offset_gets_its_plus_and_a_date_goes_as_written() -> None:
    assert sailthru_time("20 minutes") == "+20 minutes"
    assert sailthru_time("+2 hours") == "+2 hours"
    assert sailthru_time("2026-12-24 09:00") == "2026-12-24 09:00"
    assert not accepted_by_sailthru("20 minutes")  # Sailthru itself needs the +


def test_list_names_with_control_characters_or_too_long_are_refused() -> None:
    assert list_name_problem("Weekly Newsletter") is None
    assert list_name_problem("Weekly\nNewsletter") is not None
    assert list_name_problem("x" * 256) is not None


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    warnings = unknown_environment(
        {
            "SAILBRIDGE_DEFAULT_LIST": "x",
            "SAILBRIDGE_DATABASE": "d",
            "SAILBRIDGE_CONFIG": "c",
            "HOME": "/root",
            "SAILBRIDGE_ZZZ_QQQ": "1",
        }
    )
    assert warnings == [
        (
            "SAILBRIDGE_DEFAULT_LIST is not a sailbridge setting and is ignored; did you mean "
            "SAILBRIDGE_DEFAULT_LIST_NAME?"
        ),
        "SAILBRIDGE_ZZZ_QQQ is not a sailbridge setting and is ignored",
    ]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8900", True),
        ("http://localhost:8900", True),
        ("http://[::1]:80", True),
        ("http://127.5.0.1", True),
        ("https://api.sailthru.com", False),
        ("http://10.0.0.5", False),
        ("http://sandbox:8900", False),
    ],
)
def test_loopback_urls_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_pageviews_follow_a_sandbox_base_url_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_SAILTHRU_BASE_URL", "http://127.0.0.1:8900/")
    assert load_settings().pageview_base_url == "http://127.0.0.1:8900"
    monkeypatch.setenv("SAILBRIDGE_PAGEVIEW_BASE_URL", "http://127.0.0.1:9999")
    assert load_settings().pageview_base_url == "http://127.0.0.1:9999"


def test_a_real_sailthru_base_url_keeps_the_real_pageview_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAILBRIDGE_SAILTHRU_BASE_URL", "https://api.sailthru.com")
    assert load_settings().pageview_base_url == "https://api.sail-track.com"


def test_a_short_admin_token_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_ADMIN_TOKEN", "hunter2hunter2")
    with pytest.raises(
        SettingsError, match=r"^SAILBRIDGE_ADMIN_TOKEN is invalid: must be at least 16 characters"
    ) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)
    monkeypatch.setenv("SAILBRIDGE_ADMIN_TOKEN", "0123456789abcdef")
    assert load_settings().admin_token is not None


def test_an_invalid_reminder_time_names_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAILBRIDGE_REMINDER_TIME", "tomorrow")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_REMINDER_TIME is invalid: 'tomorrow'"):
        load_settings()


def test_an_invalid_value_in_the_file_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('reminder_time = "tomorrow"\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(config)
    assert str(raised.value).startswith(
        f"config file {config}: reminder_time is invalid: 'tomorrow'"
    )
    assert "SAILBRIDGE_REMINDER_TIME" not in str(raised.value)


def test_the_environment_variable_is_named_when_it_set_the_bad_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('reminder_time = "20 minutes"\n')
    monkeypatch.setenv("SAILBRIDGE_REMINDER_TIME", "later")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_REMINDER_TIME is invalid: 'later'"):
        load_settings(config)


def test_an_unknown_key_in_the_file_names_the_file_and_suggests(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('default_list = "Main"\n')
    with pytest.raises(
        SettingsError,
        match=r"sailbridge.toml: unknown setting: default_list "
        r"\(did you mean default_list_name\?\)",
    ):
        load_settings(config)


def test_masked_settings_hide_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_SAILTHRU_API_SECRET", "the-shared-secret")
    monkeypatch.setenv("SAILBRIDGE_ADMIN_TOKEN", "the-admin-token-0123")
    monkeypatch.setenv("SAILBRIDGE_WRITE_KEYS", "wk-one,wk-two")
    monkeypatch.setenv("SAILBRIDGE_DATABASE", "postgresql://sb:db-password@db:5432/sb")
    shown = masked_settings(load_settings())
    text = repr(shown)
    for secret in ("the-shared-secret", "the-admin-token-0123", "wk-one", "db-password"):
        assert secret not in text
    assert shown["sailthru_api_secret"] == shown["admin_token"] == shown["write_keys"] == "***"
    assert shown["database"] == "postgresql://sb:***@db:5432/sb"
    assert shown["customer_id"] is None and shown["concurrency"] == 32


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        (
            "postgresql://h/d?password=p&sslmode=require",
            "postgresql://h/d?password=***&sslmode=require",
        ),
        ("./sailbridge.db", "./sailbridge.db"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, masked: str) -> None:
    assert mask_url_password(url) == masked


@pytest.mark.parametrize("text", ["abc", "1e3", "-5", "0", "10001", "", "2.5", "99999999999"])
def test_bad_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="limit must be"):
        parse_limit(text)


def test_a_good_limit_is_read() -> None:
    assert parse_limit("100") == 100 and parse_limit("10000") == 10_000


@pytest.mark.parametrize("value", [0, -1, MAX_JOB_ID + 1, 10**30, True, "x", 1.5, None, [1]])
def test_impossible_job_ids_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        check_job_id(value)


def test_job_ids_are_read_from_ints_and_decimal_text() -> None:
    assert check_job_id(7) == 7 and check_job_id("42") == 42 and check_job_id(MAX_JOB_ID)
    assert check_job_ids([1, "2"]) == [1, 2]
    bad_lists: list[object] = [[], "1", {"a": 1}]
    for bad in bad_lists:
        with pytest.raises(ValueError):
            check_job_ids(bad)


@pytest.mark.parametrize("reason", ["", "   ", ["x"], 3, {"a": "b"}])
def test_empty_or_non_text_reason_filters_are_refused(reason: object) -> None:
    with pytest.raises(ValueError):
        check_reason_filter(reason)


def test_a_reason_filter_is_text_or_nothing() -> None:
    assert check_reason_filter(None) is None
    assert check_reason_filter("Unknown template") == "Unknown template"


def test_times_are_shown_as_iso_8601_utc() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_764_624_011.8) == "2025-12-01T21:20:11.800Z"
    assert iso_utc(None) is None
    view = with_iso_times(
        {
            "received_at": 0.0,
            "first_attempt_at": None,
            "attempts": 2,
            "history": [{"at": 60.0, "code": 14}],
            "event_json": {"properties": {"created_at": 5}},
        }
    )
    assert view == {
        "received_at": "1970-01-01T00:00:00.000Z",
        "first_attempt_at": None,
        "attempts": 2,
        "history": [{"at": "1970-01-01T00:01:00.000Z", "code": 14}],
        "event_json": {"properties": {"created_at": 5}},
    }


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SAILBRIDGE_VAR_NAME_MAX_LENGTH", "4", "greater than or equal to 8"),
        ("SAILBRIDGE_VAR_NAME_MAX_LENGTH", "thirty", "integer"),
        ("SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS", "0", "greater than or equal to 1"),
        ("SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS", "1.5", "integer"),
        ("SAILBRIDGE_RENAME_VARS", "sometimes", "boolean"),
        ("SAILBRIDGE_BACKFILL_UPDATE_KEY", "sid", "'email' or 'extid'"),
    ],
)
def test_issue_21_settings_are_checked_at_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"{variable} is invalid: '{value}'") and problem in message
    assert "\n" not in message


def test_issue_21_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    options = settings.mapping_options()
    assert (options.rename_vars, options.var_name_max_length, options.clear_cart_after_hours) == (
        True,
        None,
        None,
    )
    assert settings.backfill_update_key == "extid"
    monkeypatch.setenv("SAILBRIDGE_VAR_NAME_MAX_LENGTH", "32")
    monkeypatch.setenv("SAILBRIDGE_CLEAR_INCOMPLETE_CART_AFTER_HOURS", "24")
    options = load_settings().mapping_options()
    assert (options.var_name_max_length, options.clear_cart_after_hours) == (32, 24)


def test_coalescing_is_on_by_default_and_a_bad_value_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().coalescing is True
    monkeypatch.setenv("SAILBRIDGE_COALESCING", "false")
    assert load_settings().coalescing is False
    monkeypatch.setenv("SAILBRIDGE_COALESCING", "sometimes")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("SAILBRIDGE_COALESCING is invalid: 'sometimes'")
