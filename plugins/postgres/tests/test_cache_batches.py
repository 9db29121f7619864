"""Response-cache lookups and writes waiting together go to PostgreSQL together.

A burst of cached calls made one round trip per lookup and per write, each
waiting for one of the pool's 8 connections: 85-195 of 500 writes at once ran
past ``[cache] timeout`` (``bench/cache_burst.py``) and the client counted the
store failed. Those waiting together now share a query or a transaction
(``relaykit_postgres.cache_batches``); each caller still gets its own answer,
its own error, and its own cancellation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import anyio
import psycopg
import pytest

from relaykit.cache_store import GuardedCacheStore
from relaykit.errors import RelayError, StorageUnavailableError
from relaykit_postgres import PostgresStorage
from relaykit_postgres.cache_batches import FLIGHTS
from relaykit_postgres.drivers import Driver, Transaction

pytestmark = pytest.mark.service("postgres")

BURST = 400


class CountingDriver:
    """A driver counting its round trips (a statement, or a transaction of them)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.round_trips = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.round_trips += 1
        return await self.driver.fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.round_trips += 1
        return await self.driver.execute(sql, params)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        self.round_trips += 1
        return self.driver.transaction()


class CountingStorage(PostgresStorage):
    """The PostgreSQL storage, its driver counting round trips."""

    counting: CountingDriver | None = None

    def _pick_driver(self) -> Driver:
        self.counting = CountingDriver(super()._pick_driver())
        return cast(Driver, self.counting)


class GatedStorage(PostgresStorage):
    """The PostgreSQL storage, each cache flight noted and held at a gate until it opens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate: anyio.Event | None = None
        #: the requests each flight carried, in the order the flights began
        self.flights: list[list[Sequence[Any]]] = []

    async def _look_up(self, requests: list[Sequence[str]]) -> list[dict[str, tuple[float, str]]]:
        await self._held(requests)
        return await super()._look_up(requests)

    async def _store(self, requests: list[Sequence[tuple[str, float, str]]]) -> list[None]:
        await self._held(requests)
        return await super()._store(requests)

    async def _held(self, requests: list[Sequence[Any]]) -> None:
        self.flights.append(list(requests))
        if self.gate is not None:
            await self.gate.wait()


@pytest.fixture
async def gated(postgres_dsn: str, fresh_schema: str) -> AsyncIterator[GatedStorage]:
    storage = GatedStorage(postgres_dsn, schema=fresh_schema)
    await storage.cache_response("warm", 4e9, "w")  # migrated, the pool open
    storage.flights.clear()
    storage.gate = anyio.Event()
    yield storage
    storage.gate.set()
    await storage.aclose()


def stored(dsn: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f'SELECT key, response FROM "{schema}".response_cache').fetchall()
    return dict(rows)


@pytest.mark.anyio
async def test_a_burst_of_cache_lookups_and_writes_takes_a_few_round_trips(
    postgres_dsn: str, fresh_schema: str
) -> None:
    # Through the client's guard ("auto": psycopg's async pool under asyncio, the
    # thread driver under trio). Before, 451-725 of these 1,200 operations ran past
    # the default [cache] timeout (0.5 s); the round trips say it on a machine of
    # any speed, so the bound here leaves room for a loaded CI (a few flights take
    # under 0.1 s on an idle one).
    storage = CountingStorage(postgres_dsn, schema=fresh_schema)
    guard = GuardedCacheStore(storage, "postgres", retry_after=0.0, timeout=2.0)
    try:
        await storage.cache_response("warm", 4e9, "w")
        assert storage.counting is not None
        before = storage.counting.round_trips
        async with anyio.create_task_group() as tg:
            for i in range(BURST):
                tg.start_soon(guard.cache_response, f"k{i}", 4e9, f"v{i}")
        found: dict[str, tuple[float, str] | None] = {}

        async def look(key: str) -> None:
            found[key] = await guard.cached_response(key)

        async with anyio.create_task_group() as tg:  # lookups, hits and misses, and writes
            for i in range(BURST):
                tg.start_soon(look, f"k{i}" if i % 2 else f"absent{i}")
                tg.start_soon(guard.cache_response, f"more{i}", 4e9, f"m{i}")
        round_trips = storage.counting.round_trips - before
        assert guard.errors == 0
        assert found == {
            **{f"k{i}": (4e9, f"v{i}") for i in range(1, BURST, 2)},
            **{f"absent{i}": None for i in range(0, BURST, 2)},
        }
        rows = stored(postgres_dsn, fresh_schema)
        assert len(rows) == 1 + 2 * BURST
        assert all(rows[f"k{i}"] == f"v{i}" and rows[f"more{i}"] == f"m{i}" for i in range(BURST))
        # one per operation, 3 * BURST, before; a few flights now
        assert round_trips <= 30, round_trips
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_a_cache_write_that_fails_in_a_flight_fails_alone(
    gated: GatedStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    # A key too big for the primary key's index (class 54: no retry stores it) fails
    # the transaction it shares; the flight then runs each request alone.
    too_big = "x" * 3000 + "".join(f"{i:08x}" for i in range(4000))
    keys = [f"k{i}" for i in range(12)]
    keys[7] = too_big
    errors: dict[str, BaseException] = {}

    async def write(key: str) -> None:
        try:
            await gated.cache_response(key, 4e9, "v")
        except Exception as e:
            errors[key] = e

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(write, key)
        await anyio.wait_all_tasks_blocked()
        assert [len(f) for f in gated.flights] == [1] * FLIGHTS  # the rest wait for these
        assert gated.gate is not None
        gated.gate.set()
    assert [len(f) for f in gated.flights][FLIGHTS] == len(keys) - FLIGHTS  # all together
    assert list(errors) == [too_big]
    assert type(errors[too_big]) is RelayError and "index row" in str(errors[too_big])
    assert sorted(stored(postgres_dsn, fresh_schema)) == sorted(["warm", *keys[:7], *keys[8:]])


@pytest.mark.anyio
async def test_a_cancelled_caller_running_a_flight_leaves_the_others_their_answers(
    gated: GatedStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    # The caller running a flight is cancelled (its [cache] timeout): the others'
    # writes and lookups in that flight go to another of their callers, and land.
    gate, gated.gate = gated.gate, None
    assert gate is not None
    await gated.cache_responses([("old", 4e9, "o")])
    gated.gate, gated.flights = gate, []
    scopes = [anyio.CancelScope() for _ in range(FLIGHTS + 1)]
    cancelled: list[int] = []
    found: dict[str, tuple[float, str] | None] = {}

    async def write(i: int, scope: anyio.CancelScope | None = None) -> None:
        with scope or anyio.CancelScope():
            await gated.cache_response(f"k{i}", 4e9, f"v{i}")
            return
        cancelled.append(i)

    async def look(key: str) -> None:
        found[key] = await gated.cached_response(key)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(FLIGHTS):  # these fly first, each alone, held at the gate
                tg.start_soon(write, i, scopes[i])
            await anyio.wait_all_tasks_blocked()
            lead = FLIGHTS
            for i in range(lead + 1, lead + 11):
                tg.start_soon(write, i)
            await anyio.wait_all_tasks_blocked()
            # queued last: it has the most time left, and runs the next flight
            tg.start_soon(write, lead, scopes[lead])
            for key in ("old", "absent"):
                tg.start_soon(look, key)
            await anyio.wait_all_tasks_blocked()
            flights = len(gated.flights)
            scopes[0].cancel()  # a flight's room: the lead runs the queued writes
            await anyio.wait_all_tasks_blocked()
            assert len(gated.flights) >= flights + 1
            assert [len(f) for f in gated.flights if len(f) > 1] == [11]
            scopes[lead].cancel()  # the lead goes: another caller runs its flight's others
            await anyio.wait_all_tasks_blocked()
            assert [len(f) for f in gated.flights if len(f) > 1] == [11, 10]
            gate.set()
    assert sorted(cancelled) == [0, lead]
    assert found == {"old": (4e9, "o"), "absent": None}
    want = {f"k{i}": f"v{i}" for i in range(1, lead + 11) if i != lead}
    rows = stored(postgres_dsn, fresh_schema)
    assert {key: rows[key] for key in want} == want
    assert f"k{lead}" not in rows and "k0" not in rows


@pytest.mark.anyio
async def test_closing_waits_for_queued_cache_writes(
    gated: GatedStorage, postgres_dsn: str, fresh_schema: str
) -> None:
    assert gated.gate is not None
    closed = anyio.Event()

    async def close() -> None:
        await gated.aclose()
        closed.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(gated.cache_response, f"k{i}", 4e9, "v")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(close)
            await anyio.wait_all_tasks_blocked()
            assert not closed.is_set()  # 20 writes in flight or queued: not closed under them
            gated.gate.set()
    assert closed.is_set()
    assert len(stored(postgres_dsn, fresh_schema)) == 21


@pytest.mark.anyio
async def test_a_server_that_is_not_there_fails_each_waiting_caller(fresh_schema: str) -> None:
    # Nothing listens on port 1: each lookup and write fails as it would alone.
    storage = PostgresStorage("host=127.0.0.1 port=1 dbname=test connect_timeout=2")
    errors: list[BaseException] = []

    async def each(op: Any, *args: Any) -> None:
        try:
            await op(*args)
        except RelayError as e:
            errors.append(e)

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(each, storage.cached_response, f"k{i}")
                    tg.start_soon(each, storage.cache_response, f"k{i}", 4e9, "v")
    finally:
        await storage.aclose()
    assert len(errors) == 20
    assert all(type(e) is StorageUnavailableError for e in errors)
    assert len({id(e) for e in errors}) == 20  # each caller its own error


def waiting_writes(dsn: str, application: str) -> int:
    """How many sessions named ``application`` wait for a lock in a cache write."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND wait_event_type = 'Lock' AND (query LIKE 'DELETE FROM response_cache%%'"
            " OR query LIKE 'INSERT INTO response_cache%%')",  # a write sweeps only now and then
            (application,),
        ).fetchone()  # type: ignore[misc]
    return int(count)


@pytest.mark.anyio
async def test_a_flight_cancelled_mid_statement_is_run_again_by_another_caller(
    postgres_dsn: str, fresh_schema: str
) -> None:
    # The same as above, on the server: the flights wait for a lock, and the caller
    # running one is cancelled inside its statement (the thread driver cuts its
    # connection; a cut session never commits). The others' writes land all the same.
    application = f"relaykit-{fresh_schema}"
    storage = PostgresStorage(
        f"{postgres_dsn} application_name={application}", schema=fresh_schema, driver="thread"
    )
    scopes = [anyio.CancelScope() for _ in range(12)]
    cancelled: list[int] = []

    async def write(i: int) -> None:
        with scopes[i]:
            await storage.cache_response(f"k{i}", 4e9, f"v{i}")
            return
        cancelled.append(i)

    async def until_waiting(count: int) -> None:
        while await anyio.to_thread.run_sync(waiting_writes, postgres_dsn, application) < count:  # noqa: ASYNC110
            await anyio.sleep(0.02)

    try:
        await storage.cache_response("warm", 4e9, "w")
        with psycopg.connect(postgres_dsn) as blocker, anyio.fail_after(30):
            blocker.execute(f'LOCK TABLE "{fresh_schema}".response_cache IN ACCESS EXCLUSIVE MODE')
            async with anyio.create_task_group() as tg:
                for i in range(FLIGHTS):  # these fly, one by one (trio starts tasks in any order)
                    tg.start_soon(write, i)
                    await until_waiting(i + 1)
                for i in range(FLIGHTS, 11):  # these queue
                    tg.start_soon(write, i)
                await anyio.wait_all_tasks_blocked()
                lead = 11
                tg.start_soon(write, lead)  # queued last: it runs the next flight
                await anyio.wait_all_tasks_blocked()
                scopes[0].cancel()  # mid-statement: the lead flies the queued writes
                await until_waiting(FLIGHTS + 1)
                scopes[lead].cancel()  # mid-statement: another caller flies them again
                await until_waiting(FLIGHTS + 2)
                blocker.rollback()  # the lock goes: every flight left runs
        assert sorted(cancelled) == [0, lead]
        rows = stored(postgres_dsn, fresh_schema)
        assert {key: rows.get(key) for key in rows if key != "warm"} == {
            f"k{i}": f"v{i}" for i in range(1, 11)
        }
    finally:
        await storage.aclose()
