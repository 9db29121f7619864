"""The storage contract holds for the reference in-memory backend."""

from __future__ import annotations

import base64
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


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "sk-proj-not-a-cursor-at-all",  # a mistaken paste: never repeated back
        "WzEuMCwic2stcHJvai1zZWNyZXQiXQ==!",  # a cursor with a stray character
        "WzEuMCxdXQ",  # [1.0,]]: not JSON
        "WyJ4IiwiaWQiXQ",  # ["x","id"]: no time
        "W05hTiwiaWQiXQ",  # [NaN,"id"]
        "W3RydWUsImlkIl0",  # [true,"id"]
        "WzEuMCwyXQ",  # [1.0,2]: no id
        "WzEuMCwiaWQiLDNd",  # [1.0,"id",3]
        "eyJhIjoxLCJiIjoyfQ",  # {"a":1,"b":2}
        "WzFlOTk5LCJpZCJd",  # [1e999,"id"]: inf
        base64.urlsafe_b64encode(b"[1" + b"0" * 400 + b',"id"]').decode(),
        # [10**400,"id"]: an integer no float holds
        "w6k",  # not ASCII once decoded
        "é",
    ],
)
def test_a_text_that_is_not_a_cursor_is_refused_without_repeating_it(cursor: str) -> None:
    from relaykit.errors import InvalidRequestError

    with pytest.raises(
        InvalidRequestError, match=r"LogQuery before is a .* not a page cursor"
    ) as e:
        LogQuery(before=cursor)
    assert e.value.param == "before" and "log_cursor(record)" in str(e.value.hint)
    assert cursor not in str(e.value) or not cursor
    assert "secret" not in str(e.value) and "sk-proj" not in str(e.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "call-1", "started_at": 1741953600.123456},
        {"id": "a/b c:d=é\x00\ud800\uffff", "started_at": 0.1 + 0.2},  # any id, any float
        {"id": "x" * 300, "started_at": 1e-300},
    ],
)
def test_a_cursor_names_its_records_place_exactly(fields: dict[str, object]) -> None:
    from relaykit.log_cursor import cursor_position, log_cursor

    record = make_record(**fields)  # type: ignore[arg-type]
    cursor = log_cursor(record)
    assert cursor.isascii() and all(c.isalnum() or c in "-_" for c in cursor)  # shell-safe
    assert cursor_position(cursor) == (record.started_at, record.id)
    assert LogQuery(before=cursor).position() == (record.started_at, record.id)


def test_a_cursor_and_an_offset_are_either_or() -> None:
    from relaykit.errors import InvalidRequestError

    page = [make_record(3), make_record(2)]
    query = LogQuery(limit=2, offset=4, status="ok")
    with pytest.raises(InvalidRequestError, match=r"either a cursor .* or an offset") as e:
        LogQuery(offset=4, before=query.next_page(page).before)
    assert e.value.param == "offset"
    after = query.next_page(page)  # continues by cursor: the offset is dropped
    assert (after.offset, after.status, after.position()) == (
        0,
        "ok",
        (page[-1].started_at, page[-1].id),
    )
    with pytest.raises(InvalidRequestError, match="an empty page has no next page"):
        query.next_page([])
