"""A PostgreSQL database of its own for a test run, as a pytest plugin.

``postgres_database`` (session) creates ``sailbridge_test_<random hex>`` on the server
at ``SAILBRIDGE_TEST_POSTGRES_URL`` (default ``postgresql://root@127.0.0.1:5432/postgres``;
that database is only used to create and drop others) and drops it at the end;
``postgres_url`` gives a test that database emptied (schema kept, ids restarted).
When the server cannot be reached the tests that need it are skipped, or fail when
``CI`` is set: CI must not go green without the PostgreSQL runs.

The store suite uses it through ``tests/store/conftest.py``; another test folder's
conftest can do the same (``from tests.store.postgres_server import
postgres_database, postgres_url``), or the root conftest can register the module
with ``pytest_plugins = ["tests.store.postgres_server"]``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from ..environment import unavailable

POSTGRES_URL_VARIABLE = "SAILBRIDGE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/postgres"
# Read once, at collection: the autouse fixture in tests/conftest.py removes every
# SAILBRIDGE_* variable from each test's environment.
POSTGRES_URL = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def postgres_server() -> tuple[str, psycopg.Connection[Any]]:
    """The server's URL and an admin connection; skips (fails under CI) if unreachable."""
    url = POSTGRES_URL
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable at {url} ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
            f"start` or point {POSTGRES_URL_VARIABLE} at a server."
        )
        unavailable(message)
    return url, admin


@contextmanager
def fresh_database(prefix: str = "sailbridge_test") -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards; yields its URL."""
    url, admin = postgres_server()
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(url, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The test run's own database (migrated by the first store opened on it)."""
    with fresh_database() as url:
        yield url


async def empty_database(url: str) -> None:
    """Delete every row sailbridge keeps (the schema stays), restarting the ids."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'schema_version'"
        )
        tables = [row[0] for row in await cursor.fetchall()]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


@pytest.fixture
async def postgres_url(postgres_database: str) -> str:
    """The run's database, emptied (and migrated once any store has opened it)."""
    await empty_database(postgres_database)
    return postgres_database
