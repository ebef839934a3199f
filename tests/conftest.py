"""Fixtures shared by every test folder: one real sandbox Sailthru per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(seed=7)) as handle:
        yield handle


@pytest.fixture
def sandbox(shared_sandbox: SandboxHandle) -> SandboxHandle:
    """The session's sandbox, with its state and configuration reset for this test."""
    shared_sandbox.reset(config=True)
    return shared_sandbox


@pytest.fixture(autouse=True)
def no_sailbridge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure sailbridge explicitly; the developer's own variables stay out."""
    import os

    for name in list(os.environ):
        if name.startswith("SAILBRIDGE_"):
            monkeypatch.delenv(name)
