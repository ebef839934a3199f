"""Fixtures shared by every test folder: one real sandbox Sailthru per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import SandboxHandle, running_sandbox

# Property tests check what holds, not how fast: on a shared machine a slow moment made
# Hypothesis's timing checks fail tests whose properties held.
settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(seed=7)) as handle:
        yield handle


@pytest.fixture
def sandbox(shared_sandbox: SandboxHandle) -> SandboxHandle:
    """The session's sandbox, with its state and configuration reset for this test."""
    shared_sandbox.reset(config=True)
    return shared_sandbox


@pytest.fixture(scope="session")
def second_sandbox() -> Iterator[SandboxHandle]:
    """Another Sailthru account for the tests of several accounts: its own key, secret
    and customer id."""
    config = SandboxConfig(
        api_key="brand-b-key", api_secret="brand-b-secret", customer_id="brand-b-customer", seed=11
    )
    with running_sandbox(config) as handle:
        yield handle


@pytest.fixture
def sandbox_b(second_sandbox: SandboxHandle) -> SandboxHandle:
    """The second account's sandbox, reset for this test."""
    second_sandbox.reset(config=True)
    return second_sandbox


@pytest.fixture(autouse=True)
def no_sailbridge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure sailbridge explicitly; the developer's own variables stay out."""
    import os

    for name in list(os.environ):
        if name.startswith("SAILBRIDGE_"):
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``SAILBRIDGE_DATABASE`` for a test run on each store: a fresh SQLite path alone in
    its folder (so a test can scan every file the store writes), or an emptied
    PostgreSQL database (the folder's conftest must register ``postgres_url``)."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    folder = tmp_path / "store"
    folder.mkdir()
    return str(folder / "sailbridge.db")
