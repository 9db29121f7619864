"""What the SQLite backend promises beyond the contract: schema, writer, backpressure, drain."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.messages import Message, ReasoningPart
from relaykit.protocols import CachedModels, CallRecord, LogQuery
from relaykit.response import ModelInfo, Usage
from relaykit.testing import FakePlugin
from relaykit.testing.storage_contract import (
    T0,
    check_vault_update_holds_off_writers,
    make_record,
)
from relaykit.web_search import Citation
from relaykit_sqlite import SQLiteStorage
from relaykit_sqlite.plugin import database_path
from relaykit_sqlite.schema import MIGRATIONS


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(tmp_path / "logs.db", max_queued=2)
    yield storage
    await storage.aclose()


class WriteLock:
    """The database's write lock, held by another connection (as another process would)."""

    def __init__(self, path: Path) -> None:
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None


@contextmanager
def write_lock(path: Path) -> Iterator[WriteLock]:
    lock = WriteLock(path)
    try:
        yield lock
    finally:
        lock.release()


def queued_jobs(storage: SQLiteStorage) -> list[object]:
    """The jobs handed to the writer's queue from now on (its ``put`` returned for each).

    Tests wait for these, not for a fixed time: each write reaches the queue
    from a worker thread, and on a loaded machine 0.3 s was not always enough
    for all of them to start.
    """
    writer = storage._writer
    assert writer is not None, "write once first: the writer starts with the first write"
    put, queued = writer._queue.put, []

    def counted(job: Any, block: bool = True, timeout: float | None = None) -> None:
        put(job, block, timeout)
        queued.append(job)

    writer._queue.put = counted  # type: ignore[method-assign,assignment]
    return queued


async def wait_until(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds (it changes in other threads)."""
    with anyio.fail_after(30):  # a safety net only
        while not condition():  # noqa: ASYNC110 (threads have no event to wait on)
            await anyio.sleep(0.005)


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM logs").fetchone()[0])


@pytest.mark.anyio
async def test_schema_is_migrated_once_in_wal_mode_with_fts_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "logs.db"
    for _ in range(2):  # the second open finds everything in place
        storage = SQLiteStorage(path)
        await storage.write_batch([make_record(0)])
        await storage.aclose()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version, name FROM relaykit_migrations").fetchall() == [
        (1, "logs with full-text search, vault, model cache"),
        (2, "response cache"),
        (3, "drop the unused index logs_model_requested"),
        (4, "the model's reasoning text"),
        (5, "the model's reasoning blocks"),
        (6, "prompt-cache write tokens"),
        (7, "one-hour prompt-cache write tokens"),
        (8, "long messages stored once"),
        (9, "an index of conversations"),
        (10, "web searches and citations"),
        (11, "web search queries"),
        (12, "fallbacks"),
        (13, "estimated usage"),
        (14, "the stop sequence met"),
        (15, "U+FFFF escaped in vault, model and response cache keys"),
        (16, "full-text index of the search words every backend uses"),
        (17, "an index in the order records are listed"),
    ]
    indexes = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert {"logs_newest", "logs_deployment", "logs_errors"} <= indexes
    assert "logs_started_at" not in indexes  # logs_newest serves its queries (migration 17)
    assert "logs_model_requested" not in indexes  # written per row, used by no query
    fts = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'logs_fts'").fetchone()[0]
    assert "USING fts5" in fts and "remove_diacritics 0" in fts
    plan = " ".join(
        str(row)
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM logs WHERE provider = 'p' AND model = 'm'"
            " ORDER BY started_at DESC"
        )
    )
    assert "logs_deployment" in plan
    conn.close()


@pytest.mark.anyio
@pytest.mark.parametrize("filters", [{}, {"since": T0, "status": "ok"}])
async def test_a_page_after_a_cursor_reads_the_newest_first_index_and_sorts_nothing(
    tmp_path: Path, filters: dict[str, Any]
) -> None:
    """A page, by cursor or not, walks logs_newest from its place: no scan of the
    table, no temporary B-tree sorting every row the filters leave."""
    from relaykit.log_cursor import log_cursor
    from relaykit_sqlite.queries import select_records

    storage = SQLiteStorage(tmp_path / "logs.db")
    records = [make_record(n) for n in range(50)]
    await storage.write_batch(records)
    await storage.aclose()
    conn = sqlite3.connect(tmp_path / "logs.db")
    conn.execute("ANALYZE")
    for query in (
        LogQuery(limit=10, **filters),
        LogQuery(limit=10, before=log_cursor(records[30]), **filters),
    ):
        sql, params = select_records(query)
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING INDEX logs_newest" in plan and "TEMP B-TREE" not in plan, plan
        if query.before is not None:
            assert "(started_at,id)<(?,?)" in plan.replace(" ", ""), plan  # bounded, not filtered
    conn.close()


@pytest.mark.anyio
async def test_a_new_database_is_private_to_its_owner(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "private" / "logs.db")
    await storage.write_batch([make_record(0)])
    try:
        for name in ("logs.db", "logs.db-wal"):
            assert stat.S_IMODE((tmp_path / "private" / name).stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    first = SQLiteStorage(path)
    records = [make_record(n) for n in range(3)]
    await first.write_batch(records)
    await first.aclose()
    second = SQLiteStorage(path)
    try:
        assert await second.query_logs() == records[::-1]
    finally:
        await second.aclose()


@pytest.mark.anyio
async def test_waiting_batches_share_one_transaction(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db", max_queued=100)
    await storage.write_batch([make_record(0)])
    writer = storage._writer
    assert writer is not None
    before = writer.commits
    queued = queued_jobs(storage)
    with write_lock(storage.path) as lock:
        async with anyio.create_task_group() as tg:
            for b in range(40):
                tg.start_soon(storage.write_batch, [make_record(1 + b * 10 + i) for i in range(10)])
            # the writer is stuck on the first batch (or the first few); the rest queue behind
            await wait_until(lambda: len(queued) == 40)
            lock.release()
    await storage.aclose()
    assert count(storage.path) == 401
    assert writer.commits - before <= 3, "the waiting batches should commit together"


@pytest.mark.anyio
async def test_a_full_queue_makes_writers_wait_and_drops_nothing(storage: SQLiteStorage) -> None:
    await storage.write_batch([make_record(0)])
    done: list[int] = []

    async def write(b: int) -> None:
        await storage.write_batch([make_record(100 + b)])
        done.append(b)

    writer = storage._writer
    assert writer is not None
    with write_lock(storage.path) as lock:
        async with anyio.create_task_group() as tg:
            for b in range(8):
                tg.start_soon(write, b)
            # The writer is stuck on a batch (or a few), two wait in the queue, the rest block.
            await wait_until(writer._queue.full)
            await anyio.sleep(0.1)  # none may finish while the lock is held
            assert done == []
            assert writer._queue.full()
            lock.release()
    assert sorted(done) == list(range(8))
    assert len(await storage.query_logs(LogQuery(limit=100))) == 9


@pytest.mark.anyio
async def test_closing_drains_queued_batches(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db", max_queued=4)
    await storage.write_batch([make_record(0)])
    closed = anyio.Event()

    async def close() -> None:
        await storage.aclose()
        closed.set()

    queued = queued_jobs(storage)
    with write_lock(storage.path) as lock:
        async with anyio.create_task_group() as tg:
            for b in range(4):
                tg.start_soon(storage.write_batch, [make_record(1 + b * 5 + i) for i in range(5)])
            await wait_until(lambda: len(queued) == 4)
            tg.start_soon(close)  # after the writes were queued: they must still be written
            await anyio.sleep(0.2)
            assert not closed.is_set()  # closing waits for the queue to drain
            lock.release()
    assert closed.is_set()
    assert count(tmp_path / "logs.db") == 21
    with pytest.raises(relaykit.RelayError, match="closed"):
        await storage.write_batch([make_record(99)])


@pytest.mark.anyio
async def test_reads_do_not_wait_for_a_writer(storage: SQLiteStorage) -> None:
    await storage.write_batch([make_record(0)])
    with write_lock(storage.path), anyio.fail_after(5):
        assert len(await storage.query_logs()) == 1  # WAL: readers never block on the writer


@pytest.mark.anyio
async def test_sqlite_errors_become_relay_errors_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "logs.db").mkdir()  # a directory where the file should be
    storage = SQLiteStorage(tmp_path / "logs.db")
    with pytest.raises(relaykit.RelayError, match=r"SQLite storage .*logs\.db"):
        await storage.write_batch([make_record(0)])
    await storage.aclose()


def test_database_path_defaults_to_the_user_config_dir(tmp_path: Path) -> None:
    config = relaykit.load_config({})
    assert database_path(config) == relaykit.config.user_config_dir() / "logs.db"
    config = relaykit.load_config({"storage": {"path": str(tmp_path / "x.db")}})
    assert database_path(config) == tmp_path / "x.db"
    assert (
        database_path(relaykit.load_config({"storage": {"path": "~/x.db"}})) == Path.home() / "x.db"
    )


@pytest.mark.anyio
async def test_client_logs_every_call_to_sqlite(tmp_path: Path) -> None:
    fake = FakePlugin()
    fake.script.reply("first answer", input_tokens=3, output_tokens=2)
    fake.script.fail(429, "slow down")
    config = {
        "storage": {"path": str(tmp_path / "logs.db")},  # the default backend
        "retry": {"attempts": 1},
        "models": {"fast": {"targets": ["fake/a", "fake/b"]}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        assert isinstance(client.storage, SQLiteStorage)
        await client.chat("fast", "hello there", metadata={"conversation_id": "conv-9"}, stop="END")
        with pytest.raises(relaykit.RateLimitError):
            await client.chat("fake/a", "again")
        async with client.stream("fake/a", "streamed") as s:
            async for _ in s:
                pass
    storage = SQLiteStorage(tmp_path / "logs.db")
    try:
        streamed, failed, ok = await storage.query_logs()
        found = await storage.query_logs(LogQuery(text="hello"))
    finally:
        await storage.aclose()
    assert ok.model_requested == "fast"
    assert (ok.route, ok.route_errors) == (("fake/a",), ())  # the first answered
    assert (ok.provider, ok.model, ok.model_served, ok.response_id) == ("fake", "a", "a", "fake-1")
    assert ok.conversation_id == "conv-9"
    assert ok.params == {"stop": ["END"]}
    assert ok.finished_at is not None
    assert ok.finished_at >= ok.started_at
    assert ok.cost is not None
    assert ok.usage.total_tokens == 5
    assert (failed.error_type, failed.status, failed.ok) == ("RateLimitError", 429, False)
    assert (streamed.streamed, streamed.text) == (True, "echo: streamed")
    assert [r.id for r in found] == [ok.id]


@pytest.mark.anyio
async def test_response_cache_is_shared_through_the_database_file(tmp_path: Path) -> None:
    """Two clients (as two processes would) on one SQLite file: the second gets a cache hit."""
    from relaykit.testing import FakePlugin, Reply

    config = {
        "storage": {"backend": "sqlite", "path": str(tmp_path / "shared.db")},
        "cache": {"enabled": True},
    }
    first, second = FakePlugin(), FakePlugin()
    first.script.push(Reply(text="computed once"))
    async with relaykit.Client(config, plugins=[first]) as client:
        original = await client.chat("fake/m", "2+2?", temperature=0)
    async with relaykit.Client(config, plugins=[second]) as client:
        again = await client.chat("fake/m", "2+2?", temperature=0)
    assert (original.cache_hit, again.cache_hit) == (False, True)
    assert again.text == "computed once"
    assert not second.calls


@pytest.mark.anyio
async def test_a_database_another_process_holds_locked_delays_a_call_by_the_cache_timeout_only(
    tmp_path: Path,
) -> None:
    """SQLite waits up to 30 s for another process's write lock: the answer's cache
    write must not hold the call that long. It waits [cache] timeout, then lands late."""
    import time

    path = tmp_path / "locked.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(path)},
        "cache": {"enabled": True, "timeout": 0.2, "retry_after": 0},
    }
    fake = FakePlugin()
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "opens the file", temperature=0)
        other = sqlite3.connect(path, isolation_level=None)  # as another process would
        try:
            other.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            with anyio.fail_after(10):
                answer = await client.chat("fake/m", "2+2?", temperature=0)
            took = time.monotonic() - started
            assert client.cache_errors == 1  # the write, left after the timeout
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert answer.text == "echo: 2+2?" and took < 5
    # the write went on alone, and landed once the lock was gone (closing drains it)
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        again = await client.chat("fake/m", "2+2?", temperature=0)
    assert (again.cache_hit, again.text) == (True, "echo: 2+2?")


@pytest.mark.anyio
async def test_model_listings_read_or_written_are_kept_in_memory_for_peeking(
    tmp_path: Path,
) -> None:
    first = SQLiteStorage(tmp_path / "logs.db")
    second = SQLiteStorage(tmp_path / "logs.db")  # another process on the same file
    try:
        assert first.peek_cached_models("groq") is None
        old = CachedModels("groq", 1000.0, (ModelInfo("llama", "groq"),))
        await first.cache_models(old)
        assert first.peek_cached_models("groq") == old
        assert second.peek_cached_models("groq") is None  # peeking never reads the file
        assert await second.cached_models("groq") == old
        assert second.peek_cached_models("groq") == old
        new = CachedModels("groq", 2000.0, (ModelInfo("llama-2", "groq"),))
        await second.cache_models(new)
        assert first.peek_cached_models("groq") == old  # until it reads again
        assert await first.cached_models("groq") == new
        assert first.peek_cached_models("groq") == new
        third = SQLiteStorage(tmp_path / "logs.db")  # a new process: opening reads the listings
        try:
            await third.vault_items()
            assert third.peek_cached_models("groq") == new
        finally:
            await third.aclose()
    finally:
        await first.aclose()
        await second.aclose()


def old_database(
    path: Path, version: int, records: list[CallRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database as the first ``version`` migrations left it, holding ``records``."""
    from relaykit.record_rows import COLUMNS, record_to_row
    from relaykit_sqlite import schema

    conn = sqlite3.connect(path, isolation_level=None)
    # Passed, not patched in: migrate's default list is bound when it is defined.
    schema.migrate(conn, schema.MIGRATIONS[:version])
    v1 = COLUMNS[: COLUMNS.index("response_id") + 1]  # the columns migration 1 made
    for record in records:
        conn.execute(
            f"INSERT INTO logs ({', '.join(v1)}) VALUES ({', '.join('?' * len(v1))})",
            record_to_row(record)[: len(v1)],
        )
    conn.execute(
        "INSERT INTO logs_fts (rowid, prompt, response) SELECT rowid, prompt, response FROM logs"
    )
    conn.close()


@pytest.mark.anyio
async def test_an_older_database_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "logs.db"
    record = make_record(0)
    old_database(path, 2, [record], monkeypatch)  # as shipped before v3
    storage = SQLiteStorage(path)
    try:
        assert await storage.query_logs(LogQuery(text="question")) == [record]
    finally:
        await storage.aclose()
    conn = sqlite3.connect(path)
    try:
        versions = [row[0] for row in conn.execute("SELECT version FROM relaykit_migrations")]
        index = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'logs_model_requested'")
        assert (versions, index.fetchall()) == (
            [version for version, _, _ in MIGRATIONS],
            [],
        )
    finally:
        conn.close()


@pytest.mark.anyio
async def test_new_files_get_large_pages_and_existing_files_keep_theirs(tmp_path: Path) -> None:
    from relaykit_sqlite.storage import PAGE_SIZE

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("CREATE TABLE unrelated (x)")
    conn.close()
    for path in (tmp_path / "new.db", old):
        storage = SQLiteStorage(path)
        await storage.write_batch([make_record(0)])
        await storage.aclose()
    sizes = []
    for path in (tmp_path / "new.db", old):
        conn = sqlite3.connect(path)
        sizes.append(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.close()
    assert sizes == [PAGE_SIZE, 4096]


@pytest.mark.anyio
async def test_an_undecodable_stored_listing_does_not_stop_the_database_opening(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path)
    await storage.cache_models(CachedModels("groq", 1000.0, ()))
    await storage.aclose()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE model_cache SET models = 'not json'")
    conn.commit()
    conn.close()
    storage = SQLiteStorage(path)
    try:
        await storage.write_batch([make_record(0)])  # opens the file
        assert len(await storage.query_logs()) == 1
        assert storage.peek_cached_models("groq") is None
    finally:
        await storage.aclose()
    assert "could not read the stored model listings" in caplog.text


#: a row each later migration's columns hold, by the version a database had before it
_NEWER_ROWS = {
    3: make_record(1, reasoning="Thinking it through: 東京."),  # 4: reasoning
    4: make_record(  # 5: reasoning blocks
        1,
        reasoning="First.",
        reasoning_parts=(
            ReasoningPart("First.", "sig-1", origin="anthropic"),
            ReasoningPart(redacted="EuYBCkQYAiJA", origin="anthropic"),
        ),
    ),
    5: make_record(1, usage=Usage(1000, 50, 0, cache_write_input_tokens=900)),  # 6: cache writes
    6: make_record(  # 7: one-hour cache writes
        1, usage=Usage(1000, 50, 0, cache_write_input_tokens=900, cache_write_1h_input_tokens=400)
    ),
    7: make_record(  # 8: long messages stored once
        1, messages=(Message.system("Be brief. " * 40), Message.user("And the trams? " * 30))
    ),
    9: make_record(  # 10: web searches and citations
        1,
        usage=Usage(1000, 50, web_searches=2),
        citations=(Citation(url="https://example.org/tides", title="Tides", start=0, end=6),),
    ),
    10: make_record(  # 11: web search queries
        1, usage=Usage(1000, 50, web_searches=1), search_queries=("tides today Brighton",)
    ),
    11: make_record(1, fallbacks=2),  # 12: fallbacks
    12: make_record(1, usage=Usage(1000, 45), usage_estimated=True),  # 13: estimated usage
    13: make_record(1, stop_sequence="\n\nHuman:"),  # 14: the stop sequence met
}


@pytest.mark.anyio
@pytest.mark.parametrize("version", sorted(_NEWER_ROWS))
async def test_an_older_database_is_migrated_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    path = tmp_path / "logs.db"
    # long enough to be shared, but written whole, as every version before 8 did
    old = make_record(0, usage=Usage(10, 5, 2), messages=(Message.user("Old and long. " * 30),))
    old_database(path, version, [old], monkeypatch)
    new = _NEWER_ROWS[version]
    storage = SQLiteStorage(path)
    try:
        await storage.write_batch([new])
        # the old row reads with the new columns' defaults
        assert await storage.query_logs() == [new, old]
        if new.search_queries:  # searched, through the prompt column
            assert await storage.query_logs(LogQuery(text="brighton")) == [new]
        [total] = await storage.usage_totals()
        assert total.usage == old.usage + new.usage
        # the old row reads as the vendor's counts
        assert (total.estimated, total.estimated_cost) == (
            (1, new.cost) if new.usage_estimated else (0, None)
        )
    finally:
        await storage.aclose()
    with sqlite3.connect(path) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM relaykit_migrations")]
    assert versions == [version for version, _, _ in MIGRATIONS]


@pytest.mark.anyio
async def test_migration_16_indexes_an_older_databases_rows_by_the_shared_search_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows indexed by FTS5's own tokenizer (accents dropped, an emoji newer than its
    tables inside a word) are found after migration 16 by the words every backend
    finds them by; pruning them (the delete trigger) leaves the index consistent."""
    from datetime import UTC, datetime

    path = tmp_path / "logs.db"
    accents = make_record(0, messages=(Message.user("Zürich café"),), text="naïve")
    emoji = make_record(1, messages=(Message.user("q"),), text="hi\U0001f916robot")
    old_database(path, 15, [accents, emoji], monkeypatch)
    storage = SQLiteStorage(path)
    try:
        found = {
            text: [r.id for r in await storage.query_logs(LogQuery(text=text))]
            for text in ("zurich", "Zürich", "cafe", "café naïve", "robot", "hi")
        }
        assert found == {
            "zurich": [],
            "Zürich": [accents.id],
            "cafe": [],
            "café naïve": [accents.id],
            "robot": [emoji.id],
            "hi": [emoji.id],
        }
        later = make_record(5, messages=(Message.user("São Paulo"),), text="ok")
        await storage.write_batch([later])
        assert await storage.query_logs(LogQuery(text="são")) == [later]
        assert await storage.query_logs(LogQuery(text="sao")) == []
        cutoff = datetime.fromtimestamp(later.started_at, UTC)
        assert await storage.prune(cutoff) == 2
        assert await storage.query_logs(LogQuery(text="robot")) == []
    finally:
        await storage.aclose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO logs_fts (logs_fts) VALUES ('integrity-check')")  # raises if not
        hits = conn.execute("SELECT rowid FROM logs_fts WHERE logs_fts MATCH 'paulo'").fetchall()
        assert len(hits) == 1
        # docs/storage.md, Retention: another tool's DELETE fails whole, index intact
        with pytest.raises(sqlite3.OperationalError, match="no such function: search_text"):
            conn.execute("DELETE FROM logs")
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (1,)


def test_opening_an_up_to_date_database_does_not_import_sqlite_utils(tmp_path: Path) -> None:
    # sqlite-utils imports pandas and numpy when they are installed: only a
    # migration needs it, not every process that opens its logs.
    import subprocess
    import sys

    path = tmp_path / "logs.db"
    script = (
        "import sys, anyio\n"
        "from relaykit.testing.storage_contract import make_record\n"
        "from relaykit_sqlite import SQLiteStorage\n"
        "async def main():\n"
        f"    storage = SQLiteStorage({str(path)!r})\n"
        "    await storage.write_batch([make_record(int(sys.argv[1]))])\n"
        "    assert len(await storage.query_logs()) == int(sys.argv[1]) + 1\n"
        "    await storage.aclose()\n"
        "anyio.run(main)\n"
        "print('sqlite_utils' in sys.modules)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(i)], capture_output=True, text=True, check=True
        ).stdout.split()
        for i in range(2)
    ]
    assert runs == [["True"], ["False"]]  # it builds the schema, then only opens it


def test_opening_waits_for_another_connection_switching_a_new_file_to_wal(
    tmp_path: Path,
) -> None:
    # Two processes opening a new database together: switching to WAL needs the
    # file to itself, and SQLite says "locked" at once instead of waiting.
    import sqlite3
    import threading

    from relaykit_sqlite.schema import use_wal

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # as the other process mid-switch
    released = threading.Timer(0.3, holder.commit)
    released.start()
    opener = sqlite3.connect(path, timeout=0.01)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            opener.execute("PRAGMA journal_mode=WAL")  # what opening did before
        use_wal(opener, seconds=10)
        assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        released.join()
        opener.close()
        holder.close()


@pytest.mark.anyio
async def test_a_vault_update_holds_off_another_connections_vault_writes(tmp_path: Path) -> None:
    # Two storages on one file, as two processes (`keys set` and `keys rotate`) have.
    first, second = SQLiteStorage(tmp_path / "logs.db"), SQLiteStorage(tmp_path / "logs.db")
    try:
        await check_vault_update_holds_off_writers(first, second)
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.anyio
async def test_text_stored_before_the_escape_rule_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before relaykit.storable_text, text was stored as it was: a U+FFFF in it (even
    before hex digits) reads back as written; a vault name, cache key or provider
    holding one is escaped by migration 15, so writing it again replaces its row."""
    from relaykit.record_rows import COLUMNS, record_to_row
    from relaykit.storable_text import decode_text

    record = make_record(
        0,
        messages=(Message.user("q\uffff zebra"),),
        text="a\uffffb \uffffd800",
        params={"k\uffff": ["\uffff"]},
    )
    path = tmp_path / "logs.db"
    old_database(path, 14, [], monkeypatch)
    conn = sqlite3.connect(path, isolation_level=None)
    as_stored_then = [decode_text(v) if isinstance(v, str) else v for v in record_to_row(record)]
    conn.execute(
        f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        as_stored_then,
    )
    conn.execute(
        "INSERT INTO logs_fts (rowid, prompt, response) SELECT rowid, prompt, response FROM logs"
    )
    conn.execute("INSERT INTO vault VALUES (?, ?, 0)", ("n\uffff", b"old"))
    conn.execute("INSERT INTO response_cache VALUES (?, 2e9, ?)", ("k\uffff", "r\uffff"))
    models = '[{"id": "m\uffff", "provider": "p\uffff"}]'
    conn.execute("INSERT INTO model_cache VALUES (?, 1.0, ?)", ("p\uffff", models))
    conn.close()
    storage = SQLiteStorage(path)
    try:
        assert await storage.query_logs(LogQuery(text="zebra")) == [record]
        assert await storage.vault_items() == {"n\uffff": b"old"}
        await storage.vault_put({"n\uffff": b"new"})
        assert await storage.vault_items() == {"n\uffff": b"new"}
        assert await storage.vault_delete("n\uffff") is True
        assert await storage.vault_items() == {}
        assert await storage.cached_response("k\uffff") == (2e9, "r\uffff")
        listing = (ModelInfo("m\uffff", "p\uffff"),)
        assert await storage.cached_models("p\uffff") == CachedModels("p\uffff", 1.0, listing)
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_a_burst_of_cache_writes_shares_transactions(tmp_path: Path) -> None:
    # Each cached answer was written in a transaction of its own: 500 cached calls
    # at once took longer than [cache] timeout (0.5 s) to commit under load, and
    # the client counted the store failed (287 of 500 writes lost in a run on this
    # project's VMs) and left it alone, its lookups too. Those queued together now
    # commit together, each still written.
    storage = SQLiteStorage(tmp_path / "c.db")
    try:
        await storage.cache_response("first", 2e9, "{}")  # opens the file
        writer = storage._writer
        assert writer is not None
        release = threading.Event()
        # hold the writer busy, so that the burst queues up behind it
        blocker = threading.Thread(target=writer.run, args=(lambda conn: release.wait(),))
        blocker.start()
        before = writer.commits

        async def write(i: int) -> None:
            await storage.cache_response(f"k{i}", 2e9, f'{{"n": {i}}}')

        try:
            async with anyio.create_task_group() as tg:
                for i in range(30):
                    tg.start_soon(write, i)
                with anyio.fail_after(10):
                    while writer._queue.qsize() < 30:  # noqa: ASYNC110 (a thread queue)
                        await anyio.sleep(0.01)
                release.set()
        finally:
            release.set()
            blocker.join()
        assert writer.commits - before <= 2  # the blocker's, then the burst's
        found = await storage.cached_responses([f"k{i}" for i in range(30)])
        assert found == {f"k{i}": (2e9, f'{{"n": {i}}}') for i in range(30)}
    finally:
        await storage.aclose()


def test_a_shared_cache_write_that_fails_fails_alone(tmp_path: Path) -> None:
    # Jobs sharing a transaction: one that raises must not lose the others' rows.
    storage = SQLiteStorage(tmp_path / "c.db")
    writer = storage._ready_writer()
    release = threading.Event()
    blocker = threading.Thread(target=writer.run, args=(lambda conn: release.wait(),))
    blocker.start()
    errors: list[BaseException] = []

    def put(i: int) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            if i == 3:
                raise ValueError("bad row")
            conn.execute(
                "INSERT INTO response_cache (key, expires_at, response) VALUES (?, 2e9, 'x')",
                (f"k{i}",),
            )

        try:
            writer.run_shared(fn)
        except ValueError as e:
            errors.append(e)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while writer._queue.qsize() < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [blocker, *threads]:
        t.join()
    writer.close()
    with sqlite3.connect(tmp_path / "c.db") as db:
        keys = sorted(k for (k,) in db.execute("SELECT key FROM response_cache"))
    assert keys == ["k0", "k1", "k2", "k4", "k5"]
    assert [str(e) for e in errors] == ["bad row"]
