"""A storage (and a client) built and used before ``fork()`` works in the child.

gunicorn or uvicorn ``--preload``, ``multiprocessing`` with the fork start
method and Celery's prefork pool all fork a process whose SQLite writer may
have started: the child has none of its parent's threads, and SQLite
connections must not cross a fork. These tests fork for real; each child runs
an event loop of its own (under asyncio and trio) and must finish in time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit.protocols import LogQuery
from relaykit.sqlite_fork import threads_in_sqlite
from relaykit.testing import FakePlugin
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit.testing.storage_contract import make_record
from relaykit_sqlite import SQLiteStorage

pytestmark = [needs_fork, pytest.mark.parametrize("backend", ["asyncio", "trio"])]


def ids_in(path: Path) -> list[str]:
    # closed here, not left to the collector: see relaykit.testing.forking
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM logs ORDER BY id")]


def test_a_child_writes_reads_and_closes_a_storage_its_parent_used(
    tmp_path: Path, backend: str
) -> None:
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path)
    before = make_record(0)
    anyio.run(storage.write_batch, [before], backend=backend)  # the writer thread runs now
    parent_writer = storage._writer

    async def in_child() -> None:
        mine = [make_record(1), make_record(2)]
        with anyio.fail_after(3):
            await storage.write_batch(mine)
            found = await storage.query_logs(LogQuery())
            await storage.cache_response("k", 9e9, "{}")
            assert await storage.cached_response("k") == (9e9, "{}")
            assert await storage.cached_response("k") == (9e9, "{}")  # on the loop this time
            await storage.aclose()
        assert sorted(r.id for r in found) == sorted([before.id] + [r.id for r in mine])
        assert storage._writer is None
        assert parent_writer is not None and parent_writer._thread.is_alive() is False

    in_forked_child(lambda: anyio.run(in_child, backend=backend))

    # The parent's storage is untouched by the child: its writer still writes, and closes.
    after = make_record(3)
    anyio.run(storage.write_batch, [after], backend=backend)
    assert storage._writer is parent_writer
    anyio.run(storage.aclose, backend=backend)
    assert len(ids_in(path)) == 4


def test_a_child_forked_mid_write_raises_and_the_parent_writes_what_it_queued(
    tmp_path: Path, backend: str
) -> None:
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path, busy_timeout=5)
    anyio.run(storage.write_batch, [make_record(0)], backend=backend)
    writer = storage._writer
    assert writer is not None
    # Hold the write lock, as another process would, so that the parent's next
    # batch waits inside its writer's transaction when the fork happens.
    lock = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    queued = make_record(1)
    parent_write = threading.Thread(
        target=lambda: anyio.run(storage.write_batch, [queued], backend=backend)
    )
    parent_write.start()
    while ("writing", str(path)) not in threads_in_sqlite():
        time.sleep(0.002)

    async def in_child() -> None:
        # SQLite's in-process locks now claim what this process does not hold: a
        # write would wait out its busy timeout (a connection of the parent's, closed,
        # for good). A typed error at once instead, naming the fix.
        with anyio.fail_after(1):
            with pytest.raises(relaykit.RelayError, match="forked while") as raised:
                await storage.write_batch([make_record(2)])
            with pytest.raises(relaykit.RelayError, match="forked while"):
                await storage.query_logs(LogQuery())
            await storage.aclose()
        assert "fork while the client is idle" in str(raised.value)

    try:
        in_forked_child(lambda: anyio.run(in_child, backend=backend))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    parent_write.join(5)
    anyio.run(storage.aclose, backend=backend)
    assert len(ids_in(path)) == 2 and queued.id in ids_in(path)  # the child wrote nothing
    assert writer.commits == 2  # committed by the parent's writer


def test_a_child_forked_while_its_parent_opens_the_file_raises_at_once(
    tmp_path: Path, backend: str
) -> None:
    path = tmp_path / "logs.db"
    # Another connection holds the write lock of a file in WAL mode, so the
    # storage's first use waits inside SQLite while it opens the file (its
    # migration's BEGIN IMMEDIATE): a fork lands then, as it may in a parent
    # whose first record is being written (its writer does not exist yet).
    lock = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    lock.execute("PRAGMA journal_mode=WAL")
    lock.execute("BEGIN IMMEDIATE")
    storage = SQLiteStorage(path, busy_timeout=5)
    first = make_record(0)
    parent_write = threading.Thread(
        target=lambda: anyio.run(storage.write_batch, [first], backend=backend)
    )
    parent_write.start()
    while ("opening", str(path)) not in threads_in_sqlite():
        time.sleep(0.002)

    async def in_child() -> None:
        # Before, the child's own opening waited out its busy timeout (and the
        # call log's retries, a minute, then spilled the records): SQLite's
        # in-process lock state claimed what this process does not hold.
        with anyio.fail_after(1):
            with pytest.raises(relaykit.RelayError, match="forked while"):
                await storage.write_batch([make_record(1)])
            await storage.aclose()

    try:
        in_forked_child(lambda: anyio.run(in_child, backend=backend))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    parent_write.join(5)
    anyio.run(storage.aclose, backend=backend)
    assert ids_in(path) == [first.id]  # the parent's, written once the lock was let go


def test_a_client_used_before_the_fork_logs_the_childs_calls(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "logs.db"
    config = {"storage": {"backend": "sqlite", "path": str(path)}}
    client = relaykit.Client(config, plugins=[FakePlugin()])

    async def call(text: str) -> None:
        response = await client.chat("fake/m", text)
        assert response.text

    # Used without `async with`: records are written inline, so the writer starts here.
    anyio.run(call, "parent", backend=backend)

    async def in_child() -> None:
        with anyio.fail_after(3):
            async with client:
                await call("child")
            logs = await SQLiteStorage(path).query_logs(LogQuery())
        assert len(logs) == 2

    in_forked_child(lambda: anyio.run(in_child, backend=backend))
    anyio.run(client.aclose, backend=backend)
    assert len(ids_in(path)) == 2


def test_a_child_uses_an_embedding_collection_its_parent_opened(
    tmp_path: Path, backend: str
) -> None:
    from relaykit.testing import OpenAIMock
    from relaykit_sqlite import Collection

    key = "sk-fork-0123456789abcdef"
    path = tmp_path / "embeddings.db"
    with OpenAIMock(api_key=key) as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": key}},
        }
        faq = Collection(path, "faq", "openai/text-embedding-3-small")

        async def in_parent() -> None:
            async with relaykit.Client(config) as client:
                await faq.embed(client, "a", "How do I reset my password?")
            assert await faq.count() == 1

        anyio.run(in_parent, backend=backend)  # the parent's connection is open now
        parent_conn = faq._file._conn

        async def in_child() -> None:
            with anyio.fail_after(3):
                async with relaykit.Client(config) as client:
                    await faq.embed(client, "b", "Invoices are emailed monthly.")
                assert await faq.count() == 2
                assert faq._file._conn is not parent_conn  # a connection of its own
                assert [item.id for item in await faq.similar_by_id("a", n=5)] == ["b"]
                await faq.aclose()
            assert faq._file._conn is None

        in_forked_child(lambda: anyio.run(in_child, backend=backend))
        assert faq._file._conn is parent_conn  # untouched: the parent goes on with it
        assert anyio.run(faq.count, backend=backend) == 2
        anyio.run(faq.aclose, backend=backend)


class HeldInsideSQLite:
    """Holds a thread inside SQLite (a SQL function of ours, running in a statement)
    until released: a fork lands there deterministically."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def run(self, conn: sqlite3.Connection) -> object:
        def held() -> int:
            self.entered.set()
            self.release.wait(30)  # (bounded: a failing test must not hang the parent)
            return 1

        conn.create_function("held", 0, held)
        return conn.execute("SELECT held()").fetchall()


def test_a_child_forked_while_another_storage_is_inside_sqlite_uses_no_sqlite_file(
    tmp_path: Path, backend: str
) -> None:
    # SQLite's process-wide mutexes (its allocator's, its table of file locks) may be
    # held by the parent's thread at the fork, whichever file that thread uses: a
    # storage on another file, opened in the child, could block on them for good.
    from relaykit_sqlite import Collection

    busy = SQLiteStorage(tmp_path / "a.db")
    hold = HeldInsideSQLite()
    parent_write = threading.Thread(
        target=lambda: anyio.run(busy._writing, hold.run, backend=backend)
    )
    parent_write.start()
    try:
        assert hold.entered.wait(10)
        other = tmp_path / "b.db"

        async def in_child() -> None:
            storage = SQLiteStorage(other)
            with pytest.raises(relaykit.RelayError, match="forked while") as raised:
                await storage.write_batch([make_record(1)])
            with pytest.raises(relaykit.RelayError, match="forked while"):
                await storage.query_logs(LogQuery())
            await storage.aclose()
            with pytest.raises(relaykit.RelayError, match="forked while"):
                await Collection(tmp_path / "e.db", "faq", "openai/e").count()
            message = str(raised.value)
            assert "a.db" in message  # what the parent was doing there
            assert "open the storage in each child" in message  # the fix
            assert not other.exists()  # refused before touching anything

        in_forked_child(lambda: anyio.run(in_child, backend=backend))
    finally:
        hold.release.set()
        parent_write.join(10)
    # The parent is not refused anything: it uses both files.
    anyio.run(busy.write_batch, [make_record(2)], backend=backend)
    anyio.run(busy.aclose, backend=backend)
    storage, record = SQLiteStorage(tmp_path / "b.db"), make_record(3)
    anyio.run(storage.write_batch, [record], backend=backend)
    anyio.run(storage.aclose, backend=backend)
    assert ids_in(tmp_path / "b.db") == [record.id]


def test_a_child_forked_while_a_collection_is_inside_sqlite_uses_no_storage(
    tmp_path: Path, backend: str
) -> None:
    from relaykit_sqlite import Collection

    faq = Collection(tmp_path / "embeddings.db", "faq", "openai/text-embedding-3-small")
    hold = HeldInsideSQLite()
    parent_search = threading.Thread(target=lambda: faq._file.call(hold.run, write=True))
    parent_search.start()
    try:
        assert hold.entered.wait(10)

        async def in_child() -> None:
            storage = SQLiteStorage(tmp_path / "logs.db")
            with pytest.raises(relaykit.RelayError, match="forked while") as raised:
                await storage.write_batch([make_record(1)])
            assert "embeddings.db" in str(raised.value)
            await storage.aclose()

        in_forked_child(lambda: anyio.run(in_child, backend=backend))
    finally:
        hold.release.set()
        parent_search.join(10)
    anyio.run(faq.aclose, backend=backend)
