"""Loading the settings: environment variables over an optional TOML file.

Environment variables win over the file, so one file can serve several machines
that differ by an environment variable or two. A problem becomes one `SettingsError`
line naming where the value came from (the command line, the environment variable,
or the file and its key), because that is what the person starting the program has
to fix.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic_settings
from pydantic import ValidationError

from sailbridge.settings.accounts import flat_value
from sailbridge.settings.model import ENV_PREFIX, Settings, SettingsError, is_secret


def _toml_values(path: Path) -> dict[str, tuple[str, Any]]:
    """Read a TOML file whose keys are the setting names, with or without the prefix,
    in any case (``sailthru_api_key`` or ``SAILBRIDGE_SAILTHRU_API_KEY``): each field
    name → (the key as written, its value)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    table = raw.get("sailbridge", raw)
    values: dict[str, tuple[str, Any]] = {}
    for key, value in table.items():
        name = key.lower().removeprefix(ENV_PREFIX.lower())
        values[name] = (key, flat_value(value))
    return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the environment over ``config_file``; raise `SettingsError`.

    Environment variables win over the file, so one file can serve several machines
    that differ by an environment variable or two. A problem names where the value
    came from: the command line, the environment variable, or the file and its key.
    """
    file_entries = _toml_values(config_file) if config_file else {}
    file_values = {name: value for name, (_key, value) in file_entries.items()}
    try:
        return _settings_with_file(file_values, overrides, config_file)
    except ValidationError as exc:
        raise SettingsError(_first_problem(exc, file_entries, config_file, overrides)) from None
    except pydantic_settings.SettingsError as exc:  # a list or table setting that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"{ENV_PREFIX}{field.group(1).upper()}" if field else "a setting"
        raise SettingsError(f"{name} is invalid: not readable as JSON") from None


def _settings_with_file(
    file_values: dict[str, Any], overrides: dict[str, Any], config_file: Path | None = None
) -> Settings:
    """pydantic-settings gives init kwargs priority over env; we want env over file, so
    the file's values become defaults of a subclass instead."""
    if not file_values:
        return Settings(**overrides)
    known = set(Settings.model_fields)
    unknown = sorted(set(file_values) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingsError(f"config file {config_file}: unknown setting: {unknown[0]}{hint}")

    class _WithFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[pydantic_settings.BaseSettings],
            init_settings: pydantic_settings.PydanticBaseSettingsSource,
            env_settings: pydantic_settings.PydanticBaseSettingsSource,
            dotenv_settings: pydantic_settings.PydanticBaseSettingsSource,
            file_secret_settings: pydantic_settings.PydanticBaseSettingsSource,
        ) -> tuple[Any, ...]:
            def file_source() -> dict[str, Any]:
                return file_values

            return (init_settings, env_settings, file_source)

    return _WithFile(**overrides)


def _first_problem(
    exc: ValidationError,
    file_entries: Mapping[str, tuple[str, Any]] | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """One line: which setting (as the person wrote it), the value unless secret, why."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "settings"
    env_name = f"{ENV_PREFIX}{field.upper()}"
    in_environment = any(name.upper() == env_name for name in os.environ)
    if overrides and field in overrides:
        where = f"--{field.replace('_', '-')}"
    elif not in_environment and file_entries and field in file_entries:
        where = f"config file {config_file}: {file_entries[field][0]}"
    else:
        where = env_name
    if error["type"] == "missing":
        return f"{where} is required but not set"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if is_secret(field) or not isinstance(value, str | int | float) or repr(value) in message:
        return f"{where} is invalid: {message}"
    return f"{where} is invalid: {value!r}: {message}"
