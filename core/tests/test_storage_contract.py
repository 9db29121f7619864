"""The storage contract holds for the reference in-memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relaykit.testing.memory_storage import MemoryStorage
from relaykit.testing.storage_contract import StorageContract


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[MemoryStorage]:
        storage = MemoryStorage()
        yield storage
        await storage.aclose()
