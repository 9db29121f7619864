"""SIGKILL a real process mid-stream: what survives is whole, in order, and within the bound.

The child makes calls through a relaykit.Client (FakePlugin provider, SQLite
storage) and prints each completed call's number. We kill it while it is
writing, reopen the file and check that the committed records are exactly the
first M calls, intact, with ``completed - M <= queue_size + batch_size`` (the
bound SQLiteStorage documents).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

QUEUE_SIZE, BATCH_SIZE = 200, 50

CHILD = textwrap.dedent(
    """
    import sys

    import anyio

    import relaykit
    from relaykit.testing import FakePlugin


    async def main(path: str, queue_size: int, batch_size: int) -> None:
        config = {"storage": {"path": path, "queue_size": queue_size, "batch_size": batch_size}}
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            for i in range(10**9):
                await client.chat("fake/m", f"call number {i}", metadata={"correlation_id": str(i)})
                print(i + 1, flush=True)


    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), backend=sys.argv[4])
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sigkill_loses_at_most_the_uncommitted_records(tmp_path: Path, backend: str) -> None:
    db = tmp_path / "logs.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(QUEUE_SIZE), str(BATCH_SIZE), backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    completed = 0
    deadline = time.monotonic() + 60
    try:
        assert child.stdout is not None
        while completed < 2000:  # well past the first commits, writer busy
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the child died: {child.stderr.read() if child.stderr else ''}")
            completed = int(line)
            assert time.monotonic() < deadline, "the child is too slow"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        # Read the rest through the same buffered reader: communicate() reads the
        # pipe underneath it and would miss lines readline() had already buffered,
        # undercounting what the child printed.
        rest = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    assert child.returncode == -signal.SIGKILL
    lines = rest.split()
    completed = int(lines[-1]) if lines else completed  # what it printed before dying

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO logs_fts (logs_fts) VALUES ('integrity-check')")  # raises if not
        numbers = sorted(int(r[0]) for r in conn.execute("SELECT correlation_id FROM logs"))
        searchable = conn.execute(
            "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'number'"
        ).fetchone()[0]
    finally:
        conn.close()
    committed = len(numbers)
    assert committed > 0
    assert numbers == list(range(committed)), "committed records must be the first calls, in order"
    assert searchable == committed, "every committed record is in the full-text index"
    # A record is queued before its call returns and its number is printed.
    assert committed <= completed + 1
    lost = completed - committed
    assert lost <= QUEUE_SIZE + BATCH_SIZE, f"lost {lost} records, more than the documented bound"
    print(f"{backend}: completed {completed}, committed {committed}, lost {max(lost, 0)}")
