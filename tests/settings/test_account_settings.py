"""Accounts and sources in the settings file: what they route, and the one-line
problems that stop `serve` at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sailbridge.settings import Settings, SettingsError, load_settings, masked_settings
from sailbridge.settings.accounts import DEFAULT_ACCOUNT

TWO_BRANDS = """
[[accounts]]
name = "brand-a"
sailthru_api_key = "key-a"
sailthru_api_secret = "secret-a"
rate_limits = {"POST /user" = "5/s"}

[[accounts]]
name = "brand-b"
sailthru_api_key = "key-b"
sailthru_api_secret = "secret-b"
sailthru_base_url = "http://127.0.0.1:9999"
default_list_name = "B list"
consent_categories = ["marketing"]

[[sources]]
name = "web"
write_keys = ["wk-web"]
accounts = ["brand-a", "brand-b"]

[[sources]]
name = "app"
write_keys = ["wk-app"]
webhook_secrets = ["hook-secret"]
accounts = ["brand-a"]
"""


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "sailbridge.toml"
    path.write_text(text)
    return load_settings(path)


def _problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_without_accounts_the_top_level_values_are_the_default_account() -> None:
    settings = load_settings(
        write_keys="k1,k2",
        sailthru_api_key="key",
        sailthru_api_secret="secret",
        default_list_name="Main",
    )
    deployment = settings.deployment()
    assert deployment.names == (DEFAULT_ACCOUNT,)
    assert deployment.accounts_for_write_key("k2") == (DEFAULT_ACCOUNT,)
    assert deployment.accounts_for_write_key("other") == ()
    account = deployment.account(None)
    assert account.settings.credentials() == ("key", "secret")
    assert account.settings.mapping_options().default_list_name == "Main"


def test_sources_route_each_write_key_and_webhook_secret_to_their_accounts(tmp_path: Path) -> None:
    deployment = _load(tmp_path, TWO_BRANDS).deployment()
    assert deployment.names == ("brand-a", "brand-b")
    assert deployment.accounts_for_write_key("wk-web") == ("brand-a", "brand-b")
    assert deployment.accounts_for_write_key("wk-app") == ("brand-a",)
    assert deployment.accounts_for_webhook_secret("hook-secret") == ("brand-a",)
    assert deployment.accounts_for_webhook_secret("wk-web") == ()


def test_each_account_has_its_own_values_and_defaults(tmp_path: Path) -> None:
    deployment = _load(tmp_path, TWO_BRANDS).deployment()
    a, b = deployment.account("brand-a").settings, deployment.account("brand-b").settings
    assert a.credentials() == ("key-a", "secret-a")
    assert b.credentials() == ("key-b", "secret-b")
    assert a.rate_limits_per_second["POST /user"] == 5.0
    assert b.rate_limits_per_second["POST /user"] == 300.0
    assert a.sailthru_base_url == "https://api.sailthru.com"
    assert b.pageview_base_url == "http://127.0.0.1:9999"  # a sandbox serves both
    assert b.mapping_options().default_list_name == "B list"
    assert a.mapping_options().default_list_name is None
    assert b.consent_policy.categories == ("marketing",)


def test_no_secret_of_any_account_is_shown(tmp_path: Path) -> None:
    settings = _load(tmp_path, TWO_BRANDS)
    shown = repr(masked_settings(settings)) + repr(settings) + repr(settings.deployment())
    for secret in ("secret-a", "secret-b", "hook-secret", "wk-web"):
        assert secret not in shown
    assert masked_settings(settings)["accounts"] == ["brand-a", "brand-b"]


def test_two_accounts_with_one_name_fail(tmp_path: Path) -> None:
    text = '[[accounts]]\nname = "a"\n[[accounts]]\nname = "a"\n'
    assert "two accounts are named 'a'" in _problem(tmp_path, text)


def test_a_source_naming_an_unknown_account_fails(tmp_path: Path) -> None:
    text = TWO_BRANDS + '[[sources]]\nwrite_keys = ["x"]\naccounts = ["brand-c"]\n'
    assert "unknown account 'brand-c'" in _problem(tmp_path, text)


def test_a_source_feeding_no_account_fails(tmp_path: Path) -> None:
    text = TWO_BRANDS + '[[sources]]\nname = "lost"\nwrite_keys = ["x"]\naccounts = []\n'
    assert "source 'lost' feeds no account" in _problem(tmp_path, text)


def test_a_write_key_in_two_sources_fails(tmp_path: Path) -> None:
    text = (
        TWO_BRANDS
        + '[[sources]]\nname = "again"\nwrite_keys = ["wk-app"]\naccounts = ["brand-b"]\n'
    )
    assert "shares a write key" in _problem(tmp_path, text)


def test_an_account_value_sailthru_would_refuse_names_the_account(tmp_path: Path) -> None:
    text = '[[accounts]]\nname = "a"\noptout_value = "sometimes"\n'
    message = _problem(tmp_path, text)
    assert "account 'a': optout_value is invalid" in message


def test_an_unknown_key_in_an_account_fails(tmp_path: Path) -> None:
    text = '[[accounts]]\nname = "a"\ndatabase = "x.db"\n'
    assert "account 'a': database is not an account setting" in _problem(tmp_path, text)


def test_top_level_credentials_beside_accounts_fail(tmp_path: Path) -> None:
    text = 'sailthru_api_key = "k"\n' + TWO_BRANDS
    assert "give each account its own" in _problem(tmp_path, text)


def test_top_level_write_keys_beside_sources_fail(tmp_path: Path) -> None:
    text = 'write_keys = "k"\n' + TWO_BRANDS
    assert "give them to a source" in _problem(tmp_path, text)


def test_naming_an_account_that_does_not_exist_says_which_exist(tmp_path: Path) -> None:
    deployment = _load(tmp_path, TWO_BRANDS).deployment()
    with pytest.raises(KeyError, match="brand-a, brand-b"):
        deployment.account("brand-c")
    with pytest.raises(KeyError, match="name an account"):
        deployment.account(None)


def test_route_keys_carry_the_account_and_come_apart_again() -> None:
    from sailbridge.store.accounts import account_limits, route_key, split_route_key

    assert route_key("default", "POST /user") == "POST /user"
    assert route_key("ACME", "POST /user") == "ACME POST /user"
    assert split_route_key("ACME POST /user") == ("ACME", "POST /user")
    assert split_route_key("POST /user") == ("default", "POST /user")
    assert account_limits({"default": {"POST /user": 5.0}, "b": {"POST /user": 2.0}}) == {
        "POST /user": 5.0,
        "b POST /user": 2.0,
    }


def test_line_keys_keep_the_default_accounts_as_they_were() -> None:
    from sailbridge.store.accounts import line_keys, ordering_key, pause_summary

    assert line_keys("default", ["u1", "u1", "a1"]) == ["u1", "a1"]
    assert line_keys("b", ["u1"]) == ["b\x1fu1"]
    assert ordering_key("b\x1fu1") == "u1" and ordering_key("u1") == "u1"
    assert pause_summary({}) is None
    assert pause_summary({"default": "bad key"}) == "bad key"
    assert pause_summary({"b": "bad key", "a": "x"}) == "a: x; b: bad key"


def test_an_account_name_must_be_safe_as_a_label(tmp_path: Path) -> None:
    text = '[[accounts]]\nname = "brand a"\n'
    assert "account name 'brand a'" in _problem(tmp_path, text)


def test_credentials_are_checked_per_account(tmp_path: Path) -> None:
    text = TWO_BRANDS.replace('sailthru_api_secret = "secret-b"\n', "")
    deployment = _load(tmp_path, text).deployment()
    deployment.check_credentials(["brand-a"])
    with pytest.raises(SettingsError, match="account 'brand-b': sailthru_api_secret is required"):
        deployment.check_credentials()
