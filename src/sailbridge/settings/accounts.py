"""Accounts and sources: which Sailthru accounts one deployment delivers to, and which
sources (write keys, webhook secrets) feed which of them.

An account is a dimension of the settings, not a second copy of them: its table in the
settings file holds exactly the account's own values (`ACCOUNT_FIELDS`: credentials,
base URLs, mapping defaults, rate limits, filters, consent, cart expiry, var names),
checked by the same validators as the top-level settings. Without ``[[accounts]]`` the
top-level values (today's environment variables) describe the one account `DEFAULT`,
and every write key and webhook secret feeds it: a deployment configured the old way
changes nothing. An account never inherits another's values, so a secret of one
account cannot end up serving another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import GetCoreSchemaHandler, ValidationError
from pydantic_core import CoreSchema, core_schema

if TYPE_CHECKING:
    from sailbridge.settings.model import Settings

DEFAULT_ACCOUNT: Final = "default"
"""The account the top-level settings describe, and every row stored before accounts."""

DEFAULT_SOURCE: Final = "default"
"""The source the top-level write keys and webhook secrets make without ``[[sources]]``."""

ACCOUNT_FIELDS: Final = frozenset(
    {
        "sailthru_api_key",
        "sailthru_api_secret",
        "sailthru_base_url",
        "pageview_base_url",
        "customer_id",
        "default_list_name",
        "optout_value",
        "reminder_template",
        "reminder_time",
        "track_screens_as_pageviews",
        "rate_limits",
        "filters",
        "consent_categories",
        "consent_required",
        "clear_incomplete_cart_after_hours",
        "rename_vars",
        "var_name_max_length",
    }
)
"""The settings an account holds for itself (``[[accounts]]`` tables take these keys)."""

_ACCOUNT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A name that is safe as a metric label, a URL parameter and a log field as it is."""

_SOURCE_KEYS: Final = frozenset({"name", "write_keys", "webhook_secrets", "accounts"})


class _Checked:
    """Taken as is inside `Settings`: its field validators build and check it."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.is_instance_schema(cls)


@dataclass(frozen=True)
class Account(_Checked):
    """One Sailthru account: its name and its own values of `ACCOUNT_FIELDS`.

    ``settings`` is a `Settings` holding this account's values (the fields outside
    `ACCOUNT_FIELDS` keep their defaults and mean nothing here): its ``credentials()``,
    ``mapping_options()`` and ``rate_limits_per_second`` are the account's.
    """

    name: str
    settings: Settings

    def __repr__(self) -> str:  # never the secret (Settings masks it too)
        return f"Account({self.name!r})"


@dataclass(frozen=True)
class Source(_Checked):
    """Where events come from (its write keys and webhook secrets) and the accounts
    each of its events is delivered to, one delivery per account."""

    name: str
    write_keys: tuple[str, ...]
    webhook_secrets: tuple[str, ...]
    accounts: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Source({self.name!r}, accounts={self.accounts!r})"


@dataclass(frozen=True)
class Deployment:
    """Every account and source, checked together: the routing of ingest."""

    accounts: Mapping[str, Account]
    sources: tuple[Source, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The account names, in the order configured."""
        return tuple(self.accounts)

    @property
    def rate_limits(self) -> dict[str, dict[str, float]]:
        """Each account's configured limits: account → route → calls per second."""
        return {
            name: account.settings.rate_limits_per_second for name, account in self.accounts.items()
        }

    def accounts_for_write_key(self, write_key: str) -> tuple[str, ...]:
        """The accounts an event sent with ``write_key`` is delivered to (none: unknown)."""
        for source in self.sources:
            if write_key in source.write_keys:
                return source.accounts
        return ()

    def accounts_for_webhook_secret(self, secret: str) -> tuple[str, ...]:
        """The accounts a webhook signed with ``secret`` is delivered to."""
        for source in self.sources:
            if secret in source.webhook_secrets:
                return source.accounts
        return ()

    def check_credentials(self, names: Sequence[str] | None = None) -> None:
        """Raise `SettingsError` naming the first account (of ``names``, default all)
        without its Sailthru key or secret: everything that talks to Sailthru asks."""
        from sailbridge.settings.model import SettingsError

        for name in names or self.names:
            account = self.account(name)
            if list(self.accounts) == [DEFAULT_ACCOUNT]:
                account.settings.credentials()  # today's message, naming the variable
                continue
            for field in ("sailthru_api_key", "sailthru_api_secret"):
                if getattr(account.settings, field) is None:
                    raise SettingsError(f"account {name!r}: {field} is required but not set")

    def account(self, name: str | None) -> Account:
        """The account called ``name`` (the only one when ``None`` and there is one)."""
        if name is None:
            if len(self.accounts) == 1:
                return next(iter(self.accounts.values()))
            raise KeyError(f"name an account: one of {', '.join(self.accounts)}")
        if name not in self.accounts:
            raise KeyError(f"no account named {name!r}: one of {', '.join(self.accounts)}")
        return self.accounts[name]


def flat_value(value: Any) -> Any:
    """A TOML table given for a text setting (``rate_limits = {"POST /user" = "5/s"}``)
    as the text the environment variable would hold (``POST /user=5/s``)."""
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items())
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    """A list of strings or one comma-separated string, blanks dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def parse_accounts(tables: Sequence[Any]) -> tuple[Account, ...]:
    """The ``[[accounts]]`` tables, each checked as the top-level settings are; a
    `ValueError` names the account and the key at fault."""
    from sailbridge.settings.model import Settings  # the model imports this module

    accounts: list[Account] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        if not isinstance(table, Mapping):
            raise ValueError(f"account {index + 1} is not a table")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"account {index + 1} has no name")
        name = name.strip()
        if not _ACCOUNT_NAME.fullmatch(name):
            raise ValueError(
                f"account name {name!r}: use letters, digits, '.', '_' or '-' "
                "(at most 64), starting with a letter or digit"
            )
        if name in seen:
            raise ValueError(f"two accounts are named {name!r}")
        seen.add(name)
        values = {key.lower(): flat_value(value) for key, value in table.items() if key != "name"}
        unknown = sorted(set(values) - ACCOUNT_FIELDS)
        if unknown:
            raise ValueError(f"account {name!r}: {unknown[0]} is not an account setting")
        try:
            settings = Settings.model_validate(values)  # validators only, no environment
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ValueError(f"account {name!r}: {field} is invalid: {message}") from None
        accounts.append(Account(name, settings))
    return tuple(accounts)


def parse_sources(tables: Sequence[Any], accounts: Sequence[str]) -> tuple[Source, ...]:
    """The ``[[sources]]`` tables: each names the accounts it feeds, which must exist;
    a write key or webhook secret belongs to one source only."""
    sources: list[Source] = []
    owner: dict[str, str] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, Mapping):
            raise ValueError(f"source {index + 1} is not a table")
        name = str(table.get("name") or f"source {index + 1}")
        unknown = sorted(set(table) - _SOURCE_KEYS)
        if unknown:
            raise ValueError(f"source {name!r}: unknown key {unknown[0]}")
        write_keys = _strings(table.get("write_keys", []), f"source {name!r}: write_keys")
        secrets = _strings(table.get("webhook_secrets", []), f"source {name!r}: webhook_secrets")
        fed = _strings(table.get("accounts", []), f"source {name!r}: accounts")
        if not fed:
            raise ValueError(f"source {name!r} feeds no account (give it accounts = [...])")
        missing = [account for account in fed if account not in accounts]
        if missing:
            raise ValueError(f"source {name!r} names an unknown account {missing[0]!r}")
        if not write_keys and not secrets:
            raise ValueError(f"source {name!r} has no write_keys or webhook_secrets")
        for credential in (*write_keys, *secrets):
            if credential in owner:
                raise ValueError(
                    f"source {name!r} shares a write key or webhook secret "
                    f"with source {owner[credential]!r}"
                )
            owner[credential] = name
        sources.append(Source(name, write_keys, secrets, fed))
    return tuple(sources)


def deployment(settings: Settings) -> Deployment:
    """The accounts and sources ``settings`` describe (already checked at load).

    No ``[[accounts]]``: the top-level values are the account `DEFAULT`. No
    ``[[sources]]``: the top-level write keys and webhook secrets feed every account.
    """
    accounts = settings.accounts or (Account(DEFAULT_ACCOUNT, settings),)
    names = tuple(account.name for account in accounts)
    sources = settings.sources or (
        Source(
            DEFAULT_SOURCE,
            tuple(sorted(settings.write_key_set)),
            settings.webhook_secret_list,
            names,
        ),
    )
    return Deployment({account.name: account for account in accounts}, sources)
