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

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio
import attrs
import psycopg
import psycopg_pool


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

    async def copy_in(self, copy: Copy, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``copy.before``, COPY ``rows`` in, run ``copy.after``: one transaction."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


@attrs.frozen
class Copy:
    """A ``COPY ... FROM STDIN`` with the statements around it."""

    sql: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


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

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        with self._pool.connection() as conn:
            return conn.execute(sql, params).rowcount

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(sql, rows)

    def _copy_in(self, copy: Copy, rows: Sequence[Sequence[Any]]) -> None:
        with self._pool.connection() as conn, conn.cursor() as cur:
            for sql in copy.before:
                cur.execute(sql)
            with cur.copy(copy.sql) as stream:
                for row in rows:
                    stream.write_row(row)
            for sql in copy.after:
                cur.execute(sql)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        return await anyio.to_thread.run_sync(self._fetch, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        return await anyio.to_thread.run_sync(self._execute, sql, params)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, pipelined, in one transaction."""
        await anyio.to_thread.run_sync(self._execute_many, sql, rows)

    async def copy_in(self, copy: Copy, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``copy.before``, COPY ``rows`` in, run ``copy.after``: one transaction."""
        await anyio.to_thread.run_sync(self._copy_in, copy, rows)

    async def close(self) -> None:
        """Close every connection."""
        await anyio.to_thread.run_sync(self._pool.close)


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
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it affected."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row, pipelined, in one transaction."""
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(sql, rows)

    async def copy_in(self, copy: Copy, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``copy.before``, COPY ``rows`` in, run ``copy.after``: one transaction."""
        async with self._pool.connection() as conn, conn.cursor() as cur:
            for sql in copy.before:
                await cur.execute(sql)
            async with cur.copy(copy.sql) as stream:
                for row in rows:
                    await stream.write_row(row)
            for sql in copy.after:
                await cur.execute(sql)

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close()


def connect_sync(conninfo: str, kwargs: Mapping[str, Any]) -> psycopg.Connection[Any]:
    """One plain connection (for migrations, whichever driver serves the rest)."""
    return psycopg.connect(conninfo, **kwargs)
