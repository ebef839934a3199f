"""Settings: environment variables (``SAILBRIDGE_*``) over an optional TOML file.

One typed object for the whole program. Every problem is reported as a
`SettingsError` whose message is one line naming the environment variable, because
that is what the person starting the program has to fix.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sailbridge.mapping.options import OPTOUT_VALUES, MappingOptions

ENV_PREFIX: Final = "SAILBRIDGE_"

DEFAULT_RATE_LIMITS: Final[dict[str, float]] = {
    "POST /user": 300.0,
    "GET /user": 300.0,
    "DELETE /user": 40.0,
    "POST /event": 40.0,
    "POST /purchase": 40.0,
    "POST /v1/track/event/pageview": 40.0,
}
"""Sailthru's documented per-second limits; other POSTs and DELETEs get 40/s."""

DEFAULT_OTHER_LIMIT: Final = 40.0

_RATE_ITEM = re.compile(
    r"^\s*(?P<method>GET|POST|DELETE)\s+(?P<endpoint>/\S*)\s*=\s*"
    r"(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|second|m|min|minute)\s*$",
    re.IGNORECASE,
)


class SettingsError(ValueError):
    """A missing or invalid setting; the message is one line naming it."""


def parse_rate_limit_items(text: str) -> dict[str, float]:
    """Parse ``"POST /user=300/s,POST /event=2400/min"`` into per-second limits keyed
    ``"METHOD /endpoint"`` (only the routes named)."""
    limits: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _RATE_ITEM.match(item)
        if match is None:
            raise ValueError(f"cannot read {item!r}; expected like 'POST /user=300/s'")
        count = float(match["count"])
        per_second = count if match["unit"].lower().startswith("s") else count / 60.0
        if per_second <= 0:
            raise ValueError(f"{item!r}: a limit must be positive")
        limits[f"{match['method'].upper()} {match['endpoint']}"] = per_second
    return limits


def parse_rate_limits(text: str) -> dict[str, float]:
    """Per-second limits for every route: Sailthru's documented defaults, overridden
    by the routes ``text`` names."""
    return {**DEFAULT_RATE_LIMITS, **parse_rate_limit_items(text)}


class Settings(BaseSettings):
    """Everything sailbridge can be configured with (SPEC §2 and the delivery knobs)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, frozen=True
    )

    sailthru_api_key: str | None = None
    sailthru_api_secret: SecretStr | None = None
    sailthru_base_url: str = "https://api.sailthru.com"
    pageview_base_url: str = "https://api.sail-track.com"
    customer_id: str | None = None
    default_list_name: str | None = None
    optout_value: str | None = None
    reminder_template: str | None = None
    reminder_time: str | None = None
    track_screens_as_pageviews: bool = False
    database: str = "./sailbridge.db"
    rate_limits: str = ""
    retry_min_delay: float = Field(default=10.0, gt=0)
    retry_max_delay: float = Field(default=300.0, gt=0)
    retry_window: float = Field(default=4 * 3600.0, gt=0)
    request_timeout: float = Field(default=30.0, gt=0)
    cart_memory_ttl: float = Field(default=600.0, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    write_keys: str = ""
    admin_token: SecretStr | None = None
    dedupe_window: float = Field(default=24 * 3600.0, ge=0)
    concurrency: int = Field(default=32, ge=1, le=1024)
    lease_timeout: float = Field(default=30.0, gt=0)
    max_inflight_ingest: int = Field(default=256, ge=1)
    retention: float = Field(default=7 * 86400.0, gt=0)
    cors_origins: str = ""
    webhook_secrets: SecretStr | None = None
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)

    @field_validator("sailthru_api_key")
    @classmethod
    def _key_blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("sailthru_api_secret")
    @classmethod
    def _secret_blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    def credentials(self) -> tuple[str, str]:
        """The api key and shared secret, or a `SettingsError` naming the missing one.

        Optional at load time so that ``sailbridge explain`` works without an account;
        everything that talks to Sailthru asks for them here.
        """
        if self.sailthru_api_key is None:
            raise SettingsError(f"{ENV_PREFIX}SAILTHRU_API_KEY is required but not set")
        if self.sailthru_api_secret is None:
            raise SettingsError(f"{ENV_PREFIX}SAILTHRU_API_SECRET is required but not set")
        return self.sailthru_api_key, self.sailthru_api_secret.get_secret_value()

    @field_validator("sailthru_base_url", "pageview_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("optout_value")
    @classmethod
    def _known_optout(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if value.strip().lower() not in OPTOUT_VALUES:
            raise ValueError(f"{value!r} is not one of {'|'.join(OPTOUT_VALUES)}")
        return value.strip().lower()

    @field_validator("customer_id", "default_list_name", "reminder_template", "reminder_time")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("rate_limits")
    @classmethod
    def _readable_limits(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @property
    def write_key_set(self) -> frozenset[str]:
        """The accepted Segment write keys (``SAILBRIDGE_WRITE_KEYS``, comma-separated)."""
        return frozenset(key.strip() for key in self.write_keys.split(",") if key.strip())

    @property
    def cors_origin_set(self) -> frozenset[str]:
        """Web origins browsers may post events from (``SAILBRIDGE_CORS_ORIGINS``,
        comma-separated, or ``*`` for any); empty: no browser access."""
        return frozenset(origin.strip().rstrip("/") for origin in self.cors_origins.split(",")
                         if origin.strip())

    @property
    def webhook_secret_list(self) -> tuple[str, ...]:
        """The shared secrets Segment Webhooks may sign with (``SAILBRIDGE_WEBHOOK_SECRETS``,
        comma-separated, so a secret can be rotated without a gap)."""
        if self.webhook_secrets is None:
            return ()
        return tuple(secret.strip() for secret in
                     self.webhook_secrets.get_secret_value().split(",") if secret.strip())

    @property
    def rate_limits_per_second(self) -> dict[str, float]:
        return parse_rate_limits(self.rate_limits)

    def mapping_options(self) -> MappingOptions:
        """The secret-free subset the pure mapping reads."""
        return MappingOptions(
            default_list_name=self.default_list_name,
            optout_value=self.optout_value,  # type: ignore[arg-type]
            reminder_template=self.reminder_template,
            reminder_time=self.reminder_time,
            customer_id=self.customer_id,
            track_screens_as_pageviews=self.track_screens_as_pageviews,
        )


def _toml_values(path: Path) -> dict[str, Any]:
    """Read a TOML file whose keys are the setting names, with or without the prefix,
    in any case (``sailthru_api_key`` or ``SAILBRIDGE_SAILTHRU_API_KEY``)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    table = raw.get("sailbridge", raw)
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.lower().removeprefix(ENV_PREFIX.lower())
        values[name] = ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(
            value, dict
        ) else value
    return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the environment over ``config_file``; raise `SettingsError`.

    Environment variables win over the file, so one file can serve several machines
    that differ by an environment variable or two.
    """
    file_values = _toml_values(config_file) if config_file else {}
    try:
        return _settings_with_file(file_values, overrides)
    except ValidationError as exc:
        raise SettingsError(_first_problem(exc)) from None


def _settings_with_file(file_values: dict[str, Any], overrides: dict[str, Any]) -> Settings:
    """pydantic-settings gives init kwargs priority over env; we want env over file, so
    the file's values become defaults of a subclass instead."""
    if not file_values:
        return Settings(**overrides)
    known = set(Settings.model_fields)
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise SettingsError(f"config file has an unknown setting: {unknown[0]}")

    class _WithFile(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,  # type: ignore[no-untyped-def, override]
                                       dotenv_settings, file_secret_settings):
            def file_source() -> dict[str, Any]:
                return file_values

            return (init_settings, env_settings, file_source)

    return _WithFile(**overrides)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "settings"
    env_name = f"{ENV_PREFIX}{field.upper()}"
    if error["type"] == "missing":
        return f"{env_name} is required but not set"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{env_name} is invalid: {message}"
