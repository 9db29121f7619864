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
  timed instead. One slower than :data:`BUDGET` that read from the disk (the
  thread's block-input count, ``getrusage(RUSAGE_THREAD)``, grew) sends reads
  to the thread path for :data:`FIRST_PAUSE` seconds; the next read on the
  loop probes again, and each slow probe in a row doubles the pause, up to
  :data:`MAX_PAUSE`: on a disk that stays slow the loop blocks for one lookup
  a minute. A read slowed by anything else (the VM descheduled the process,
  another thread held the GIL: a few reads in a thousand under load, ~4 ms
  each, the GIL's switch interval being 5 ms) pauses nothing: the thread path
  pays for those as well. Where there is no per-thread count (not Linux), every slow
  read counts as a disk read.

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

import contextlib
import enum
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from relaykit.sqlite_fork import using_sqlite

T = TypeVar("T")


class _NotRead(enum.Enum):
    """The type of :data:`NOT_READ` (an enum, so that type checkers narrow ``is`` on it)."""

    NOT_READ = "NOT_READ"

    def __repr__(self) -> str:
        return "NOT_READ"


#: :meth:`LoopReads.read`'s answer when the read must take the thread path
NOT_READ: Final = _NotRead.NOT_READ

#: seconds a read on the loop may take before it is checked for disk reads. A
#: warm read takes ~10 µs; 1 ms is four worker-thread hops, or a few pages
#: from a slow disk (an uncached 16 KiB page is ~0.2 ms on this project's VMs)
BUDGET = 0.001

#: seconds reads take the thread path after a slow read
FIRST_PAUSE = 1.0

#: the longest pause, reached after slow probes in a row
MAX_PAUSE = 60.0

_Where = tuple[int, int]  # (process id, thread id)


def here() -> _Where:
    """The key of the calling thread's connection: a forked child's never matches its parent's."""
    return (os.getpid(), threading.get_ident())


def thread_disk_reads() -> int:
    """512-byte blocks the calling thread has read from disk (page-cache hits not counted).

    Linux only (``RUSAGE_THREAD``); called on slow reads alone, so the import is no cost.
    """
    import resource  # Unix only

    return resource.getrusage(resource.RUSAGE_THREAD).ru_inblock


#: :class:`LoopReads`' default disk-read count: per thread on Linux, none elsewhere
DISK_READS: Callable[[], int] | None = thread_disk_reads if sys.platform == "linux" else None


class _Reader:
    """One thread's connection, and its disk-read count when last looked at."""

    __slots__ = ("conn", "disk_reads")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.disk_reads: int | None = None


class LoopReads:
    """Per-thread read connections for reads that run on the event loop.

    :param path: the database file (it must exist and be migrated before
        :meth:`open` is called).
    :param budget: seconds a read may take before it is checked for disk reads
        (:data:`BUDGET`).
    :param first_pause: seconds reads then take the thread path (:data:`FIRST_PAUSE`).
    :param max_pause: the longest pause (:data:`MAX_PAUSE`).
    :param disk_reads: the calling thread's disk-read count (:func:`thread_disk_reads`
        on Linux); ``None``: every slow read counts as one from disk.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        path: Path,
        *,
        budget: float = BUDGET,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
        disk_reads: Callable[[], int] | None = DISK_READS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._budget = budget
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._disk_reads = disk_reads
        self._clock = clock
        self._readers: dict[_Where, _Reader] = {}
        self._lock = threading.Lock()  # guards _readers against open and close in worker threads
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
        reader = self._readers.get(here())
        if reader is None or (self._paused_until and self._clock() < self._paused_until):
            self.declined += 1
            return NOT_READ
        if reader.disk_reads is None and self._disk_reads is not None:
            reader.disk_reads = self._disk_reads()  # once a thread: what later reads add to
        started = time.perf_counter()
        try:
            with using_sqlite(self._path, "reading"):
                result = fn(reader.conn, *args)
        except sqlite3.Error:
            # Busy, closed meanwhile, or worse: the thread path retries it and
            # reports what is really wrong; it also opens a fresh connection.
            self._drop(here(), reader)
            self.declined += 1
            return NOT_READ
        if time.perf_counter() - started > self._budget and self._from_disk(reader):
            self._pause = min(self._pause * 2, self._max_pause) or self._first_pause
            self._paused_until = self._clock() + self._pause
        elif self._pause:
            self._pause = self._paused_until = 0.0
        self.served += 1
        return result

    def _from_disk(self, reader: _Reader) -> bool:
        """Whether this thread read from disk since it last looked (only slow reads look:
        a disk read on the loop by anything else counts too, and that errs on the safe side)."""
        if self._disk_reads is None:
            return True
        before, reader.disk_reads = reader.disk_reads, self._disk_reads()
        return before is None or reader.disk_reads > before

    def open(self, where: _Where) -> None:
        """Open the connection of the thread ``where`` names (from a worker thread). Idempotent."""
        with self._lock:
            if self._closed or where in self._readers:
                return
        with using_sqlite(self._path, "opening"):
            conn = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only=1")  # reads only, whatever a caller passes
                # Load the schema here, not in the loop's first read (~0.3 ms, cache cold).
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except BaseException:
                # (a lock it does not wait for, the file replaced): its caller carries on
                # without it, and the descriptor must not stay open until collected
                conn.close()
                raise
            with self._lock:
                if self._closed or where in self._readers:
                    keep = False
                else:
                    self._readers[where] = _Reader(conn)
                    keep = True
            if not keep:
                conn.close()

    def _drop(self, where: _Where, reader: _Reader) -> None:
        with self._lock:
            if self._readers.get(where) is reader:
                del self._readers[where]
        with contextlib.suppress(sqlite3.Error), using_sqlite(self._path, "closing"):
            reader.conn.close()  # unusable already: gone either way

    def connections_in_child(self) -> list[sqlite3.Connection]:
        """In a forked child: forget the parent's connections and return them, for the
        caller to leave alone (SQLite forbids using them, closing included).

        Reads then take the thread path, which opens this process's own.
        """
        # A thread of the parent may have held the lock at fork: it never lets go here.
        self._lock = threading.Lock()
        readers, self._readers = self._readers, {}
        return [reader.conn for reader in readers.values()]

    def close(self) -> None:
        """Close every connection this process opened; later reads are :data:`NOT_READ`."""
        with self._lock:
            self._closed = True
            readers, self._readers = self._readers, {}
        pid = os.getpid()
        # A parent's connections, inherited through a fork, are left alone:
        # SQLite forbids using a connection across fork(), closing included.
        mine = [reader.conn for (owner, _), reader in readers.items() if owner == pid]
        if mine:
            with using_sqlite(self._path, "closing"):
                for conn in mine:
                    conn.close()
