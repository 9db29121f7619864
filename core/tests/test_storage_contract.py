"""The storage contract holds for the reference in-memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relaykit.protocols import LogQuery
from relaykit.record_spill import spill_target
from relaykit.testing.memory_storage import MemoryStorage
from relaykit.testing.storage_contract import StorageContract, make_record


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[MemoryStorage]:
        storage = MemoryStorage()
        yield storage
        await storage.aclose()

    @pytest.mark.anyio
    async def test_an_outage_is_storage_unavailable(self, storage: MemoryStorage) -> None:  # type: ignore[override]
        """Memory has no server or file to lose, so there is no outage to tell apart:
        (the suite's check, for backends that have one, needs ``unavailable_storage``)
        a write always lands."""
        record = make_record(0)
        await storage.write_batch([record])
        assert [r.id for r in await storage.query_logs(LogQuery())] == [record.id]

    @pytest.mark.anyio
    async def test_spill_target_names_the_storage_without_secrets(  # type: ignore[override]
        self, storage: MemoryStorage
    ) -> None:
        """Memory names no spill file of its own (nothing outlives the process), so a
        client spills to the file its ``[storage]`` config names."""
        assert spill_target(storage) is None


@pytest.mark.parametrize("paging", [{"limit": -1}, {"offset": -5}, {"limit": True}])
def test_a_query_with_negative_paging_is_refused_where_it_is_made(paging: dict[str, int]) -> None:
    """SQLite reads a negative LIMIT as no limit and PostgreSQL refuses it with its own
    words: the query says what is wrong before any backend sees it."""
    from relaykit.errors import InvalidRequestError

    [name] = paging
    with pytest.raises(InvalidRequestError, match=f"LogQuery {name} must be a whole number >= 0"):
        LogQuery(**paging)  # type: ignore[arg-type]
    assert LogQuery(limit=0, offset=0).limit == 0
