"""A database file that fails to open or migrate leaves no connection to it open.

The file is opened on first use, then migrated; a file that is not a database, or
whose migration fails, is a ``RelayError`` naming the file, and the connection
made for it is closed (Python 3.11's sqlite3 reports none left open, so the
test counts this process's descriptors on the file).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

import relaykit
from relaykit.protocols import LogQuery
from relaykit_sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio


def open_on(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    target = str(path.resolve())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile (the listing's own descriptor)
            count += os.readlink(f"/proc/self/fd/{fd}") == target
    return count


async def test_a_file_that_is_not_a_database_leaves_nothing_open(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    path.write_bytes(b"not a database, but a file of text " * 200)
    storage = SQLiteStorage(path)
    with pytest.raises(relaykit.RelayError, match=r"logs\.db") as caught:
        await storage.query_logs(LogQuery())
    assert caught.value.hint
    assert open_on(path) == 0
    await storage.aclose()


async def test_a_failed_migration_leaves_nothing_open_and_changes_nothing(tmp_path: Path) -> None:
    # A table of another program's, named as the call log's first migration names its own.
    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE logs (something_else TEXT)")
        conn.execute("CREATE VIEW messages AS SELECT 1 AS x")
    conn.close()
    storage = SQLiteStorage(path)
    with pytest.raises(relaykit.RelayError, match=r"logs\.db"):
        await storage.query_logs(LogQuery())
    assert open_on(path) == 0
    await storage.aclose()
    conn = sqlite3.connect(path)
    try:  # rolled back, its record of migrations too
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "relaykit_migrations" not in tables


def test_a_loop_read_connection_that_fails_to_open_is_closed(tmp_path: Path) -> None:
    # Opened after a read in a worker thread worked; its own first statements can
    # still fail (the file replaced meanwhile, a lock: it waits for none).
    from relaykit_sqlite.loop_reads import LoopReads, here

    path = tmp_path / "logs.db"
    path.write_bytes(b"not a database, but a file of text " * 200)
    reads = LoopReads(path)
    with pytest.raises(sqlite3.DatabaseError):
        reads.open(here())
    assert open_on(path) == 0
    reads.close()
