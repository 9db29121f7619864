"""Another process holds the file's lock while the client closes: the close keeps to close_timeout.

A write waiting for the lock sat in SQLite's busy handler for the whole busy
timeout (30 s), and cancelling it waited for that thread: a client closed
with ``close_timeout = 0.5`` took 30 s to close. Now closing stops waiting
for the lock for writes whose callers gave up (the call log spills its
records, replayed once the file can be written); none is lost.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit.protocols import CachedModels, LogQuery
from relaykit.record_spill import read_spilled
from relaykit.testing import FakePlugin
from relaykit.testing.storage_contract import make_record
from relaykit_sqlite import SQLiteStorage

#: holds an exclusive lock on the file until a line comes on its stdin, saying when it has it
LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


def _holds_a_record(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT count(*) FROM logs").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet, or not migrated
        return False


#: well under the 30 s busy timeout the writes would otherwise wait, generous for a loaded machine
BOUND = 12.0


@pytest.mark.anyio
async def test_a_write_waiting_for_the_lock_ends_when_it_is_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path)  # the default busy timeout, 30 s
    first = make_record(0)
    await storage.write_batch([first])
    async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
        assert locker.stdout is not None and locker.stdin is not None
        assert (await locker.stdout.receive()).strip() == b"locked"
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await storage.write_batch([make_record(1)])
        assert scope.cancelled_caught
        await storage.aclose()  # nothing left for it to wait for
        took = time.monotonic() - started
        await locker.stdin.send(b"go\n")
        assert await locker.wait() == 0
    assert took < BOUND, f"the cancelled write and the close took {took:.1f} s"
    with sqlite3.connect(path) as conn:  # the given-up write was dropped at the close
        assert [row[0] for row in conn.execute("SELECT id FROM logs")] == [first.id]


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["prune", "cache_models", "vault_put"])
async def test_other_writes_waiting_for_the_lock_end_when_they_are_cancelled(
    tmp_path: Path, operation: str
) -> None:
    # The retention's prune runs in the call log's writer, which the close cancels;
    # a model listing's cache write in a call the close cancels.
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path)
    await storage.write_batch([make_record(0)])
    writes: dict[str, Callable[[], Awaitable[object]]] = {
        "prune": lambda: storage.prune(datetime.now(UTC)),
        "cache_models": lambda: storage.cache_models(CachedModels("groq", 1000.0, ())),
        "vault_put": lambda: storage.vault_put({"k": b"v"}),
    }
    async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
        assert locker.stdout is not None and locker.stdin is not None
        assert (await locker.stdout.receive()).strip() == b"locked"
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await writes[operation]()
        assert scope.cancelled_caught
        await storage.aclose()
        took = time.monotonic() - started
        await locker.stdin.send(b"go\n")
        assert await locker.wait() == 0
    assert took < BOUND, f"the cancelled {operation} and the close took {took:.1f} s"


@pytest.mark.anyio
async def test_closing_a_client_on_a_locked_file_keeps_to_close_timeout_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path, spill_path = tmp_path / "logs.db", tmp_path / "spill.jsonl"
    config = {
        "storage": {
            "path": str(path),
            "spill_path": str(spill_path),
            "close_timeout": 0.5,
            "batch_size": 5,
        }
    }
    calls = 40
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "warm")
        # The file made, migrated and its first record in (a lock taken before would
        # hold the migration, which no cancellation cuts short):
        while not await anyio.to_thread.run_sync(_holds_a_record, path):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
            assert locker.stdout is not None and locker.stdin is not None
            assert (await locker.stdout.receive()).strip() == b"locked"
            async with anyio.create_task_group() as tg:
                for n in range(calls):  # their records wait in the queue, the writer for the lock
                    tg.start_soon(client.chat, "fake/m", f"call {n}")
            started = time.monotonic()
            await client.aclose()
            took = time.monotonic() - started
            await locker.stdin.send(b"go\n")
            assert await locker.wait() == 0
    assert took < BOUND, f"closing took {took:.1f} s with close_timeout 0.5"
    reader = SQLiteStorage(path)
    try:
        stored = {record.text for record in await reader.query_logs(LogQuery(limit=1000))}
    finally:
        await reader.aclose()
    spilled = {record.text for record in read_spilled(spill_path)} if spill_path.exists() else set()
    wanted = {f"echo: call {n}" for n in range(calls)}
    assert wanted <= stored | spilled  # every record stored or spilled: none lost


@pytest.mark.anyio
async def test_cache_writes_given_up_on_a_locked_file_do_not_hold_the_close(
    tmp_path: Path,
) -> None:
    # A cached answer's write waits for the lock past [cache] timeout: its caller
    # goes on uncached, and the write was left queued in the writer, whose close
    # then waited the whole busy timeout (30 s) for it.
    path = tmp_path / "logs.db"
    config = {
        "storage": {"path": str(path), "close_timeout": 0.5},
        "cache": {"enabled": True, "backend": "storage", "timeout": 0.5},
    }
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "warm", temperature=0)
        while not await anyio.to_thread.run_sync(_holds_a_record, path):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
            assert locker.stdout is not None and locker.stdin is not None
            assert (await locker.stdout.receive()).strip() == b"locked"
            answers = [await client.chat("fake/m", f"call {n}", temperature=0) for n in range(3)]
            assert [a.text for a in answers] == [f"echo: call {n}" for n in range(3)]
            assert client.cache_errors >= 1  # the writes did meet the lock
            started = time.monotonic()
            await client.aclose()
            took = time.monotonic() - started
            await locker.stdin.send(b"go\n")
            assert await locker.wait() == 0
    assert took < BOUND, f"closing took {took:.1f} s with close_timeout 0.5"
