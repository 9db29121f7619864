"""Two processes log calls into one new SQLite file at once: all of it lands, once.

Each child is a real relaykit.Client (FakePlugin provider, the default SQLite
storage, a small queue and batches, so commits interleave often) in its own
process, under asyncio or trio. They start together on a file that does not
exist yet, so they also race to create it, switch it to WAL and migrate it.
No call may fail, no write may be refused or spilled (SQLite's busy timeout
makes each writer wait its turn), and every record is stored exactly once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

CALLS = 100

CHILD = textwrap.dedent(
    """
    import sys

    import anyio

    import relaykit
    from relaykit.testing import FakePlugin


    async def main(path: str, who: str, calls: int) -> None:
        config = {
            "storage": {
                "path": path,
                "queue_size": 20,
                "batch_size": 5,
                "retention_days": 30,  # a prune at start, from each process
                "spill_path": path + "." + who + ".spill",
            }
        }
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            for i in range(calls):
                await client.chat("fake/m", f"call {i}", metadata={"correlation_id": f"{who}-{i}"})
            log = client._call_log
        print(log.failed_writes, log.spilled, log.lost)


    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), backend=sys.argv[4])
    """
)


def test_processes_writing_one_new_file_at_once_store_every_record_once(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), who, str(CALLS), backend],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, backend in (("a", "asyncio"), ("b", "trio"))
    ]
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert "ERROR" not in err and "Traceback" not in err, err
        outcomes.append(out.split())
    assert outcomes == [["0", "0", "0"]] * 2  # no failed write, none spilled or lost
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT correlation_id FROM logs")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert sorted(ids) == sorted(f"{who}-{i}" for who in "ab" for i in range(CALLS))
    assert not list(tmp_path.glob("*.spill*"))
