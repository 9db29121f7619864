"""The one thread that writes to the SQLite file, fed by a bounded queue.

SQLite allows one writer at a time, and a commit (an fsync of the WAL at
checkpoints, a lock round trip always) costs far more than inserting a row. So
every write goes through one thread that owns the write connection, and that
thread commits everything waiting in its queue in one transaction: under load,
many batches share a commit. A full queue blocks the submitting thread
(backpressure, never a drop); :meth:`Writer.close` lets the queue drain first.

Callers are anyio worker threads (see :mod:`relaykit_sqlite.storage`), so the
event loop never blocks on any of this, under asyncio or trio alike.

Waiting for another process's write lock happens here in short slices, up
to the busy timeout in all. A job whose caller gave up (cancelled: the call
log's ``close_timeout``, ``[cache] timeout``) still lands once the lock is
free, unless the writer is closing: then, between two slices, it stops
waiting for it. SQLite's own busy wait cannot be interrupted (not even by
``interrupt()``), so one long wait held the client's close for the whole
busy timeout (30 s).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from relaykit.errors import RelayError
from relaykit.protocols import CallRecord
from relaykit.record_rows import RowEncoder
from relaykit.sqlite_fork import using_sqlite

from .checkpoint import Checkpointer
from .json_text import dumps
from .queries import (
    COUNT_NEW_REFERENCES,
    DROP_UNREFERENCED,
    INDEX_NEW_ROWS,
    INSERT_RECORD,
    INSERT_SHARED,
)

#: seconds of one wait for another connection's write lock (SQLite's busy handler)
LOCK_SLICE = 0.05


class _Job:
    """Records to insert, or a function to run in its own transaction (or, ``shared``,
    in one with the shared jobs queued right behind it); and its outcome."""

    __slots__ = ("done", "error", "fn", "given_up", "records", "result", "shared")

    def __init__(
        self,
        records: Sequence[CallRecord] = (),
        fn: Callable[[sqlite3.Connection], Any] | None = None,
        *,
        shared: bool = False,
        given_up: threading.Event | None = None,
    ) -> None:
        self.records = records
        self.fn = fn
        self.shared = shared
        #: set when its caller stops waiting: once closing, no more waiting for the lock for it
        self.given_up = given_up
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def wait(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


_STOP: Any = object()


class Writer:
    """Owns the write connection; commits queued record batches together.

    :param conn: the write connection (opened with ``check_same_thread=False``);
        the writer closes it.
    :param path: its file (what a child forked while the writer works is told).
    :param max_queued: jobs that may wait before submitters block.
    :param max_group: records at most in one transaction.
    :param checkpointer: runs WAL checkpoints off this thread; without one,
        SQLite checkpoints inside commits as usual.
    :param checkpoint_every: records written between two checkpoint requests.
    :param busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        path: str | os.PathLike[str],
        max_queued: int = 64,
        max_group: int = 10_000,
        checkpointer: Checkpointer | None = None,
        checkpoint_every: int = 2000,
        busy_timeout: float = 30.0,
    ) -> None:
        self._conn = conn
        self._path = path
        self._busy_timeout = busy_timeout
        # The lock is waited for in slices (see _begin): in WAL mode nothing but
        # BEGIN IMMEDIATE waits for it once the file is open and migrated. (A file
        # SQLite kept out of WAL waits at COMMIT too: it keeps the whole timeout.)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            conn.execute(f"PRAGMA busy_timeout={round(LOCK_SLICE * 1000)}")
        self._max_group = max_group
        self._checkpointer = checkpointer
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._encode = RowEncoder(dumps)
        if checkpointer is not None:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        self._queue: queue.Queue[_Job] = queue.Queue(max_queued)
        self._thread = threading.Thread(
            target=self._run, name="relaykit-sqlite-writer", daemon=True
        )
        self._thread.start()
        # Held while putting, so nothing can be queued behind the stop marker.
        self._put_lock = threading.Lock()
        self._closed = False
        #: closing, the lock was held by another connection: jobs given up are dropped
        self._locked_at_close = False
        #: transactions committed so far (for tests and benchmarks)
        self.commits = 0

    def _submit(self, job: _Job) -> Any:
        with self._put_lock:
            if self._closed:
                raise RelayError("the SQLite writer is closed", hint="use a new relaykit.Client")
            self._queue.put(job)  # blocks while the queue is full: backpressure
        return job.wait()

    def write(self, records: Sequence[CallRecord], given_up: threading.Event | None = None) -> None:
        """Insert ``records``; block until committed (or while the queue is full).

        Once ``given_up`` is set (its caller was cancelled and left) and the writer
        is closing, the thread no longer waits for another process's lock for them.
        """
        self._submit(_Job(records, given_up=given_up))

    def run(
        self, fn: Callable[[sqlite3.Connection], Any], given_up: threading.Event | None = None
    ) -> Any:
        """Run ``fn(connection)`` in its own transaction on the writer thread; return its
        result. ``given_up`` as :meth:`write`'s."""
        return self._submit(_Job(fn=fn, given_up=given_up))

    def run_shared(
        self, fn: Callable[[sqlite3.Connection], None], given_up: threading.Event | None = None
    ) -> None:
        """Run ``fn(connection)`` on the writer thread, in one transaction with the other
        shared functions waiting in the queue (each alone if that one fails).

        For the response cache's writes: a burst of cached calls each wrote its
        answer in a transaction of its own, 500 at once took longer than ``[cache]
        timeout`` to commit, and the client counted the store failed (287 writes
        lost of 500 calls) and left it alone, lookups too. ``given_up`` as
        :meth:`write`'s.
        """
        self._submit(_Job(fn=fn, shared=True, given_up=given_up))

    def close(self) -> None:
        """Write everything queued, then stop the thread and close the connection. Idempotent."""
        with self._put_lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join()
        if self._checkpointer is not None:
            self._checkpointer.close()

    def connections_in_child(self) -> list[sqlite3.Connection]:
        """In a forked child: the parent's connections this writer holds, for the
        caller to leave alone (SQLite forbids using them, closing included).

        The child has none of the parent's threads, and what is queued here is the
        parent's to write (it still does): the child drops this writer and starts
        its own. Not when this writer's thread (or its checkpointer's) was inside
        SQLite at the fork: :mod:`relaykit.sqlite_fork` then refuses the child SQLite.
        """
        conns = [self._conn]
        if self._checkpointer is not None:
            conns.append(self._checkpointer.conn)
        return conns

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        try:
            held: _Job | None = None
            while True:
                job = held if held is not None else self._queue.get()
                held = None
                if job is _STOP:
                    return
                if job.fn is not None and job.shared:
                    held = self._run_shared(job, conn)
                    continue
                if job.fn is not None:
                    self._settle([job], conn, job.fn, conn)
                    continue
                group, count = [job], len(job.records)
                while count < self._max_group:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP or nxt.fn is not None:
                        held = nxt  # after this group
                        break
                    group.append(nxt)
                    count += len(nxt.records)
                if not self._settle(group, conn, self._insert, conn, group) and len(group) > 1:
                    # One bad batch must not fail the others that shared its transaction.
                    for single in group:
                        self._settle([single], conn, self._insert, conn, [single])
        finally:
            with using_sqlite(self._path, "closing"):
                conn.close()

    def _run_shared(self, job: _Job, conn: sqlite3.Connection) -> _Job | None:
        """Run ``job`` and the shared jobs queued behind it in one transaction; return
        the first job that is not one (to run next), if it was taken from the queue."""
        group, held = [job], None
        while len(group) < self._max_group:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP or not nxt.shared:
                held = nxt
                break
            group.append(nxt)
        if not self._settle(group, conn, _run_each, conn, group) and len(group) > 1:
            for single in group:  # one failing must not fail the others
                self._settle([single], conn, _run_each, conn, [single])
        return held

    def _insert(self, conn: sqlite3.Connection, group: list[_Job]) -> None:
        encode = self._encode.shared
        rows, shared = [], {}
        for job in group:
            for record in job.records:
                row, more = encode(record)
                rows.append(row)
                shared.update(more)
        # Inside BEGIN IMMEDIATE nobody else inserts: every row above `top` is ours.
        (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM logs").fetchone()
        if shared:
            conn.executemany(INSERT_SHARED, shared.items())
        inserted = conn.executemany(INSERT_RECORD, rows).rowcount
        conn.execute(INDEX_NEW_ROWS, (top,))
        if shared:
            conn.execute(COUNT_NEW_REFERENCES, (top,))
            if inserted < len(rows):  # some were stored before; their messages may be new
                conn.executemany(DROP_UNREFERENCED, [(key,) for key in shared])
        self._since_checkpoint += len(rows)

    def _begin(self, conn: sqlite3.Connection, group: list[_Job]) -> None:
        """``BEGIN IMMEDIATE``, waiting for another connection's lock in slices, up to
        the busy timeout; once closing, not for jobs whose callers all gave up."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            if self._locked_at_close and _given_up(group):
                raise sqlite3.OperationalError("database is locked (the write was given up)")
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if not locked(e) or time.monotonic() >= deadline:
                    raise
                if self._closed and _given_up(group):
                    # The rest given up wait no more either: each would take a slice.
                    self._locked_at_close = True
                    raise

    def _after_commit(self) -> None:
        if self._checkpointer is not None and self._since_checkpoint >= self._checkpoint_every:
            self._since_checkpoint = 0
            self._checkpointer.poke()

    def _settle(
        self, group: list[_Job], conn: sqlite3.Connection, work: Callable[..., Any], *args: Any
    ) -> bool:
        """Run ``work(*args)`` in one transaction and tell ``group`` how it went; return success."""
        try:
            with using_sqlite(self._path, "writing"):
                self._begin(conn, group)
                try:
                    result = work(*args)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # some errors (disk full) end it themselves
                        conn.execute("ROLLBACK")
                    raise
        except Exception as e:
            if len(group) > 1:
                return False  # the caller retries each job alone
            group[0].error = e
            group[0].done.set()
            return False
        self.commits += 1
        self._after_commit()
        for job in group:
            job.result = result
            job.done.set()
        return True


def _given_up(group: list[_Job]) -> bool:
    """Whether every caller of ``group`` has stopped waiting for it."""
    return all(job.given_up is not None and job.given_up.is_set() for job in group)


def locked(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` is another connection's lock (SQLITE_BUSY), which waiting cures."""
    name = getattr(error, "sqlite_errorname", None)
    if name:
        return str(name).startswith("SQLITE_BUSY")
    return "database is locked" in str(error)


def _run_each(conn: sqlite3.Connection, group: list[_Job]) -> None:
    for job in group:
        assert job.fn is not None
        job.fn(conn)
