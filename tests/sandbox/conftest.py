"""Fixtures: one real sandbox server per session, reset (state and config) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(seed=7)) as handle:
        yield handle


@pytest.fixture
def sandbox(shared_sandbox: SandboxHandle) -> SandboxHandle:
    shared_sandbox.reset(config=True)
    return shared_sandbox


@pytest.fixture
def client(sandbox: SandboxHandle) -> SailthruClient:
    """Sailthru's official Python client pointed at the sandbox."""
    return SailthruClient(sandbox.config.api_key, sandbox.config.api_secret, api_url=sandbox.url)


ItemFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def item() -> ItemFactory:
    """Makes a valid purchase item in POST shape; keyword arguments override fields."""

    def make(**overrides: Any) -> dict[str, Any]:
        return {
            "id": "sku-1",
            "title": "Water bottle",
            "qty": 1,
            "price": 1099,
            "url": "https://shop.example/sku-1",
            **overrides,
        }

    return make
