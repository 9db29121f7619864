"""Reads small enough to run on the event loop's own thread, without a worker-thread hop.

A response-cache hit reads one row by primary key: a ~17 k-instruction
``SELECT`` that an ``anyio.to_thread.run_sync`` round trip (~255 k
instructions, most of a hit) used to wrap. :class:`LoopReads` runs such a
read where the caller is, on a connection of its own, and says when it cannot
(:data:`NOT_READ`), so the caller takes the thread path instead.

Why this cannot stall the loop for long:

- Lock waits: in WAL mode readers never wait for the writer, and the loop's
  connections have a busy timeout of 0, so the rare ``SQLITE_BUSY`` (another
  connection recovering the WAL, say) is an immediate error, never a wait.
  Every :class:`sqlite3.Error` sends the read to the thread path (and drops the
  connection, which the thread path reopens).
- Disk reads: a B-tree lookup touches 3-4 pages, usually in the OS page cache
  (a cached answer is recent: it was written, through that cache, within its
  TTL). When they are not (a big file on a slow disk, memory pressure), one
  read may take milliseconds. The file's size does not tell (the call log
  shares it, and the cache table's pages are what matter), so each read is
  timed instead: one slower than :data:`BUDGET` sends reads to the thread path
  for :data:`FIRST_PAUSE` seconds; the next read on the loop probes again, and
  each slow probe in a row doubles the pause, up to :data:`MAX_PAUSE`. On a
  disk that stays slow the loop blocks for one lookup a minute; a read slowed
  by something else (the VM descheduled us, another thread held the GIL:
  measured here up to ~4 ms, about one in a thousand reads under load) costs
  one second of thread hops.

Which connection. One per (process, thread): an event loop runs on one
thread, so a connection is only ever used by the thread it is keyed by, and
tasks cannot interleave inside a read (it never awaits). Several event loops
in several threads (a ``SyncClient``'s portal and the main program, say) get
one each; a forked child finds none of its parent's (SQLite connections must
not cross a fork) and opens its own. Connections are opened by the thread
path (so opening the file never happens on the loop) with
``check_same_thread=False`` only so that one can be opened there and closed
by :meth:`LoopReads.close` from a worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

T = TypeVar("T")


class _NotRead:
    """The type of :data:`NOT_READ`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_READ"


#: :meth:`LoopReads.read`'s answer when the read must take the thread path
NOT_READ: Final = _NotRead()

#: seconds a read on the loop may take before reads go to threads for a while.
#: A warm read takes ~10 µs (the first on a connection ~0.3 ms); 2 ms is a few
#: reads from a slow disk, and rarely reached by a GIL hand-off (5 ms at most)
BUDGET = 0.002

#: seconds reads take the thread path after a slow read
FIRST_PAUSE = 1.0

#: the longest pause, reached after slow probes in a row
MAX_PAUSE = 60.0

_Where = tuple[int, int]  # (process id, thread id)


def here() -> _Where:
    """The key of the calling thread's connection: a forked child's never matches its parent's."""
    return (os.getpid(), threading.get_ident())


class LoopReads:
    """Per-thread read connections for reads that run on the event loop.

    :param path: the database file (it must exist and be migrated before
        :meth:`open` is called).
    :param budget: seconds one read may take before reads pause (:data:`BUDGET`).
    :param first_pause: seconds reads then take the thread path (:data:`FIRST_PAUSE`).
    :param max_pause: the longest pause (:data:`MAX_PAUSE`).
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        path: Path,
        *,
        budget: float = BUDGET,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._budget = budget
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._clock = clock
        self._conns: dict[_Where, sqlite3.Connection] = {}
        self._lock = threading.Lock()  # guards _conns against open and close in worker threads
        self._closed = False
        self._paused_until = 0.0
        self._pause = 0.0  # the last pause, while reads stay slow; 0 after a fast one
        #: reads answered on the loop, and reads sent to the thread path (tests, benchmarks)
        self.served = 0
        self.declined = 0

    def read(self, fn: Callable[..., T], *args: Any) -> T | _NotRead:
        """``fn(connection, *args)`` on this thread's connection, or :data:`NOT_READ`.

        ``fn`` must finish its statements (``fetchall``, not a half-read
        cursor): an unfinished one would hold its read transaction open,
        pinning an old snapshot of the database and holding back checkpoints.
        """
        conn = self._conns.get(here())
        if conn is None or (self._paused_until and self._clock() < self._paused_until):
            self.declined += 1
            return NOT_READ
        started = time.perf_counter()
        try:
            result = fn(conn, *args)
        except sqlite3.Error:
            # Busy, closed meanwhile, or worse: the thread path retries it and
            # reports what is really wrong; it also opens a fresh connection.
            self._drop(here(), conn)
            self.declined += 1
            return NOT_READ
        if time.perf_counter() - started > self._budget:
            self._pause = min(self._pause * 2, self._max_pause) or self._first_pause
            self._paused_until = self._clock() + self._pause
        elif self._pause:
            self._pause = self._paused_until = 0.0
        self.served += 1
        return result

    def open(self, where: _Where) -> None:
        """Open the connection of the thread ``where`` names (from a worker thread). Idempotent."""
        with self._lock:
            if self._closed or where in self._conns:
                return
        conn = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")  # reads only, whatever a caller passes
        # Load the schema here, not in the loop's first read (~0.3 ms, the page cache cold).
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        with self._lock:
            if self._closed or where in self._conns:
                keep = False
            else:
                self._conns[where] = conn
                keep = True
        if not keep:
            conn.close()

    def _drop(self, where: _Where, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._conns.get(where) is conn:
                del self._conns[where]
        try:
            conn.close()
        except sqlite3.Error:  # already closed by close(), or unusable: either way gone
            pass

    def close(self) -> None:
        """Close every connection this process opened; later reads are :data:`NOT_READ`."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, {}
        pid = os.getpid()
        for (owner, _), conn in conns.items():
            # A parent's connections, inherited through a fork, are left alone:
            # SQLite forbids using a connection across fork(), closing included.
            if owner == pid:
                conn.close()
