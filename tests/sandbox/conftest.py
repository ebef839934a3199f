"""Fixtures for the sandbox's own tests (the sandbox itself comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle


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
