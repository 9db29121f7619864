"""The PostgreSQL backend passes the storage contract, on the real server, both ways:
psycopg's sync pool in worker threads (asyncio and trio) and its asyncio pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from psycopg.conninfo import conninfo_to_dict

from relaykit.testing.storage_contract import StorageContract
from relaykit_postgres import PostgresStorage

pytestmark = pytest.mark.service("postgres")


class TestPostgresThreadDriver(StorageContract):
    driver = "thread"

    @pytest.fixture
    async def storage(
        self, postgres_dsn: str, postgres_schema: str, empty_tables: Callable[[], None]
    ) -> AsyncIterator[PostgresStorage]:
        storage = PostgresStorage(postgres_dsn, schema=postgres_schema, driver=self.driver)  # type: ignore[arg-type]
        yield storage
        await storage.aclose()
        empty_tables()

    @pytest.fixture
    def storage_secrets(self, postgres_dsn: str) -> list[str]:
        password = conninfo_to_dict(postgres_dsn).get("password")
        return [str(password)] if password else []

    @pytest.fixture
    async def unavailable_storage(self) -> AsyncIterator[PostgresStorage]:
        """A server that refuses connections (nothing listens on port 1)."""
        dsn = "host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=2"
        storage = PostgresStorage(dsn, driver=self.driver)  # type: ignore[arg-type]
        yield storage
        await storage.aclose()


class TestPostgresAsyncDriver(TestPostgresThreadDriver):
    driver = "async"

    @pytest.fixture
    def anyio_backend(self) -> str:
        """psycopg's async API runs on asyncio only."""
        return "asyncio"
