"""Filters and consent settings: read from the TOML file (or the environment), checked
once at start, and never shown with a write key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sailbridge.mapping.consent import ConsentPolicy
from sailbridge.settings import SettingsError, load_settings, masked_settings


def test_rules_are_read_from_filters_tables_in_order(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(
        'consent_categories = ["Email", "Advertising"]\n'
        '[[filters]]\nname = "a"\naction = "drop"\nwhen = { type = "page" }\n'
        '[[filters]]\nname = "b"\naction = "sample"\nshare = 0.1\n'
    )
    settings = load_settings(config)
    assert [rule.name for rule in settings.filters.rules] == ["a", "b"]
    options = settings.mapping_options()
    assert options.filters is settings.filters
    assert options.consent == ConsentPolicy(("Email", "Advertising"), required=False)


def test_rules_under_a_sailbridge_table_are_read_too(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(
        '[[sailbridge.filters]]\nname = "a"\naction = "drop"\nwhen = { type = "page" }\n'
    )
    assert load_settings(config).filters.rules[0].name == "a"


def test_consent_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILBRIDGE_CONSENT_CATEGORIES", " Email ,Advertising,,Email")
    monkeypatch.setenv("SAILBRIDGE_CONSENT_REQUIRED", "true")
    assert load_settings().consent_policy == ConsentPolicy(("Email", "Advertising"), True)


def test_no_settings_mean_no_filters_and_no_consent() -> None:
    settings = load_settings()
    assert settings.filters.rules == ()
    assert settings.consent_policy == ConsentPolicy()


def test_rules_may_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SAILBRIDGE_FILTERS", '[{"name": "a", "action": "drop", "when": {"type": "group"}}]'
    )
    assert load_settings().filters.rules[0].name == "a"


def test_a_bad_rule_is_one_line_naming_the_file_and_the_rule(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(
        '[[filters]]\nname = "ok"\naction = "drop"\nwhen = { type = "page" }\n'
        '[[filters]]\nname = "bad"\naction = "drop"\n'
        'when = { field = "props.x", exists = true }\n'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert str(caught.value) == (
        f"config file {config}: filters is invalid: rule 2 ('bad'): when.field: unknown "
        "field root 'props' in 'props.x' (one of properties, traits, context, integrations, "
        "type, event, name, userId, anonymousId, previousId, groupId, messageId, timestamp)"
    )


def test_filters_that_are_not_a_list_of_rules_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text('filters = "drop everything"\n')
    with pytest.raises(SettingsError, match=r"filters is invalid: .*must be a list of rules"):
        load_settings(config)


def test_the_logged_settings_name_the_rules_and_never_a_write_key(tmp_path: Path) -> None:
    config = tmp_path / "sailbridge.toml"
    config.write_text(
        '[[filters]]\nname = "mobile"\naction = "drop"\n'
        'when = { write_key = "wk-very-secret-mobile" }\n'
    )
    shown = masked_settings(load_settings(config))
    assert shown["filters"] == ["mobile"]
    assert "wk-very-secret-mobile" not in repr(shown)


def test_rules_in_the_environment_that_are_not_json_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAILBRIDGE_FILTERS", "drop everything")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == "SAILBRIDGE_FILTERS is invalid: not readable as JSON"
