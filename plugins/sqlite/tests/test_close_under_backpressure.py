"""Closing the client while calls wait for room in a full call-log queue.

Another process holds the file's lock, so the writer retries its batch (for up
to ``[storage] retry_for``) and the queue fills; the calls whose records come
next wait for room (backpressure, never a drop). The client's close waited for
those calls as for any in flight, and they waited for the writer: the close took
``retry_for`` (here an hour), not ``close_timeout``. Now closing hands their
records to the close at once: each is stored with the queue or, storage still
locked at ``close_timeout``, spilled to the spill file, which the next client
replays into the file. Nothing the caller handed over is lost.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

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


async def _stored(path: Path) -> set[str]:
    reader = SQLiteStorage(path)
    try:
        return {record.text for record in await reader.query_logs(LogQuery(limit=1000))}
    finally:
        await reader.aclose()


@pytest.mark.anyio
async def test_closing_while_calls_wait_for_queue_room_keeps_to_close_timeout_losing_nothing(
    tmp_path: Path,
) -> None:
    path, spill_path = tmp_path / "logs.db", tmp_path / "spill.jsonl"
    storage_config: dict[str, Any] = {
        "path": str(path),
        "spill_path": str(spill_path),
        "queue_size": 2,
        "batch_size": 2,
        "retry_for": 3600,  # storage's trouble would hold the calls this long
        "close_timeout": 0.5,
    }
    config = {"storage": storage_config, "timeouts": {"total": 3600}}
    calls = 12
    done: list[str] = []

    async def call(client: relaykit.Client, n: int) -> None:
        r = await client.chat("fake/m", f"call {n}")
        done.append(r.text)

    client = relaykit.Client(config, plugins=[FakePlugin()])
    async with client:
        await client.chat("fake/m", "warm")
        while not await anyio.to_thread.run_sync(_holds_a_record, path):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
            assert locker.stdout is not None and locker.stdin is not None
            assert (await locker.stdout.receive()).strip() == b"locked"
            with anyio.fail_after(60):  # a safety net: the bug held the close an hour
                async with anyio.create_task_group() as tg:
                    for n in range(calls):
                        tg.start_soon(call, client, n)
                    # the writer holds a batch, the queue is full: the others wait for room
                    while client._call_log is None or client._call_log.depth < 2:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                    await client.aclose()
            await locker.stdin.send(b"go\n")
            assert await locker.wait() == 0
    # every call returned its answer (its record handed over, not refused)
    assert sorted(done) == sorted(f"echo: call {n}" for n in range(calls))
    spilled = {record.text for record in read_spilled(spill_path)} if spill_path.exists() else set()
    wanted = {f"echo: call {n}" for n in range(calls)}
    assert wanted <= await _stored(path) | spilled  # stored or spilled: none lost
    # the next client on the file replays the spill file into it
    replay = {**config, "storage": {**storage_config, "retry_for": 60}}
    async with relaykit.Client(replay, plugins=[FakePlugin()]):
        with anyio.fail_after(60):
            while not wanted <= await _stored(path):  # noqa: ASYNC110
                await anyio.sleep(0.05)


@pytest.mark.anyio
@pytest.mark.parametrize("made", [False, True], ids=["new file", "migrated file"])
async def test_closing_while_the_first_open_waits_for_the_lock_ends_that_wait(
    tmp_path: Path, made: bool
) -> None:
    # The first open (WAL switch, migration) waits for another process's lock up to
    # the busy timeout, as every write does: another process may be making or
    # migrating the same file, which takes a moment. But closing waited for that
    # open whole (the busy timeout, 30 s by default: an hour here), past the call
    # log's close_timeout, which had given the write up: now the close ends it.
    path = tmp_path / "logs.db"
    if made:
        made_by_another = SQLiteStorage(path)
        await made_by_another.cache_models(CachedModels("groq", 1.0, ()))
        await made_by_another.aclose()
    storage = SQLiteStorage(path, busy_timeout=3600)
    async with await anyio.open_process([sys.executable, "-c", LOCKER, str(path)]) as locker:
        assert locker.stdout is not None and locker.stdin is not None
        assert (await locker.stdout.receive()).strip() == b"locked"
        with anyio.move_on_after(0.3) as waited:  # the call log's close_timeout, say
            await storage.write_batch([make_record(0)])
        assert waited.cancelled_caught  # it waited for the lock
        # Closed in a thread of its own, so that the test is not held an hour if it hangs.
        closed = threading.Event()

        def close() -> None:
            anyio.run(storage.aclose)
            closed.set()

        threading.Thread(target=close, daemon=True).start()
        ended = await anyio.to_thread.run_sync(closed.wait, 60)
        await locker.stdin.send(b"go\n")
        assert await locker.wait() == 0
    assert ended, "the close waited for the first open's busy timeout"
    # The write given up was dropped (the call log spills such records); the file
    # opens and takes records as before.
    again, record = SQLiteStorage(path), make_record(1)
    try:
        await again.write_batch([record])
        assert [r.id for r in await again.query_logs()] == [record.id]
    finally:
        await again.aclose()
