"""Expired response-cache rows are swept now and then, not on every cache write.

Every cache write (a flight of them: :mod:`relaykit_postgres.cache_batches`)
ran ``DELETE FROM response_cache WHERE expires_at <= now`` in its transaction
first: one more round trip per write, however rarely anything had expired. The
sweep now runs on a write at most every ``CACHE_SWEEP_INTERVAL`` seconds
(the first write of a storage object sweeps). An expired row left until then is
never served: the client checks a cached answer's ``expires_at`` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import anyio
import psycopg
import pytest

from relaykit_postgres import PostgresStorage
from relaykit_postgres.drivers import Driver, Transaction

pytestmark = pytest.mark.service("postgres")


class _LoggedTransaction:
    def __init__(self, tx: Transaction, log: list[str]) -> None:
        self._tx, self._log = tx, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._log.append(sql)
        return await self._tx.execute(sql, params)


class _LoggingDriver:
    """A driver noting each statement run in its transactions."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        @asynccontextmanager
        async def logged() -> AsyncIterator[Transaction]:
            async with self.driver.transaction() as tx:
                yield cast(Transaction, _LoggedTransaction(tx, self.statements))

        return logged()


class LoggingStorage(PostgresStorage):
    """The PostgreSQL storage, its transactions' statements noted."""

    logging: _LoggingDriver | None = None

    def _pick_driver(self) -> Driver:
        self.logging = _LoggingDriver(super()._pick_driver())
        return cast(Driver, self.logging)

    def deletes(self) -> int:
        assert self.logging is not None
        return sum(sql.startswith("DELETE FROM response_cache") for sql in self.logging.statements)


def _put_expired(dsn: str, schema: str, key: str) -> None:
    """A row that expired long ago, as another process might have left it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".response_cache (key, expires_at, response)'
            " VALUES (%s, 1.0, 'old')",
            (key,),
        )


def _keys(dsn: str, schema: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(f'SELECT key FROM "{schema}".response_cache').fetchall()
    return {key for (key,) in rows}


@pytest.mark.anyio
async def test_cache_writes_between_sweeps_run_no_delete(
    postgres_dsn: str, fresh_schema: str
) -> None:
    storage = LoggingStorage(postgres_dsn, schema=fresh_schema)
    try:
        await storage.cache_response("first", 4e9, "a")
        assert storage.deletes() == 1  # a new storage object sweeps at once
        _put_expired(postgres_dsn, fresh_schema, "stale")
        for i in range(20):
            await storage.cache_response(f"k{i}", 4e9, "v")
        await storage.cache_responses([("e1", 4e9, "x"), ("e2", 4e9, "y")])
        # no sweep is due (the interval is a minute): the writes ran no DELETE,
        # and the stale row waits for the next sweep (never served: expired)
        assert storage.deletes() == 1
        assert "stale" in _keys(postgres_dsn, fresh_schema)
        assert await storage.cached_response("k3") == (4e9, "v")
    finally:
        await storage.aclose()


class QuickSweeps(LoggingStorage):
    CACHE_SWEEP_INTERVAL = 0.2


@pytest.mark.anyio
async def test_a_write_after_the_sweep_interval_drops_expired_rows(
    postgres_dsn: str, fresh_schema: str
) -> None:
    storage = QuickSweeps(postgres_dsn, schema=fresh_schema)
    try:
        await storage.cache_response("first", 4e9, "a")
        _put_expired(postgres_dsn, fresh_schema, "stale")
        await storage.cache_response("soon", 4e9, "b")
        await anyio.sleep(0.3)  # at least the interval: the next write sweeps
        await storage.cache_response("later", 4e9, "c")
        keys = _keys(postgres_dsn, fresh_schema)
        assert "stale" not in keys
        assert {"first", "soon", "later"} <= keys
    finally:
        await storage.aclose()
