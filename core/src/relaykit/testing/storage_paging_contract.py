"""Part of the storage contract: paging through call records with a cursor.

``LogQuery(before=cursor)`` continues after the record the cursor names
(:func:`relaykit.log_cursor.log_cursor`), by the order every backend lists
records in: newest ``started_at`` first, then the larger stored id first. An
offset counts rows, so a record written between two page reads pushed every
row one place down (the next page began with the last one shown), and a row
gone from the part already read would pull them up (one never shown); a
cursor names a place in the order, which neither writes nor prunes move.

:class:`~relaykit.testing.StorageContract` inherits these tests, so every
backend's contract subclass runs them.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from ..log_cursor import log_cursor
from ..protocols import CallRecord, LogQuery, Storage
from ..storable_text import encode_text
from .records import SAME_INSTANT_IDS, T0, make_record

#: ids of records started at once that the escaping of stored text
#: (:mod:`relaykit.storable_text`) changes: they sort by their stored form
_ESCAPED_IDS = ("call\x00", "call\ud800", "call\uffff", "call\U0001f600", "call\ufffe")


def listed_order(records: list[CallRecord]) -> list[str]:
    """The ids of ``records`` in the order every backend lists them: newest first,
    then the larger id as stored (:func:`~relaykit.storable_text.encode_text`) first."""
    ordered = sorted(records, key=lambda r: (r.started_at, encode_text(r.id)), reverse=True)
    return [r.id for r in ordered]


class StoragePagingContract:
    """Cursor paging every backend must do (a mixin of the storage contract)."""

    @pytest.mark.anyio
    async def test_a_cursor_sees_each_record_once_while_others_are_written_and_pruned(
        self, storage: Storage
    ) -> None:
        """Between page reads another task logs newer calls and prunes the oldest:
        every record there throughout is read once, in order, none twice."""
        total, per_page = 60, 7
        records = [make_record(n) for n in range(100, 100 + total)]
        await storage.write_batch(records)
        pruned_below = 100  # every record started before T0 + this many seconds is gone
        read, done = anyio.create_memory_object_stream[int](0)
        wrote, go_on = anyio.create_memory_object_stream[None](0)
        seen: list[CallRecord] = []

        async def reader() -> None:
            query = LogQuery(limit=per_page)
            async with read, go_on:
                # bounded: a backend that ignored the cursor would list its first page forever
                for _ in range(total):
                    page = await storage.query_logs(query)
                    if not page:
                        break
                    seen.extend(page)
                    await read.send(len(seen))
                    await go_on.receive()
                    query = LogQuery(limit=per_page, before=log_cursor(page[-1]))

        async def writer() -> None:
            nonlocal pruned_below
            async with done, wrote:
                async for pages in done:
                    # two newer calls, and the oldest unread one pruned
                    newer = 1000 + pages * 2
                    await storage.write_batch([make_record(newer), make_record(newer + 1)])
                    pruned_below += 1
                    await storage.prune(T0 + timedelta(seconds=pruned_below))
                    await wrote.send(None)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                tg.start_soon(writer)
        ids = [r.id for r in seen]
        assert len(ids) == len(set(ids)), "a record was read twice"
        assert ids == listed_order(seen), "pages out of order"
        throughout = [r for r in records if r.started_at >= (T0.timestamp() + pruned_below)]
        assert [i for i in ids if i in {r.id for r in throughout}] == listed_order(throughout)
        assert {r.id for r in throughout} <= set(ids), "a record there throughout was never read"
        assert {r.id for r in seen} <= {r.id for r in records}  # newer ones come before page 1

    @pytest.mark.anyio
    async def test_a_cursor_pages_through_records_started_at_once_in_one_order(
        self, storage: Storage
    ) -> None:
        """Records started in the same instant come in one order on every backend
        (the stored id, by code point), and a cursor between two of them continues
        with the next: the order is total, so no page repeats or drops a tie."""
        records = [make_record(0, id=i) for i in (*SAME_INSTANT_IDS, *_ESCAPED_IDS)]
        records += [make_record(1, id="zz-later"), make_record(-1, id="aa-earlier")]
        await storage.write_batch(records)
        for per_page in (1, 4, 5):
            query, ids = LogQuery(limit=per_page), []
            # bounded: a backend that ignored the cursor would list its first page forever
            for _ in range(len(records) + 1):
                page = await storage.query_logs(query)
                if not page:
                    break
                assert len(page) <= per_page
                ids += [r.id for r in page]
                query = query.next_page(page)
            assert ids == listed_order(records), f"pages of {per_page}"

    @pytest.mark.anyio
    async def test_a_cursor_keeps_the_filters_and_may_name_a_record_gone(
        self, storage: Storage
    ) -> None:
        """The cursor is a place in the order, not a row: paging goes on after its
        record was pruned, and the query's filters still apply."""
        records = [
            make_record(n, provider="openai" if n % 3 == 0 else "anthropic") for n in range(10)
        ]
        await storage.write_batch(records)
        query = LogQuery(provider="anthropic", limit=3)
        first = await storage.query_logs(query)
        assert [r.id for r in first] == [records[n].id for n in (8, 7, 5)]
        assert await storage.prune(T0 + timedelta(seconds=6)) == 6  # the cursor's record too
        assert await storage.query_logs(query.next_page(first)) == []
        await storage.write_batch(records[:6])  # back again: listed after the cursor
        rest = await storage.query_logs(query.next_page(first))
        assert [r.id for r in rest] == [records[n].id for n in (4, 2, 1)]

    @pytest.mark.anyio
    async def test_usage_totals_ignore_the_cursor(self, storage: Storage) -> None:
        records = [make_record(n) for n in range(4)]
        await storage.write_batch(records)
        cursor = log_cursor(records[2])
        assert await storage.usage_totals(LogQuery(before=cursor)) == await storage.usage_totals()
