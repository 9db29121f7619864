"""WAL checkpoints on a thread of their own, so the writer never pays for them.

In WAL mode a commit appends to the ``-wal`` file; a checkpoint copies those
pages into the database and fsyncs it. SQLite normally runs one inside
whichever commit crosses 1,000 pages, which stalls the writer for the whole
copy and fsync (about a third of its time under load). Instead the writer
turns automatic checkpoints off and pokes this thread every so many records;
its PASSIVE checkpoints run on another connection (the sqlite3 module
releases the GIL meanwhile) and never block the writer or readers.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable

from relaykit.sqlite_fork import using_sqlite

log = logging.getLogger("relaykit.sqlite")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` when poked, on its own connection.

    :param connect: opens the connection (called here, on the caller's thread).
    :param path: its file (what a child forked while a checkpoint runs is told).
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], path: str | os.PathLike[str]
    ) -> None:
        self._path = path
        self._conn = connect()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="relaykit-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection checkpoints run on (a forked child must leave it alone)."""
        return self._conn

    def poke(self) -> None:
        """Ask for a checkpoint soon (pokes while one runs coalesce into one more)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after a last checkpoint, and close its connection."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                try:
                    with using_sqlite(self._path, "checkpointing"):
                        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    # Harmless: the WAL only grows until the next checkpoint succeeds.
                    log.warning("WAL checkpoint failed", exc_info=True)
                if self._stopping:
                    return
        finally:
            with using_sqlite(self._path, "closing"):
                self._conn.close()
