"""Two ways to talk to PostgreSQL behind one small interface.

- :class:`ThreadDriver`: psycopg's sync API and ``psycopg_pool.ConnectionPool``,
  each statement run in an anyio worker thread. Works under asyncio and trio.
- :class:`AsyncDriver`: ``psycopg.AsyncConnection`` through
  ``psycopg_pool.AsyncConnectionPool``, no threads. asyncio only (psycopg's
  async API is built on asyncio), and tied to the event loop that opened it.

The storage writes its SQL once, as calls to :class:`Driver`; neither driver
knows anything about call records.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import anyio
import psycopg
import psycopg_pool


class Transaction(Protocol):
    """Statements on one connection, in the transaction :meth:`Driver.transaction` opened."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        ...

    async def copy(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``COPY ... FROM STDIN`` with ``rows``."""
        ...


class Driver(Protocol):
    """Run statements on pooled connections; each call is one transaction."""

    async def open(self) -> None:
        """Open the pool (and wait for its first connection)."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, pipelined, in one transaction."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Several statements in one transaction: committed when the block ends, rolled
        back when it raises (cancellation included)."""
        ...

    async def check(self) -> None:
        """Test the pool's idle connections; drop the broken ones (the pool opens new ones)."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


# -- the thread driver -----------------------------------------------------------------

T = TypeVar("T")
#: seconds a cancelled transaction's commit or rollback may take before its
#: connection is cut (it runs shielded: it gives the connection back)
FINISH_WAIT = 5.0


class _Cut:
    """Lets the event loop cut the connection a worker thread waits on.

    A worker thread cannot be cancelled: against a server that stopped answering
    (a partition, a frozen host), a statement waits for the kernel's TCP timeout,
    minutes, and the task awaiting it with it, whatever its cancel scope says
    (``[cache] timeout``, the call log's ``close_timeout``). On cancellation the
    task leaves the thread and shuts the connection's socket down, so the thread's
    wait ends at once with an error, and the pool drops the broken connection.
    """

    __slots__ = ("_cut", "_fd", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._cut = False

    @contextlib.contextmanager
    def using(self, conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
        """In the worker thread: ``conn`` is in use by the statement (until the block ends)."""
        with self._lock:
            if self._cut:  # cancelled before the thread got here: send nothing
                raise psycopg.OperationalError("cancelled before the statement was sent")
            self._fd = conn.fileno()
        try:
            yield conn
        finally:
            with self._lock:  # before the connection goes back to the pool
                self._fd = None

    def cut(self) -> None:
        """In the event loop: end the wait of the statement running, if one is."""
        with self._lock:
            self._cut = True
            if self._fd is not None:
                # shutdown acts on the socket itself, shared with libpq's descriptor:
                # its wait wakes up to an end of stream (the descriptor stays libpq's)
                with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self._fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)


async def _in_thread(work: Callable[[_Cut], T]) -> T:
    """``work(cut)`` in a worker thread, which cancellation leaves at once (see :class:`_Cut`)."""
    cut = _Cut()
    try:
        return await anyio.to_thread.run_sync(work, cut, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cut.cut()
        raise


def _fetch(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def _execute(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> int:
    return conn.execute(sql, params).rowcount


def _copy(conn: psycopg.Connection[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
    with conn.cursor() as cur, cur.copy(sql) as stream:
        for row in rows:
            stream.write_row(row)


class _ThreadTransaction:
    """A :class:`Transaction` on a sync connection, each statement in a worker thread."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        return await _in_thread(lambda cut: self._on(cut, _fetch, sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        return await _in_thread(lambda cut: self._on(cut, _execute, sql, params))

    async def copy(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``COPY ... FROM STDIN`` with ``rows``."""
        await _in_thread(lambda cut: self._on(cut, _copy, sql, rows))

    def _on(self, cut: _Cut, statement: Callable[..., T], *args: Any) -> T:
        with cut.using(self._conn) as conn:
            return statement(conn, *args)


async def _returned(pool: psycopg_pool.ConnectionPool[Any], conn: psycopg.Connection[Any]) -> None:
    """``conn`` back in ``pool`` (in a worker thread: putconn may roll back or close it),
    even under a cancelled scope."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(pool.putconn, conn)


class ThreadDriver:
    """psycopg's sync pool, used from anyio worker threads."""

    def __init__(
        self, conninfo: str, kwargs: Mapping[str, Any], min_size: int, max_size: int
    ) -> None:
        self._pool = psycopg_pool.ConnectionPool(
            conninfo,
            kwargs=dict(kwargs),
            min_size=min_size,
            max_size=max_size,
            open=False,
            name="relaykit",
        )

    async def open(self) -> None:
        """Open the pool."""
        await anyio.to_thread.run_sync(lambda: self._pool.open(wait=True, timeout=10))

    def _fetch(self, cut: _Cut, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn, cut.using(conn):
            return _fetch(conn, sql, params)

    def _execute(self, cut: _Cut, sql: str, params: Sequence[Any]) -> int:
        with self._pool.connection() as conn, cut.using(conn):
            return _execute(conn, sql, params)

    def _execute_many(self, cut: _Cut, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._pool.connection() as conn, cut.using(conn), conn.cursor() as cur:
            cur.executemany(sql, rows)

    def _finish(self, cut: _Cut, conn: psycopg.Connection[Any], commit: bool) -> None:
        try:
            if commit:
                with cut.using(conn):
                    conn.commit()
            else:
                # As psycopg's own `with conn:` does: a failed rollback (a broken
                # connection) must not hide the error that caused it; the pool
                # discards such a connection. That covers using() too: a statement
                # cancelled mid-way had its socket cut (see _Cut), and the lost
                # connection's fileno() raises, which replaced the caller's
                # cancellation with a storage error.
                with contextlib.suppress(psycopg.Error), cut.using(conn):
                    conn.rollback()
        finally:
            self._pool.putconn(conn)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        return await _in_thread(lambda cut: self._fetch(cut, sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        return await _in_thread(lambda cut: self._execute(cut, sql, params))

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, pipelined, in one transaction."""
        await _in_thread(lambda cut: self._execute_many(cut, sql, rows))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Several statements in one transaction: committed when the block ends, rolled
        back when it raises (cancellation included)."""
        conn = await self._getconn()
        commit = False
        try:
            yield _ThreadTransaction(conn)
            commit = True
        finally:
            # Shielded: a cancelled caller must still end the transaction and give
            # the connection back; bounded, as a stalled server would hold it for
            # minutes (the connection is then cut, and the pool drops it).
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_WAIT):
                await _in_thread(lambda cut: self._finish(cut, conn, commit))

    async def _getconn(self) -> psycopg.Connection[Any]:
        """A connection of the pool's, waited for as long as the caller's scope allows.

        With every connection held (statements waiting on a stalled server),
        psycopg's getconn waits up to the pool's timeout (30 s): cancellation
        leaves that wait at once, and a connection it gets after the task left goes
        straight back to the pool.
        """
        lock = threading.Lock()
        left = False
        got: list[psycopg.Connection[Any]] = []

        def get() -> psycopg.Connection[Any]:
            conn = self._pool.getconn()
            with lock:
                if not left:
                    got.append(conn)
                    return conn
            self._pool.putconn(conn)  # unused: the pool takes it back as it is
            raise psycopg.OperationalError("the caller stopped waiting for a connection")

        try:
            return await anyio.to_thread.run_sync(get, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with lock:
                left = True
                # handed over just as the task was cancelled: nobody will use it
                unused = got[:1]
            if unused:
                await _returned(self._pool, unused[0])
            raise

    async def check(self) -> None:
        """Test the pool's idle connections; drop the broken ones (the pool opens new ones)."""
        await anyio.to_thread.run_sync(self._pool.check)

    async def close(self) -> None:
        """Close every connection."""
        await anyio.to_thread.run_sync(self._pool.close)


# -- the async driver ------------------------------------------------------------------


class _AsyncTransaction:
    """A :class:`Transaction` on an asyncio connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        cur = await self._conn.execute(sql, params)
        return await cur.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def copy(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``COPY ... FROM STDIN`` with ``rows``."""
        async with self._conn.cursor() as cur, cur.copy(sql) as stream:
            for row in rows:
                await stream.write_row(row)


class AsyncDriver:
    """psycopg's async pool: no threads, asyncio only."""

    def __init__(
        self, conninfo: str, kwargs: Mapping[str, Any], min_size: int, max_size: int
    ) -> None:
        self._pool = psycopg_pool.AsyncConnectionPool(
            conninfo,
            kwargs=dict(kwargs),
            min_size=min_size,
            max_size=max_size,
            open=False,
            name="relaykit",
        )

    async def open(self) -> None:
        """Open the pool."""
        await self._pool.open(wait=True, timeout=10)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        async with self._pool.connection() as conn:
            return await _AsyncTransaction(conn).fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        async with self._pool.connection() as conn:
            return await _AsyncTransaction(conn).execute(sql, params)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, pipelined, in one transaction."""
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Several statements in one transaction: committed when the block ends, rolled
        back when it raises (cancellation included)."""
        conn = await self._pool.getconn()
        commit = False
        try:
            yield _AsyncTransaction(conn)
            commit = True
        finally:
            # Shielded: under a cancelled scope every await would raise again.
            with anyio.CancelScope(shield=True):
                await self._finish(conn, commit)

    async def _finish(self, conn: psycopg.AsyncConnection[Any], commit: bool) -> None:
        # Bounded, as ThreadDriver's: against a stalled server the commit or rollback
        # would wait for minutes, shielded, holding the call log's close past its
        # close_timeout for ever. Then the connection is closed, which the pool drops.
        try:
            with anyio.move_on_after(FINISH_WAIT) as finishing:
                if commit:
                    await conn.commit()
                else:
                    with contextlib.suppress(psycopg.Error):  # see ThreadDriver._finish
                        await conn.rollback()
            if finishing.cancelled_caught:
                await conn.close()
                if commit:  # not known to be stored: the caller must not count it so
                    raise psycopg.OperationalError(
                        f"the commit got no answer within {FINISH_WAIT:g} s"
                    )
        finally:
            await self._pool.putconn(conn)

    async def check(self) -> None:
        """Test the pool's idle connections; drop the broken ones (the pool opens new ones)."""
        await self._pool.check()

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close()


def connect_sync(conninfo: str, kwargs: Mapping[str, Any]) -> psycopg.Connection[Any]:
    """One plain connection (for migrations, whichever driver serves the rest)."""
    return psycopg.connect(conninfo, **kwargs)
