"""The PostgreSQL fixtures of the store suite, for the commands that open a store."""

from ..store.postgres_server import (  # noqa: F401 - fixtures, registered by being imported
    postgres_database,
    postgres_url,
)
