"""Response-cache look-ups read on the event loop's thread, and fall back to a worker thread."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit_sqlite import SQLiteStorage
from relaykit_sqlite.loop_reads import NOT_READ, LoopReads, here, thread_disk_reads


def unhurried(storage: SQLiteStorage) -> SQLiteStorage:
    """``storage`` with no time budget for reads on the loop: on a loaded machine a read
    may exceed it and pause them, which only the budget's own test below should see."""
    storage._loop_reads._budget = 60.0
    return storage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = unhurried(SQLiteStorage(tmp_path / "cache.db"))
    yield storage
    await storage.aclose()


@pytest.mark.anyio
async def test_only_the_first_look_up_takes_a_worker_thread(storage: SQLiteStorage) -> None:
    await storage.cache_response("k1", 2e9, '{"text": "one"}')
    reads = storage._loop_reads
    assert await storage.cached_response("k1") == (2e9, '{"text": "one"}')
    assert (reads.served, reads.declined) == (0, 1)  # it opened this thread's connection
    assert await storage.cached_response("k1") == (2e9, '{"text": "one"}')
    assert await storage.cached_response("missing") is None
    assert (reads.served, reads.declined) == (2, 1)


@pytest.mark.anyio
async def test_a_look_up_on_the_loop_sees_every_later_commit(tmp_path: Path) -> None:
    """No read transaction outlives its look-up: an old snapshot would hide new entries."""
    reader = unhurried(SQLiteStorage(tmp_path / "cache.db"))
    other = SQLiteStorage(tmp_path / "cache.db")
    try:
        assert await reader.cached_response("k") is None
        assert await reader.cached_response("k") is None  # on the loop from here on
        await other.cache_response("k", 2e9, "first")  # another process, as it were
        assert await reader.cached_response("k") == (2e9, "first")
        await other.cache_response("k", 3e9, "second")
        assert await reader.cached_response("k") == (3e9, "second")
        assert reader._loop_reads.served == 3
    finally:
        await reader.aclose()
        await other.aclose()


@pytest.mark.anyio
async def test_a_look_up_on_the_loop_does_not_wait_for_a_writer(storage: SQLiteStorage) -> None:
    await storage.cache_response("k", 2e9, "x")
    await storage.cached_response("k")  # opens the loop's connection
    writer = sqlite3.connect(storage.path, isolation_level=None)  # as another process's
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM response_cache")  # not committed: readers still see "k"
        with anyio.fail_after(1):
            assert await storage.cached_response("k") == (2e9, "x")
    finally:
        writer.close()
    assert storage._loop_reads.served == 1


@pytest.mark.anyio
async def test_a_failing_look_up_on_the_loop_is_retried_in_a_thread(
    storage: SQLiteStorage,
) -> None:
    await storage.cache_response("k", 2e9, "x")
    await storage.cached_response("k")
    broken = storage._loop_reads._readers[here()].conn
    broken.close()  # any sqlite3.Error: busy, closed, unreadable
    assert await storage.cached_response("k") == (2e9, "x")
    assert storage._loop_reads._readers[here()].conn is not broken  # the thread path opened another
    assert await storage.cached_response("k") == (2e9, "x")
    assert (storage._loop_reads.served, storage._loop_reads.declined) == (1, 2)


@pytest.mark.anyio
async def test_closing_closes_the_loops_connections_and_later_look_ups_fail(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path / "cache.db")
    await storage.cached_response("k")
    conn = storage._loop_reads._readers[here()].conn
    await storage.aclose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
    with pytest.raises(relaykit.RelayError, match="closed"):
        await storage.cached_response("k")


@pytest.mark.anyio
async def test_each_event_loop_thread_reads_on_a_connection_of_its_own(
    storage: SQLiteStorage, anyio_backend: str
) -> None:
    await storage.cache_response("k", 2e9, "x")

    async def look_up_twice() -> object:
        await storage.cached_response("k")
        return await storage.cached_response("k")

    found: list[object] = []
    other = threading.Thread(
        target=lambda: found.append(anyio.run(look_up_twice, backend=anyio_backend))
    )
    other.start()
    other.join()
    assert found == [(2e9, "x")]
    assert await look_up_twice() == (2e9, "x")
    conns = storage._loop_reads._readers
    assert len(conns) == 2
    assert here() in conns
    assert len(set(map(id, conns.values()))) == 2
    assert storage._loop_reads.served == 2


# -- LoopReads alone: the time budget, and fork --------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class DiskReads:
    """A thread's disk-read count, moved by the test."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


def _one(conn: sqlite3.Connection) -> list[tuple[int]]:
    return conn.execute("SELECT 1").fetchall()


def test_a_slow_read_from_disk_pauses_reads_on_the_loop_longer_while_they_stay_slow(
    tmp_path: Path,
) -> None:
    clock, disk = Clock(), DiskReads()
    # budget -1: every read is slow; whether it went to disk is what the test says
    reads = LoopReads(tmp_path / "x.db", budget=-1.0, disk_reads=disk, clock=clock)
    reads.open(here())
    try:
        assert reads.read(_one) == [(1,)]  # slow, but from memory: no pause
        assert reads.read(_one) == [(1,)]
        disk.count += 32
        assert reads.read(_one) == [(1,)]  # slow and from disk: a pause of one second
        assert reads.read(_one) is NOT_READ
        clock.now += 1.01
        disk.count += 32
        assert reads.read(_one) == [(1,)]  # the probe: from disk again, so two seconds
        clock.now += 1.5
        assert reads.read(_one) is NOT_READ
        clock.now += 0.6
        assert reads.read(_one) == [(1,)]  # from memory: the pause is over and reset
        disk.count += 32
        assert reads.read(_one) == [(1,)]  # one second again
        clock.now += 0.99
        assert reads.read(_one) is NOT_READ
        for _ in range(10):  # pauses stop growing at MAX_PAUSE
            clock.now += 60.01
            disk.count += 32
            assert reads.read(_one) == [(1,)]
        clock.now += 59.9
        assert reads.read(_one) is NOT_READ
    finally:
        reads.close()


def test_a_fast_read_pauses_nothing_whatever_it_read(tmp_path: Path) -> None:
    disk = DiskReads()
    reads = LoopReads(tmp_path / "x.db", budget=60.0, disk_reads=disk)
    reads.open(here())
    try:
        for _ in range(3):
            disk.count += 32
            assert reads.read(_one) == [(1,)]
    finally:
        reads.close()


def test_without_a_disk_read_count_every_slow_read_pauses(tmp_path: Path) -> None:
    reads = LoopReads(tmp_path / "x.db", budget=-1.0, disk_reads=None)
    reads.open(here())
    try:
        assert reads.read(_one) == [(1,)]
        assert reads.read(_one) is NOT_READ
    finally:
        reads.close()


def _evict(path: Path) -> None:
    """Drop ``path``'s pages from the OS page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # only clean pages can be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _evicted_pages_are_read_from_disk(where: Path) -> bool:
    """Whether this filesystem drops pages on request and counts reading them back
    (not tmpfs, not a kernel without per-thread I/O accounting)."""
    probe = where / "probe"
    probe.write_bytes(os.urandom(1 << 16))
    _evict(probe)
    before = thread_disk_reads()
    with probe.open("rb") as f:
        f.read()
    return thread_disk_reads() > before


@pytest.fixture
def on_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory whose files' pages can be dropped and read back from a disk.

    The test's own temporary directory first; where that is a tmpfs (as /tmp is on
    many CI runners), /var/tmp and then this checkout, which are nearly always on a
    disk. Skipped (which fails a CI run) only where none is.
    """
    for parent in (tmp_path, Path("/var/tmp"), Path(__file__).parent):
        try:
            where = Path(tempfile.mkdtemp(prefix="relaykit-loop-reads-", dir=parent))
        except OSError:
            continue
        try:
            if _evicted_pages_are_read_from_disk(where):
                yield where
                return
        finally:
            shutil.rmtree(where, ignore_errors=True)
    pytest.skip("no filesystem here reads evicted pages back from a disk (all tmpfs?)")


@pytest.mark.skipif(
    sys.platform != "linux",
    reason="needs Linux's page-cache eviction and per-thread I/O counts",
)
def test_a_read_of_pages_evicted_from_the_os_cache_counts_as_a_disk_read(
    on_disk: Path,
) -> None:
    path = on_disk / "x.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        setup.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 500) for i in range(2000)])
    reads = LoopReads(path, budget=-1.0)  # every read slow: the disk decides
    reads.open(here())
    look_up = lambda conn: conn.execute("SELECT v FROM t WHERE k = 1500").fetchall()  # noqa: E731
    try:
        assert reads.read(look_up) == [("x" * 500,)]
        assert reads.read(look_up) == [("x" * 500,)]  # from memory: no pause
        # A fresh connection (SQLite's own page cache empty), then the file's pages
        # dropped from the OS page cache: the next look-up has to read the disk.
        reads._readers.pop(here()).conn.close()
        reads.open(here())
        _evict(path)
        assert reads.read(look_up) == [("x" * 500,)]
        assert reads.read(look_up) is NOT_READ  # it read from disk: paused
    finally:
        reads.close()


def test_reads_need_a_connection_opened_for_this_thread_and_none_after_close(
    tmp_path: Path,
) -> None:
    reads = LoopReads(tmp_path / "x.db")
    assert reads.read(_one) is NOT_READ  # not opened yet: the thread path opens it
    reads.open((os.getpid(), threading.get_ident() + 1))  # another thread's
    assert reads.read(_one) is NOT_READ
    reads.open(here())
    reads.open(here())  # idempotent
    assert reads.read(_one) == [(1,)]
    reads.close()
    reads.open(here())  # too late: nothing opens after close
    assert reads.read(_one) is NOT_READ
    assert reads._readers == {}


def test_the_connection_is_read_only(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "x.db") as setup:
        setup.execute("CREATE TABLE t (x)")
    reads = LoopReads(tmp_path / "x.db")
    reads.open(here())
    try:
        result = reads.read(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
        assert result is NOT_READ  # refused (query_only), so left to the thread path
        assert reads._readers == {}  # and the connection dropped
    finally:
        reads.close()
    with sqlite3.connect(tmp_path / "x.db") as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (0,)


@needs_fork
def test_a_forked_child_neither_uses_nor_closes_its_parents_connection(tmp_path: Path) -> None:
    reads = LoopReads(tmp_path / "x.db")
    reads.open(here())

    def child() -> None:
        assert reads.read(_one) is NOT_READ
        reads.close()

    in_forked_child(child)
    assert reads.read(_one) == [(1,)]  # the parent's connection still open and in use
    reads.close()
