"""Settings: environment variables (``SAILBRIDGE_*``) over an optional TOML file.

One typed object for the whole program. Every problem is reported as a
`SettingsError` whose message is one line naming the environment variable, because
that is what the person starting the program has to fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from sailbridge.mapping.options import OPTOUT_VALUES, MappingOptions
from sailbridge.redact import MASK, mask_url_password
from sailbridge.sailthru.times import reminder_time_problem

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

DEFAULT_RATE_LIMIT_RESENDS: Final = 20
"""How many times one call is sent again after a 429 before its job goes back to the
queue (not counted as an attempt)."""

DEFAULT_MAX_RATE_LIMIT_BLOCK: Final = 65.0
"""The longest a route is held after a 429 or ``X-Rate-Limit-Remaining: 0``, whatever
``X-Rate-Limit-Reset`` says: Sailthru counts per minute, plus 5 s for clock skew."""

_RATE_ITEM = re.compile(
    r"^\s*(?P<method>GET|POST|DELETE)\s+(?P<endpoint>/\S*)\s*=\s*"
    r"(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|second|m|min|minute)\s*$",
    re.IGNORECASE,
)


MIN_ADMIN_TOKEN_LENGTH: Final = 16

OTHER_ENVIRONMENT_NAMES: Final = frozenset({f"{ENV_PREFIX}CONFIG"})
"""``SAILBRIDGE_*`` variables read outside `Settings` (the command line's ``--config``)."""

_LIST_NAME_MAX = 255


class SettingsError(ValueError):
    """A missing or invalid setting; the message is one line naming it."""


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, ``127.x``, ``::1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def list_name_problem(name: str) -> str | None:
    """Why Sailthru would not take ``name`` as a list name, or ``None``.

    Sailthru's list names are free text shown in its UI; what it cannot take is a
    name with control characters (a pasted newline or tab), or an absurdly long one.
    """
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "a list name cannot contain control characters (newline, tab ...)"
    if len(name) > _LIST_NAME_MAX:
        return f"a list name is at most {_LIST_NAME_MAX} characters"
    return None


def known_environment_names() -> frozenset[str]:
    """Every ``SAILBRIDGE_*`` variable sailbridge reads."""
    return frozenset(f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields) | \
        OTHER_ENVIRONMENT_NAMES


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``SAILBRIDGE_*`` variable that is no setting (a typo is otherwise
    silently ignored), with the closest real name when one is close."""
    environ = os.environ if environ is None else environ
    known = known_environment_names()
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        # Compared without the prefix every name shares, or anything looks close.
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX),
                                          sorted(n.removeprefix(ENV_PREFIX) for n in known),
                                          n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        warnings.append(f"{name} is not a sailbridge setting and is ignored{hint}")
    return warnings


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
    rate_limit_resends: int = Field(default=DEFAULT_RATE_LIMIT_RESENDS, ge=0)
    max_rate_limit_block: float = Field(default=DEFAULT_MAX_RATE_LIMIT_BLOCK, gt=0)
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
    backfill_update_key: Literal["email", "extid"] = "email"
    backfill_max_file_bytes: int = Field(default=90_000_000, gt=0)
    backfill_poll_interval: float = Field(default=5.0, gt=0)
    backfill_upload_timeout: float = Field(default=900.0, gt=0)
    cors_origins: str = ""
    webhook_secrets: SecretStr | None = None
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    queue_log_interval: float = Field(default=60.0, ge=0)

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
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("optout_value")
    @classmethod
    def _known_optout(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if value.strip().lower() not in OPTOUT_VALUES:
            raise ValueError(f"Sailthru takes one of {'|'.join(OPTOUT_VALUES)}")
        return value.strip().lower()

    @field_validator("customer_id", "default_list_name", "reminder_template", "reminder_time")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("reminder_time", "default_list_name")
    @classmethod
    def _sailthru_would_take(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Values Sailthru would refuse on every event are refused at start instead."""
        check = {"reminder_time": reminder_time_problem,
                 "default_list_name": list_name_problem}[str(info.field_name)]
        problem = None if value is None else check(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _pageviews_follow_a_sandbox(cls, data: Any) -> Any:
        """A Sailthru base URL on this machine is a sandbox (the real API never is),
        and the sandbox serves the pageview API too: unless the pageview base URL is
        set, send pageviews there rather than to the real pageview host."""
        if isinstance(data, dict) and not data.get("pageview_base_url"):
            base = data.get("sailthru_base_url")
            if isinstance(base, str) and is_loopback_url(base):
                return {**data, "pageview_base_url": base}
        return data

    @field_validator("rate_limits")
    @classmethod
    def _readable_limits(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters: it guards replay "
                "and purge of every dead event (make one with `openssl rand -hex 16`)")
        return value

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
        values[name] = (key, ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(
            value, dict
        ) else value)
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


def _settings_with_file(file_values: dict[str, Any], overrides: dict[str, Any],
                        config_file: Path | None = None) -> Settings:
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
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,  # type: ignore[no-untyped-def]
                                       dotenv_settings, file_secret_settings):
            def file_source() -> dict[str, Any]:
                return file_values

            return (init_settings, env_settings, file_source)

    return _WithFile(**overrides)


def _is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields \
        else None
    return "SecretStr" in repr(annotation) or any(
        word in field for word in ("secret", "token", "password", "write_keys"))


def _first_problem(exc: ValidationError, file_entries: Mapping[str, tuple[str, Any]] | None = None,
                   config_file: Path | None = None,
                   overrides: Mapping[str, Any] | None = None) -> str:
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
    if _is_secret(field) or not isinstance(value, str | int | float) or repr(value) in message:
        return f"{where} is invalid: {message}"
    return f"{where} is invalid: {value!r}: {message}"


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Every setting's effective value, safe to log: a secret set shows as ``***``
    (unset as ``None``), a password inside a URL is masked."""
    shown: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if _is_secret(name):
            shown[name] = MASK if value else None
        elif isinstance(value, str):
            shown[name] = mask_url_password(value)
        else:
            shown[name] = value
    return shown
