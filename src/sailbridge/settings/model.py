"""The `Settings` object: every setting, its type, default and the checks on its value.

One typed object for the whole program, read from ``SAILBRIDGE_*`` environment
variables (`sailbridge.settings.loading` adds the TOML file under them). A value
Sailthru would refuse on every event (an unreadable reminder time, a list name with a
newline) is refused here, at start, rather than on each delivery.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PlainValidator,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from sailbridge.mapping.consent import ConsentPolicy
from sailbridge.mapping.filters import NO_FILTERS, FilterSet, parse_filters
from sailbridge.mapping.options import OPTOUT_VALUES, MappingOptions
from sailbridge.mapping.var_names import MIN_MAX_LENGTH as MIN_VAR_NAME_CAP
from sailbridge.sailthru.times import reminder_time_problem
from sailbridge.settings.accounts import (
    ACCOUNT_FIELDS,
    DEFAULT_ACCOUNT,
    Account,
    Deployment,
    Source,
    deployment,
    parse_accounts,
    parse_sources,
)
from sailbridge.settings.rate_limits import (
    DEFAULT_MAX_RATE_LIMIT_BLOCK,
    DEFAULT_RATE_LIMIT_RESENDS,
    parse_rate_limits,
)

ENV_PREFIX: Final = "SAILBRIDGE_"

MIN_ADMIN_TOKEN_LENGTH: Final = 16

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


def _filter_set(value: Any) -> FilterSet:
    """The ``[[filters]]`` tables (or ``SAILBRIDGE_FILTERS`` as JSON), checked once."""
    return value if isinstance(value, FilterSet) else parse_filters(value)


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
    backfill_update_key: Literal["email", "extid"] = "extid"
    backfill_max_file_bytes: int = Field(default=90_000_000, gt=0)
    backfill_poll_interval: float = Field(default=5.0, gt=0)
    backfill_upload_timeout: float = Field(default=900.0, gt=0)
    cors_origins: str = ""
    webhook_secrets: SecretStr | None = None
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    queue_log_interval: float = Field(default=60.0, ge=0)
    # During a backlog a user's consecutive profile updates and cart changes share a
    # call (docs/mapping.md, "Merging a backlog").
    coalescing: bool = True
    # What reaches Sailthru (docs/filters.md): destination filters and consent.
    filters: Annotated[FilterSet, PlainValidator(_filter_set)] = NO_FILTERS
    consent_categories: str = ""
    consent_required: bool = False
    # What Sailthru can take (docs/mapping.md): cart expiry, var names.
    clear_incomplete_cart_after_hours: int | None = Field(default=None, ge=1)
    rename_vars: bool = True
    var_name_max_length: int | None = Field(default=None, ge=MIN_VAR_NAME_CAP)
    delivery_stall_after: float = Field(default=120.0, ge=0)
    # Several Sailthru accounts (docs/configuration.md): none listed, the values above
    # are the account "default", fed by every write key and webhook secret.
    accounts: tuple[Account, ...] = ()
    sources: tuple[Source, ...] = ()

    @field_validator("accounts", mode="plain")
    @classmethod
    def _account_tables(cls, value: Any, info: ValidationInfo) -> tuple[Account, ...]:
        """``[[accounts]]``: each checked like the top-level settings; credentials then
        belong inside them (a top-level key would silently serve no account)."""
        if isinstance(value, tuple) and all(isinstance(item, Account) for item in value):
            return value
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of tables ([[accounts]])")
        accounts = parse_accounts(value)
        if accounts and (info.data.get("sailthru_api_key") or info.data.get("sailthru_api_secret")):
            raise ValueError(
                "the top-level Sailthru key and secret serve no account when "
                "[[accounts]] are listed: give each account its own"
            )
        return accounts

    @field_validator("sources", mode="plain")
    @classmethod
    def _source_tables(cls, value: Any, info: ValidationInfo) -> tuple[Source, ...]:
        """``[[sources]]``: every account a source names must be listed; write keys and
        webhook secrets then belong inside them."""
        if isinstance(value, tuple) and all(isinstance(item, Source) for item in value):
            return value
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of tables ([[sources]])")
        accounts = info.data.get("accounts") or ()
        names = [account.name for account in accounts] or [DEFAULT_ACCOUNT]
        sources = parse_sources(value, names)
        if sources and (info.data.get("write_keys") or info.data.get("webhook_secrets")):
            raise ValueError(
                "the top-level write keys and webhook secrets feed no account "
                "when [[sources]] are listed: give them to a source"
            )
        return sources

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
        check = {"reminder_time": reminder_time_problem, "default_list_name": list_name_problem}[
            str(info.field_name)
        ]
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
                "and purge of every dead event (make one with `openssl rand -hex 16`)"
            )
        return value

    @property
    def write_key_set(self) -> frozenset[str]:
        """The accepted Segment write keys (``SAILBRIDGE_WRITE_KEYS``, comma-separated)."""
        return frozenset(key.strip() for key in self.write_keys.split(",") if key.strip())

    @property
    def cors_origin_set(self) -> frozenset[str]:
        """Web origins browsers may post events from (``SAILBRIDGE_CORS_ORIGINS``,
        comma-separated, or ``*`` for any); empty: no browser access."""
        return frozenset(
            origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()
        )

    @property
    def webhook_secret_list(self) -> tuple[str, ...]:
        """The shared secrets Segment Webhooks may sign with (``SAILBRIDGE_WEBHOOK_SECRETS``,
        comma-separated, so a secret can be rotated without a gap)."""
        if self.webhook_secrets is None:
            return ()
        return tuple(
            secret.strip()
            for secret in self.webhook_secrets.get_secret_value().split(",")
            if secret.strip()
        )

    @field_validator("consent_categories", mode="before")
    @classmethod
    def _categories_list(cls, value: Any) -> Any:
        """The settings file may give the categories as a list."""
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        return value

    @property
    def consent_policy(self) -> ConsentPolicy:
        """The consent categories (``SAILBRIDGE_CONSENT_CATEGORIES``, comma-separated)
        and whether an event without a consent object is held back."""
        categories = tuple(
            dict.fromkeys(
                name.strip() for name in self.consent_categories.split(",") if name.strip()
            )
        )
        return ConsentPolicy(categories, self.consent_required)

    @property
    def rate_limits_per_second(self) -> dict[str, float]:
        return parse_rate_limits(self.rate_limits)

    def for_account(self, name: str) -> Settings:
        """These settings as one account's command sees them (``backfill --account``):
        the account's own values in place of the top-level ones, and that account
        alone in the deployment."""
        account = self.deployment().account(name)
        own = {field: getattr(account.settings, field) for field in ACCOUNT_FIELDS}
        return self.model_copy(update={**own, "accounts": (account,), "sources": ()})

    def deployment(self) -> Deployment:
        """The accounts and the sources feeding them (`sailbridge.settings.accounts`)."""
        return deployment(self)

    def mapping_options(self) -> MappingOptions:
        """The secret-free subset the pure mapping reads."""
        return MappingOptions(
            default_list_name=self.default_list_name,
            optout_value=self.optout_value,  # type: ignore[arg-type]
            reminder_template=self.reminder_template,
            reminder_time=self.reminder_time,
            customer_id=self.customer_id,
            track_screens_as_pageviews=self.track_screens_as_pageviews,
            filters=self.filters,
            consent=self.consent_policy,
            clear_cart_after_hours=self.clear_incomplete_cart_after_hours,
            rename_vars=self.rename_vars,
            var_name_max_length=self.var_name_max_length,
        )


def is_secret(field: str) -> bool:
    """Whether setting ``field`` is a secret: its value is never shown or logged."""
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    return "SecretStr" in repr(annotation) or any(
        word in field for word in ("secret", "token", "password", "write_keys")
    )
