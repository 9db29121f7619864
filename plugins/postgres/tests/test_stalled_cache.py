"""The storage's response cache in front of a PostgreSQL that stops answering.

A proxy (relaykit.testing.StallingProxy, on a thread of its own, so it runs the
same under either event loop) passes the storage's traffic to the real server
until it stalls: from then on every connection, old or new, stays open and
passes nothing, as a server that hangs (a network partition, a frozen host).
``[cache] timeout`` bounds each cache operation once the store has answered
one; the call must finish within it, uncached, with the failure counted, and
the client must close.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import relaykit
from relaykit import hookimpl
from relaykit.config import Config
from relaykit.gauge_events import CacheStoreError
from relaykit.protocols import CallRecord
from relaykit.testing import FakePlugin, RecordingExporter, Reply, StallingProxy
from relaykit_postgres import PostgresStorage
from relaykit_postgres.drivers import FINISH_WAIT, AsyncDriver, ThreadDriver

pytestmark = pytest.mark.service("postgres")

TIMEOUT = 0.3
CLOSE_TIMEOUT = 1.0
#: the proxy cuts its stalled connections this long after the stall: a regression
#: that waits on the stall for ever (shielded, or in a worker thread no scope can
#: cancel) then fails its timing assertions instead of hanging the suite
WATCHDOG = 20.0


class NotingStorage(PostgresStorage):
    """The PostgreSQL storage, telling when a batch of call records has been written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_written = anyio.Event()

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        await super().write_batch(records)
        self.batch_written.set()


class BehindProxy:
    """``[storage] backend = "behind-proxy"``: the PostgreSQL storage given."""

    def __init__(self, storage: PostgresStorage) -> None:
        self.storage = storage

    @hookimpl
    def relaykit_storage(self, name: str, config: Config) -> PostgresStorage | None:
        return self.storage if name == "behind-proxy" else None


@pytest.fixture
def proxy(postgres_dsn: str) -> Iterator[StallingProxy]:
    params = conninfo_to_dict(postgres_dsn)
    host = str(params.get("host") or "127.0.0.1")
    with StallingProxy(host, int(params.get("port") or 5432)) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["thread", "auto"])
async def test_a_stalled_server_costs_a_cached_call_the_cache_timeout_and_closing_never_hangs(
    postgres_dsn: str, fresh_schema: str, proxy: StallingProxy, driver: str, tmp_path: Path
) -> None:
    dsn = make_conninfo(postgres_dsn, host="127.0.0.1", port=proxy.port, connect_timeout=2)
    exporter = RecordingExporter()
    storage = NotingStorage(dsn, schema=fresh_schema, driver=driver)
    config = {
        # the call log's records wait for the stalled server this long, then are spilled
        "storage": {
            "backend": "behind-proxy",
            "close_timeout": CLOSE_TIMEOUT,
            "spill_path": str(tmp_path / "spilled.jsonl"),
        },
        "cache": {"enabled": True, "backend": "storage", "timeout": TIMEOUT},
    }
    fake = FakePlugin()
    client = relaykit.Client(config, plugins=[fake, exporter, BehindProxy(storage)])
    with anyio.fail_after(30):
        async with client:
            # The pool open, migrated, and the store marked as answering: the lookup
            # alone, under the first operation's longer bound. An answer cut at a
            # default length is not kept, so no write runs under [cache] timeout
            # before the stall (a slow one would be the first error, not the lookup).
            fake.script.push(Reply(text="warm", finish="length"))
            warm = await client.chat("fake/m", "warm", temperature=0)
            assert warm.text and client.cache_errors == 0
            # Its record written, client side too: a commit caught in flight by the
            # stall would hold the close FINISH_WAIT longer than the stalled call does.
            await storage.batch_written.wait()
            proxy.stall(cut_after=WATCHDOG)
            started = time.monotonic()
            answer = await client.chat("fake/m", "stalled", temperature=0)
            took = time.monotonic() - started
            assert answer.text
            assert took < TIMEOUT + 2.0, f"the call waited {took:.2f} s on the stalled cache"
            errors = [e for e in exporter.events if isinstance(e, CacheStoreError)]
            assert [e.operation for e in errors][:1] == ["get"], errors
            assert client.cache_errors >= 1
            closing = time.monotonic()
        closed_in = time.monotonic() - closing
    assert closed_in < CLOSE_TIMEOUT + 6, f"closing took {closed_in:.1f} s"
    spilled = (tmp_path / "spilled.jsonl").read_text().splitlines()
    assert len(spilled) >= 1  # the stalled call's record, kept for a later replay
    # the server itself was fine all along: the schema is there, reachable directly
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(f'SELECT 1 FROM "{fresh_schema}".logs LIMIT 1')


@pytest.mark.anyio
async def test_waiting_for_a_pooled_connection_ends_when_the_caller_is_cancelled(
    postgres_dsn: str,
) -> None:
    # Every connection held (by statements waiting on a stalled server, here by a
    # transaction left open): a transaction's wait for one used to sit in psycopg's
    # getconn for the pool's 30 s whatever the caller's scope said, holding the
    # call log's close past its close_timeout. The wait now ends with the scope, and
    # a connection the abandoned wait gets later goes back to the pool.
    driver = ThreadDriver(postgres_dsn, {}, min_size=1, max_size=1)
    await driver.open()
    try:
        async with driver.transaction() as held:
            await held.execute("SELECT 1")
            started = time.monotonic()
            with anyio.move_on_after(0.2) as scope:
                async with driver.transaction():
                    pytest.fail("the pool's only connection was handed out twice")
            assert scope.cancelled_caught
            assert time.monotonic() - started < 2.0
        with anyio.fail_after(10):  # the held connection is back, and nothing leaked
            async with driver.transaction() as again:
                assert await again.fetch("SELECT 2") == [(2,)]
    finally:
        await driver.close()


class TestAsyncDriverAgainstAStalledServer:
    """psycopg's async pool (asyncio only) when the server stalls inside a transaction."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        """psycopg's async API runs on asyncio only."""
        return "asyncio"

    @pytest.mark.anyio
    async def test_a_cancelled_transaction_ends_within_its_finish_wait(
        self, postgres_dsn: str, proxy: StallingProxy
    ) -> None:
        # A cancelled transaction's rollback runs shielded (it gives the connection
        # back); against a stalled server it waited for ever, so closing a client
        # never returned whatever its close_timeout (a `nox -s lowest` run hung so).
        dsn = make_conninfo(postgres_dsn, host="127.0.0.1", port=proxy.port, connect_timeout=2)
        driver = AsyncDriver(dsn, {}, min_size=1, max_size=1)
        await driver.open()
        try:
            with anyio.fail_after(WATCHDOG + 10):
                with anyio.move_on_after(0.3) as scope:
                    async with driver.transaction() as tx:
                        await tx.execute("SELECT 1")  # in a transaction now
                        proxy.stall(cut_after=WATCHDOG)
                        started = time.monotonic()
                        await anyio.sleep(10)  # cancelled here: the rollback meets the stall
                took = time.monotonic() - started
            assert scope.cancelled_caught
            assert took < FINISH_WAIT + 3, f"the cancelled transaction took {took:.1f} s to end"
        finally:
            with anyio.move_on_after(5):
                await driver.close()
