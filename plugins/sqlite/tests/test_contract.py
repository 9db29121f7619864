"""The SQLite backend passes the storage contract, on a real file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaykit.testing.storage_contract import StorageContract
from relaykit_sqlite import SQLiteStorage


class TestSQLiteStorage(StorageContract):
    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
        storage = SQLiteStorage(tmp_path / "logs.db")
        yield storage
        await storage.aclose()

    @pytest.fixture
    async def unavailable_storage(self, tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
        """A file another connection holds locked past the busy timeout."""
        storage = SQLiteStorage(tmp_path / "logs.db", busy_timeout=0.01)
        await storage.vault_items()  # created and migrated before the lock
        holder = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        yield storage
        holder.execute("COMMIT")
        holder.close()
        await storage.aclose()
