"""Another process locks the file past the busy timeout: the call log waits it out.

SQLiteStorage says a write that timed out on the lock (SQLITE_BUSY) is
StorageUnavailableError; the call log retries the batch until the lock is
released, and every record is stored once, none spilled.
"""

from __future__ import annotations

import sqlite3
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit.call_log import CallLog
from relaykit.record_spill import read_spilled
from relaykit.testing import FakePlugin
from relaykit.testing.storage_contract import make_record
from relaykit_sqlite import SQLiteStorage

#: holds an exclusive lock on the file for HOLD seconds (or, given ``-``, until a line
#: comes on its stdin), saying when it has it
LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    if sys.argv[2] == "-":
        sys.stdin.readline()
    else:
        time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    """
)
HOLD = 0.6


@pytest.mark.anyio
async def test_a_lock_held_past_the_busy_timeout_loses_no_record(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    storage = SQLiteStorage(path, busy_timeout=0.05)
    first = make_record(0)
    await storage.write_batch([first])  # the file exists, migrated
    records = [make_record(n) for n in range(1, 41)]
    log = CallLog(storage, max_queue=8, max_batch=5, retry_for=10, initial_wait=0.02, max_wait=0.1)
    async with await anyio.open_process(
        [sys.executable, "-c", LOCKER, str(path), str(HOLD)]
    ) as locker:
        assert locker.stdout is not None
        assert (await locker.stdout.receive()).strip() == b"locked"
        with pytest.raises(relaykit.StorageUnavailableError, match="database is locked"):
            await storage.write_batch([make_record(99)])
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                log.start(tg)
                for record in records:  # more than the queue holds: callers wait a while
                    await log.put(record)
                await log.aclose()
        assert await locker.wait() == 0
    with sqlite3.connect(path) as conn:
        stored = [row[0] for row in conn.execute("SELECT id FROM logs")]
    assert sorted(stored) == sorted(r.id for r in [first, *records])
    assert log.failed_writes >= 1  # the outage did hit the writer
    assert (log.spilled, log.lost) == (0, 0)


@pytest.mark.anyio
async def test_records_spilled_while_the_file_was_locked_are_replayed_into_it(
    tmp_path: Path,
) -> None:
    path, spill_path = tmp_path / "logs.db", tmp_path / "spill.jsonl"
    storage = SQLiteStorage(path, busy_timeout=0.05)
    await storage.write_batch([make_record(0)])  # the file exists, migrated
    log = CallLog(
        storage,
        max_queue=8,
        max_batch=5,
        retry_for=0.05,
        initial_wait=0.02,
        max_wait=0.1,
        spill_path=spill_path,
    )
    records = [make_record(n) for n in range(1, 200)]
    with anyio.fail_after(30):  # a safety net only
        async with anyio.create_task_group() as tg:
            log.start(tg)
            # held until records are spilled: a lock held for a set time was let go
            # before a loaded machine's writer had given up on it, and nothing spilled
            async with await anyio.open_process(
                [sys.executable, "-c", LOCKER, str(path), "-"]
            ) as locker:
                assert locker.stdout is not None and locker.stdin is not None
                assert (await locker.stdout.receive()).strip() == b"locked"
                n = 0
                while not log.spilled:  # the lock outlasts retry_for: records are spilled
                    await log.put(records[n])
                    n += 1
                await locker.stdin.send(b"go\n")
                assert await locker.wait() == 0
            while log.replayed < log.spilled:  # a write works again: the file is replayed
                await log.put(records[n])
                n += 1
                await anyio.sleep(0.01)
            await log.aclose()
    with sqlite3.connect(path) as conn:
        stored = [row[0] for row in conn.execute("SELECT id FROM logs")]
    assert set(stored) >= {r.id for r in records[:n]}  # spilled ones too: none lost
    assert len(stored) == n + 1  # the first record and the n put
    assert log.replayed == log.spilled > 0
    assert not spill_path.exists()


def test_the_spill_file_is_named_by_the_database_path(
    tmp_path: Path, closed_after: Callable[[relaykit.Client], relaykit.Client]
) -> None:
    # A client configured with the path spills to the file it did before spill_target;
    # a storage built in code with another path gets a file of its own.
    from relaykit.record_spill import default_spill_path, storage_target

    db = tmp_path / "logs.db"
    storage = SQLiteStorage(db)
    assert str(db.absolute()) in storage.spill_target
    assert storage.spill_target == storage_target("sqlite", str(db), None)
    client = closed_after(relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}))
    assert client._call_log is not None
    assert client._call_log.spill_path == default_spill_path(storage.spill_target)
    assert CallLog(SQLiteStorage(tmp_path / "other.db")).spill_path != client._call_log.spill_path


@pytest.mark.anyio
async def test_a_client_not_entered_answers_its_call_and_spills_what_sqlite_cannot_take(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("")  # the database's directory is a file: SQLite cannot open it
    spill_path = tmp_path / "spill.jsonl"
    config = {"storage": {"path": str(blocker / "logs.db"), "spill_path": str(spill_path)}}
    client = relaykit.Client(config, plugins=[FakePlugin()])
    with anyio.fail_after(5):
        # Not entered: no writer runs, the record is written as the call ends.
        answer = await client.chat("fake/m", "hi")
        await client.aclose()
    assert answer.text == "echo: hi"
    (record,) = read_spilled(spill_path)
    assert record.text == "echo: hi"
    assert f"wrote them to {spill_path}" in caplog.text
    blocker.unlink()  # fixed: the storage works from now on
    with anyio.fail_after(5):
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            while await anyio.Path(spill_path).exists():  # noqa: ASYNC110  # replayed, then gone
                await anyio.sleep(0.01)
    with sqlite3.connect(blocker / "logs.db") as conn:
        assert [row[0] for row in conn.execute("SELECT id FROM logs")] == [record.id]
