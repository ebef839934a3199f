"""The environment a sailbridge process gets in the tests: pointed at the sandbox."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from sailbridge.sandbox.server import SandboxHandle


def clean_environment() -> dict[str, str]:
    """The test runner's environment without any SAILBRIDGE_* of the developer's."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SAILBRIDGE_")}


def sandbox_environment(sandbox: SandboxHandle, database: str, **extra: str) -> dict[str, str]:
    """Settings for a sailbridge process that talks to ``sandbox``, over ``extra``."""
    return {
        **clean_environment(),
        "SAILBRIDGE_SAILTHRU_API_KEY": sandbox.config.api_key,
        "SAILBRIDGE_SAILTHRU_API_SECRET": sandbox.config.api_secret,
        "SAILBRIDGE_SAILTHRU_BASE_URL": sandbox.url,
        "SAILBRIDGE_PAGEVIEW_BASE_URL": sandbox.url,
        "SAILBRIDGE_CUSTOMER_ID": sandbox.config.customer_id,
        "SAILBRIDGE_REMINDER_TEMPLATE": "abandoned cart",
        "SAILBRIDGE_REMINDER_TIME": "20 minutes",
        "SAILBRIDGE_DATABASE": database,
        "SAILBRIDGE_RETRY_MIN_DELAY": "0.1",
        **extra,
    }


def unavailable(message: str) -> NoReturn:
    """Skip a test whose tool or server is missing here; fail instead when ``CI`` is set.

    A developer's machine may lack PostgreSQL, Node or Chromium; CI must not go green
    without the tests that need them.
    """
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this must be tested: {message}", pytrace=False)
    pytest.skip(message)
