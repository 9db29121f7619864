"""The SQLite backend passes the storage contract, on a real file."""

from __future__ import annotations

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
