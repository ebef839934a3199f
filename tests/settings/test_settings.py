"""Settings come from SAILBRIDGE_* variables over a TOML file; problems name the variable."""

from pathlib import Path

import pytest

from sailbridge.delivery.retry import RetryPolicy
from sailbridge.server.connections import ConnectionLimits
from sailbridge.server.ingest import IngestConfig
from sailbridge.settings import SettingsError, load_settings, parse_rate_limits


def test_every_documented_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "SAILBRIDGE_SAILTHRU_API_KEY": "key",
        "SAILBRIDGE_SAILTHRU_API_SECRET": "secret",
        "SAILBRIDGE_SAILTHRU_BASE_URL": "http://127.0.0.1:9/",
        "SAILBRIDGE_PAGEVIEW_BASE_URL": "http://127.0.0.1:8",
        "SAILBRIDGE_CUSTOMER_ID": "cust",
        "SAILBRIDGE_DEFAULT_LIST_NAME": "Main",
        "SAILBRIDGE_OPTOUT_VALUE": "Basic",
        "SAILBRIDGE_REMINDER_TEMPLATE": "cart",
        "SAILBRIDGE_REMINDER_TIME": "60 minutes",
        "SAILBRIDGE_TRACK_SCREENS_AS_PAGEVIEWS": "true",
        "SAILBRIDGE_DATABASE": "/tmp/x.db",
        "SAILBRIDGE_RATE_LIMITS": "POST /event=10/s",
        "SAILBRIDGE_RETRY_MIN_DELAY": "1",
        "SAILBRIDGE_RETRY_MAX_DELAY": "20",
        "SAILBRIDGE_RETRY_WINDOW": "600",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.credentials() == ("key", "secret")
    assert settings.sailthru_base_url == "http://127.0.0.1:9"
    assert settings.pageview_base_url == "http://127.0.0.1:8"
    assert settings.optout_value == "basic"
    assert settings.track_screens_as_pageviews is True
    assert settings.database == "/tmp/x.db"
    assert settings.rate_limits_per_second["POST /event"] == 10
    assert (settings.retry_min_delay, settings.retry_max_delay, settings.retry_window) == (
        1,
        20,
        600,
    )
    options = settings.mapping_options()
    assert (
        options.customer_id,
        options.default_list_name,
        options.reminder_template,
        options.reminder_time,
    ) == ("cust", "Main", "cart", "60 minutes")


def test_optout_is_unset_unless_configured() -> None:
    assert load_settings().mapping_options().optout_value is None


def test_missing_credentials_name_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_SAILTHRU_API_KEY is required"):
        load_settings().credentials()


def test_invalid_optout_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_OPTOUT_VALUE", "sometimes")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_OPTOUT_VALUE is invalid"):
        load_settings()


def test_unreadable_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_RETRY_WINDOW", "four hours")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_RETRY_WINDOW is invalid"):
        load_settings()


def test_bad_rate_limit_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_RATE_LIMITS", "POST /user=fast")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_RATE_LIMITS is invalid.*POST /user"):
        load_settings()


def test_rate_limits_accept_per_minute_and_keep_defaults() -> None:
    limits = parse_rate_limits("POST /purchase=120/min, GET /user=5/s")
    assert limits["POST /purchase"] == 2
    assert limits["GET /user"] == 5
    assert limits["POST /user"] == 300


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(
        'sailthru_api_key = "from-file"\nSAILBRIDGE_SAILTHRU_API_SECRET = "s"\n'
        'default_list_name = "File List"\n[rate_limits]\n"POST /user" = "7/s"\n'
    )
    monkeypatch.setenv("SAILBRIDGE_SAILTHRU_API_KEY", "from-env")
    settings = load_settings(config)
    assert settings.credentials() == ("from-env", "s")
    assert settings.default_list_name == "File List"
    assert settings.rate_limits_per_second["POST /user"] == 7


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('sailthru_api_kee = "typo"\n')
    with pytest.raises(SettingsError, match="unknown setting: sailthru_api_kee"):
        load_settings(config)


def test_secret_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_SAILTHRU_API_SECRET", "hunter2")
    assert "hunter2" not in repr(load_settings())


def test_the_429_budget_and_the_longest_rate_limit_block_are_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings()
    assert (defaults.rate_limit_resends, defaults.max_rate_limit_block) == (20, 65.0)
    monkeypatch.setenv("SAILBRIDGE_RATE_LIMIT_RESENDS", "3")
    monkeypatch.setenv("SAILBRIDGE_MAX_RATE_LIMIT_BLOCK", "61.5")
    policy = RetryPolicy.from_settings(load_settings())
    assert (policy.rate_limit_resends, policy.max_rate_limit_block) == (3, 61.5)
    monkeypatch.setenv("SAILBRIDGE_MAX_RATE_LIMIT_BLOCK", "0")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_MAX_RATE_LIMIT_BLOCK is invalid"):
        load_settings()
    monkeypatch.setenv("SAILBRIDGE_MAX_RATE_LIMIT_BLOCK", "60")
    monkeypatch.setenv("SAILBRIDGE_RATE_LIMIT_RESENDS", "-1")
    with pytest.raises(SettingsError, match=r"^SAILBRIDGE_RATE_LIMIT_RESENDS is invalid"):
        load_settings()


def test_browser_and_webhook_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_CORS_ORIGINS", " https://a.example/ , https://b.example")
    monkeypatch.setenv("SAILBRIDGE_WEBHOOK_SECRETS", "new-secret, old-secret")
    monkeypatch.setenv("SAILBRIDGE_HEADER_TIMEOUT", "4")
    monkeypatch.setenv("SAILBRIDGE_MAX_CONNECTIONS", "50")
    settings = load_settings()
    assert settings.cors_origin_set == {"https://a.example", "https://b.example"}
    assert settings.webhook_secret_list == ("new-secret", "old-secret")
    assert settings.header_timeout == 4.0 and settings.max_connections == 50
    assert "new-secret" not in repr(settings)
    ingest = IngestConfig.from_settings(settings)
    assert ingest.cors_origins == settings.cors_origin_set
    assert ingest.webhook_secrets == ("new-secret", "old-secret")
    limits = ConnectionLimits.from_settings(settings)
    assert (limits.header_timeout, limits.max_connections) == (4.0, 50)


def test_without_browser_or_webhook_settings_both_are_off() -> None:
    settings = load_settings()
    assert settings.cors_origin_set == frozenset()
    assert settings.webhook_secret_list == ()
