"""Chats in SQLite: long messages stored once, counted by the rows naming them; conversations."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from relaykit.messages import Message
from relaykit.record_rows import MESSAGES, RowEncoder
from relaykit.testing.storage_contract import T0, chat_records, make_record
from relaykit_sqlite import SQLiteStorage


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "logs.db"


@pytest.fixture
async def storage(path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(path)
    yield storage
    await storage.aclose()


def references(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """``shared_messages``' refs by key, and the ``logs`` rows naming each key."""
    with sqlite3.connect(path) as conn:
        refs = dict(conn.execute("SELECT key, refs FROM shared_messages").fetchall())
        counted = dict(
            conn.execute(
                "SELECT j.value, count(DISTINCT logs.rowid)"
                " FROM logs, json_each(logs.messages) AS j WHERE j.type = 'text' GROUP BY j.value"
            ).fetchall()
        )
    return refs, counted


def stored_size(path: Path) -> int:
    """Characters of messages stored: the rows' ``messages`` and the shared ones."""
    with sqlite3.connect(path) as conn:
        (rows,) = conn.execute("SELECT coalesce(sum(length(messages)), 0) FROM logs").fetchone()
        (shared,) = conn.execute(
            "SELECT coalesce(sum(length(body)), 0) FROM shared_messages"
        ).fetchone()
    return int(rows + shared)


@pytest.mark.anyio
async def test_a_chat_stores_each_long_message_once(storage: SQLiteStorage, path: Path) -> None:
    records = chat_records(20)
    for record in records:
        await storage.write_batch([record])
    refs, counted = references(path)
    assert len(refs) == 1 + 19 + 19  # the system prompt, the questions and answers resent
    assert refs == counted
    assert sorted(refs.values())[-1] == 20  # the system prompt, in every call
    whole = sum(len(RowEncoder()(r)[MESSAGES]) for r in records)  # as rows held them
    assert stored_size(path) * 4 < whole  # and the more turns, the more it saves


@pytest.mark.anyio
async def test_a_message_a_row_names_twice_counts_that_row_once(
    storage: SQLiteStorage, path: Path
) -> None:
    [first] = chat_records(1)
    question, answer = first.messages[-1], Message.assistant("Every six minutes. " * 20)
    again = make_record(2, messages=(*first.messages, answer, question, answer, question))
    await storage.write_batch([first, again])
    refs, counted = references(path)
    assert refs == counted and sorted(refs.values()) == [1, 1, 2]
    assert await storage.query_logs() == [again, first]
    await storage.prune(T0 + timedelta(seconds=2))  # the first only
    assert references(path)[0] == dict.fromkeys(refs, 1)
    await storage.prune(T0 + timedelta(days=1))
    assert references(path) == ({}, {})


@pytest.mark.anyio
async def test_records_written_again_count_their_references_once(
    storage: SQLiteStorage, path: Path
) -> None:
    records = chat_records(6)
    await storage.write_batch(records[:4])
    await storage.write_batch(records[2:4])  # a retry: every row stored before
    await storage.write_batch(records[3:])  # some stored before, some new
    refs, counted = references(path)
    assert refs == counted
    assert len(refs) == 1 + 5 + 5


@pytest.mark.anyio
async def test_a_pruned_record_written_again_brings_its_messages_back(
    storage: SQLiteStorage, path: Path
) -> None:
    [record] = chat_records(1)
    await storage.write_batch([record])
    await storage.prune(T0 + timedelta(days=1))
    assert references(path) == ({}, {})
    await storage.write_batch([record])  # stored again: its messages with it
    refs, counted = references(path)
    assert await storage.query_logs() == [record]
    assert refs == counted and len(refs) == 1  # the system prompt; the question is new


@pytest.mark.anyio
async def test_a_record_stored_whole_before_is_skipped_with_its_messages(
    storage: SQLiteStorage, path: Path
) -> None:
    # A retry of a batch an older relaykit stored (its rows hold every message
    # whole): the rows are skipped, and so must be the messages they would share.
    from relaykit.record_rows import COLUMNS, record_to_row

    records = chat_records(3)
    await storage.vault_items()  # opens the file: the schema is made on first use
    with sqlite3.connect(path) as conn:
        conn.executemany(
            f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [record_to_row(r) for r in records],
        )
    await storage.write_batch(records)
    assert references(path) == ({}, {})
    assert await storage.query_logs() == records[::-1]


@pytest.mark.anyio
async def test_pruning_drops_the_messages_nothing_refers_to(
    storage: SQLiteStorage, path: Path
) -> None:
    records = chat_records(10) + chat_records(4, first=10, chat="d")
    await storage.write_batch(records)
    assert await storage.prune(T0 + timedelta(seconds=6)) == 5
    refs, counted = references(path)
    assert refs == counted
    # chat c's turns 6-10 resend the system prompt and questions and
    # answers 1-9; chat d's four turns its own first three
    assert len(refs) == 1 + 9 + 9 + 3 + 3
    assert await storage.query_logs() == records[5:][::-1]
    assert await storage.prune(T0 + timedelta(days=1)) == 9
    assert references(path) == ({}, {})


@pytest.mark.anyio
async def test_writers_and_a_prune_at_once_keep_the_counts_right(path: Path) -> None:
    # Two storage objects on one file (two processes' worth of writers) and a
    # prune: SQLite's write lock takes them in turn, and each transaction
    # counts what it inserted and deleted.
    first, second = SQLiteStorage(path), SQLiteStorage(path)
    chats = [chat_records(15, first=100 * i, chat=f"c{i}") for i in range(4)]
    try:

        async def write(storage: SQLiteStorage, records: list) -> None:  # type: ignore[type-arg]
            for record in records:
                await storage.write_batch([record])

        async with anyio.create_task_group() as tg:
            for i, records in enumerate(chats):
                tg.start_soon(write, (first, second)[i % 2], records)
            for _ in range(5):
                await first.prune(T0 + timedelta(seconds=150))
                await anyio.sleep(0.01)
        await second.prune(T0 + timedelta(seconds=150))
        kept = [r for records in chats[2:] for r in records]
        assert sorted(await first.query_logs(), key=lambda r: r.started_at) == kept
    finally:
        await first.aclose()
        await second.aclose()
    refs, counted = references(path)
    assert refs == counted and len(refs) == 1 + 2 * (14 + 14)  # one system prompt for all


@pytest.mark.anyio
async def test_a_conversation_is_read_through_its_index(storage: SQLiteStorage, path: Path) -> None:
    from relaykit.protocols import LogQuery
    from relaykit_sqlite.queries import select_records

    await storage.write_batch(chat_records(2))
    sql, params = select_records(LogQuery(conversation_id="c", limit=1))
    with sqlite3.connect(path) as conn:
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING INDEX logs_conversation" in plan
