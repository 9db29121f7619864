"""Long messages stored once (migration 8): counted references, retries, prune, old rows.

Each test runs under asyncio (with the async driver) and trio (with the thread
driver), on the real server, in a schema of its own.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import attrs
import psycopg
import pytest

from relaykit.protocols import CallRecord, LogQuery
from relaykit.record_rows import COLUMNS, MESSAGES, RowEncoder, message_keys, record_to_row
from relaykit.testing.storage_contract import T0, chat_records
from relaykit_postgres import PostgresStorage

pytestmark = [pytest.mark.service("postgres"), pytest.mark.anyio]

ALL = LogQuery(limit=10_000)


@pytest.fixture
def schema(fresh_schema: str) -> str:
    """A schema of its own for one test (conftest's ``fresh_schema``)."""
    return fresh_schema


@pytest.fixture
async def storage(postgres_dsn: str, schema: str) -> AsyncIterator[PostgresStorage]:
    """The async driver under asyncio, the thread driver under trio."""
    storage = PostgresStorage(postgres_dsn, schema=schema)
    yield storage
    await storage.aclose()


def sql(dsn: str, schema: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``query`` in ``schema``, read outside the storage under test."""
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        return conn.execute(query, params).fetchall()


def stored_refs(dsn: str, schema: str) -> dict[str, int]:
    """``shared_messages``: refs by key."""
    return dict(sql(dsn, schema, "SELECT key, refs FROM shared_messages"))


def references_in_logs(dsn: str, schema: str) -> dict[str, int]:
    """The references the logs rows hold, counted by SQL: what refs must equal."""
    rows = sql(
        dsn,
        schema,
        "SELECT m #>> '{}', count(*) FROM logs, jsonb_array_elements(messages) AS m"
        " WHERE jsonb_typeof(m) = 'string' GROUP BY 1",
    )
    return dict(rows)


def references_of(records: list[CallRecord]) -> Counter[str]:
    """The references ``records`` hold, counted in Python from their encoded rows."""
    encode = RowEncoder()
    return Counter(k for r in records for k in message_keys(encode.shared(r)[0][MESSAGES]))


async def test_a_chat_stores_each_long_message_once(
    storage: PostgresStorage, postgres_dsn: str, schema: str
) -> None:
    records = chat_records(20)
    for record in records:  # as a chat writes them, one turn at a time
        await storage.write_batch([record])
    assert await storage.query_logs(ALL) == records[::-1]
    refs = stored_refs(postgres_dsn, schema)
    assert refs == references_of(records)
    # The system prompt and the 19 turns of history (a call's own new messages
    # may stay in its row), each stored once, however many rows refer to it.
    assert len(refs) >= 39
    assert sql(postgres_dsn, schema, "SELECT count(DISTINCT body) FROM shared_messages") == [
        (len(refs),)
    ]
    assert max(refs.values()) == 20  # the system prompt, in every record
    inline = sum(len(record_to_row(r)[MESSAGES].encode()) for r in records)
    [(in_rows, in_bodies)] = sql(
        postgres_dsn,
        schema,
        "SELECT (SELECT sum(octet_length(messages::text)) FROM logs),"
        " (SELECT sum(octet_length(body)) FROM shared_messages)",
    )
    assert in_rows < inline / 5  # ~36 bytes a message of history instead of ~400
    assert in_rows + in_bodies < inline / 3


async def test_a_word_of_turn_one_is_found_in_turn_one_only(storage: PostgresStorage) -> None:
    records = chat_records(20)
    await storage.write_batch(records)
    assert [r.id for r in await storage.query_logs(LogQuery(text="cq1x"))] == [records[0].id]
    assert [r.id for r in await storage.query_logs(LogQuery(text="cq20x"))] == [records[-1].id]
    assert [r.id for r in await storage.query_logs(LogQuery(text="ca1x"))] == [records[0].id]


async def test_a_retried_batch_counts_each_reference_once(
    storage: PostgresStorage, postgres_dsn: str, schema: str
) -> None:
    records = chat_records(15)
    await storage.write_batch(records[:10])
    await storage.write_batch(records[5:15])  # half of it stored already: the staging path
    await storage.write_batch(records[:10])  # all of it stored already: nothing counts
    assert await storage.query_logs(ALL) == records[::-1]
    refs = stored_refs(postgres_dsn, schema)
    assert refs == references_of(records)
    assert refs == references_in_logs(postgres_dsn, schema)
    assert max(refs.values()) == 15  # the system prompt, in every record once


async def test_a_batch_stored_before_adds_no_message(
    storage: PostgresStorage, postgres_dsn: str, schema: str
) -> None:
    [first] = chat_records(1)
    await storage.write_batch([first])
    # The same id with a message never stored (a record is never rewritten:
    # the row stays as it was, and nothing refers to the new message).
    other = chat_records(3, chat="z")[-1]  # chat z's history: messages not stored yet
    assert set(references_of([other])) - set(references_of([first]))
    await storage.write_batch([attrs.evolve(other, id=first.id)])
    assert await storage.query_logs(ALL) == [first]
    assert stored_refs(postgres_dsn, schema) == references_of([first])


async def test_pruning_drops_the_messages_nothing_refers_to(
    storage: PostgresStorage, postgres_dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relaykit_postgres.storage.PRUNE_CHUNK", 4)  # several chunks
    older = chat_records(10, chat="c")  # at T0 + 1..10 s
    newer = chat_records(10, first=5, chat="d")  # at T0 + 6..15 s: the same system prompt
    await storage.write_batch(older + newer)
    assert await storage.prune(T0 + timedelta(seconds=10.5)) == 15
    assert await storage.query_logs(ALL) == newer[5:][::-1]
    refs = stored_refs(postgres_dsn, schema)
    assert refs == references_of(newer[5:])
    assert refs == references_in_logs(postgres_dsn, schema)
    # The system prompt (both chats') and chat d's history; none of chat c's.
    bodies = "SELECT count(*) FROM shared_messages WHERE body ~ %s"
    assert sql(postgres_dsn, schema, bodies, ("c[qa][0-9]+x:",)) == [(0,)]
    assert sql(postgres_dsn, schema, bodies, ("d[qa][0-9]+x:",)) == [(len(refs) - 1,)]
    assert len(refs) >= 19
    assert await storage.prune(T0 + timedelta(days=1)) == 5
    assert sql(postgres_dsn, schema, "SELECT count(*) FROM shared_messages") == [(0,)]
    assert await storage.prune(T0 + timedelta(days=1)) == 0


async def test_rows_from_before_migration_8_still_read_back(
    postgres_dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaykit_postgres import schema as migrations

    records = chat_records(12)
    old, new = records[:6], records[6:]
    with psycopg.connect(postgres_dsn, options=f"-c search_path={schema}") as conn:
        with monkeypatch.context() as m:  # the schema as relaykit-postgres 7 left it
            m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
            migrations.migrate(conn, schema)
        with conn.cursor() as cur:  # every message inline, as it wrote them
            v7 = COLUMNS[: COLUMNS.index("cache_write_1h_input_tokens") + 1]  # its columns
            values = ", ".join(["%s"] * len(v7))
            insert = f"INSERT INTO logs ({', '.join(v7)}) VALUES ({values})"
            cur.executemany(insert, [record_to_row(r)[: len(v7)] for r in old])
        conn.commit()
    storage = PostgresStorage(postgres_dsn, schema=schema)
    try:
        await storage.write_batch(new)  # the same chat goes on, its history now shared
        assert await storage.query_logs(ALL) == records[::-1]
        newest = len(migrations.MIGRATIONS)
        assert sql(postgres_dsn, schema, "SELECT max(version) FROM relaykit_migrations") == [
            (newest,)
        ]
        options = "SELECT reloptions FROM pg_class WHERE oid = 'shared_messages'::regclass"
        assert sql(postgres_dsn, schema, options) == [(["fillfactor=50"],)]  # room for HOT
        assert stored_refs(postgres_dsn, schema) == references_of(new)
        assert await storage.prune(T0 + timedelta(seconds=6.5)) == 6  # old rows hold no keys
        assert stored_refs(postgres_dsn, schema) == references_of(new)
        assert await storage.query_logs(ALL) == new[::-1]
        assert await storage.prune(T0 + timedelta(days=1)) == 6
        assert sql(postgres_dsn, schema, "SELECT count(*) FROM shared_messages") == [(0,)]
    finally:
        await storage.aclose()


async def test_concurrent_writers_and_prune_keep_references_exact(
    postgres_dsn: str, schema: str
) -> None:
    """Two writers store the same two chats (the same messages, other ids) with retries,
    while a third storage prunes and a fourth reads: no deadlock, every read whole,
    and every message's refs is the number of references the rows hold."""
    storages = [PostgresStorage(postgres_dsn, schema=schema, max_size=2) for _ in range(4)]
    rounds, turns, prunes = 8, 12, 31
    pruned: list[int] = []

    def chats(n: int) -> tuple[list[CallRecord], list[CallRecord]]:
        x = chat_records(turns, first=n * turns, chat=f"x{n}")
        y = chat_records(turns, first=n * turns, chat=f"y{n}")
        # Without its system prompt, chat y has no message in common with chat x.
        return x, [attrs.evolve(r, messages=r.messages[1:]) for r in y]

    async def write(storage: PostgresStorage, flip: bool) -> None:
        rng = random.Random(int(flip))
        for n in range(rounds):
            x, y = chats(n)
            batches = [x[i : i + 3] + y[i : i + 3] for i in range(0, turns, 3)]
            for i, batch in enumerate(batches):
                # One writer meets chat x's messages first, the other chat y's:
                # only locking them in one order keeps the two from deadlocking.
                await storage.write_batch(batch[::-1] if flip else batch)
                if i and rng.random() < 0.5:  # a retry: a stored id sends the batch to staging
                    await storage.write_batch(batches[i - 1] + batch)

    async def prune(storage: PostgresStorage) -> None:
        for n in range(1, prunes + 1):
            pruned.append(await storage.prune(T0 + timedelta(seconds=n * turns / 4)))
            await anyio.sleep(0.01)

    async def read(storage: PostgresStorage) -> None:
        # Rows and their messages come from one snapshot: a prune between the
        # two SELECTs would otherwise leave a row's message missing.
        while len(pruned) < prunes:
            reads.append(len(await storage.query_logs(ALL)))

    reads: list[int] = []
    await storages[0].write_batch(chat_records(1, chat="warm-up"))  # migrate once
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, storages[0], False)
                tg.start_soon(write, storages[1], True)
                tg.start_soon(prune, storages[2])
                tg.start_soon(read, storages[3])
        refs = stored_refs(postgres_dsn, schema)
        assert refs == references_in_logs(postgres_dsn, schema)
        assert all(count > 0 for count in refs.values())
        assert sum(pruned) > 0
        assert len(reads) > 1
        stored = await storages[0].query_logs(ALL)  # every stored row reads back whole
        assert len(stored) == sql(postgres_dsn, schema, "SELECT count(*) FROM logs")[0][0] > 0
        assert await storages[2].prune(T0 + timedelta(days=1)) == len(stored)
        assert stored_refs(postgres_dsn, schema) == {}
    finally:
        for storage in storages:
            await storage.aclose()


async def test_a_conversation_can_be_read_through_its_index(
    storage: PostgresStorage, postgres_dsn: str, schema: str
) -> None:
    from relaykit_postgres.queries import select_records

    await storage.write_batch(chat_records(2))
    query, params = select_records(LogQuery(conversation_id="c", limit=1))
    with psycopg.connect(postgres_dsn, options=f"-c search_path={schema}") as conn:
        conn.execute("SET enable_seqscan = off")  # two rows: a scan would win on cost alone
        plan = " ".join(row[0] for row in conn.execute(f"EXPLAIN {query}", params))
    assert "logs_conversation" in plan
