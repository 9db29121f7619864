"""The server drops the storage's connections while calls are logging: nothing is lost.

``pg_terminate_backend`` ends every connection of the storage's pool (found by
their ``application_name``, so other tests' connections are left alone) while
tasks keep logging records. PostgresStorage says a broken connection is
StorageUnavailableError, the call log retries the batch on a new one, and
afterwards every record is stored exactly once (a batch whose commit was lost
with its connection is retried, and ``ON CONFLICT`` keeps it once).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from relaykit.call_log import CallLog
from relaykit.testing import StallingProxy
from relaykit.testing.storage_contract import make_record
from relaykit_postgres import PostgresStorage

pytestmark = pytest.mark.service("postgres")

WRITERS, PER_ROUND, ROUNDS = 4, 10, 3


def terminate(dsn: str, application_name: str, signalled: set[int]) -> int:
    """End every connection named ``application_name`` but those already ``signalled``
    (whose pids it adds there); return how many there were."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # (in the select list, not the WHERE: there it could run before the filters)
        rows = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> ALL(%s)",
            (application_name, sorted(signalled)),
        ).fetchall()
    killed = {pid for pid, done in rows if done}
    signalled.update(killed)
    return len(killed)


@pytest.mark.anyio
async def test_connections_killed_mid_run_lose_no_record_and_store_none_twice(
    postgres_dsn: str, fresh_schema: str
) -> None:
    name = f"relaykit-outage-{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(
        make_conninfo(postgres_dsn, application_name=name), schema=fresh_schema
    )
    await storage.write_batch([make_record(0)])  # migrated, the pool open
    log = CallLog(storage, max_queue=16, max_batch=8, retry_for=10, initial_wait=0.02, max_wait=0.2)
    written = [make_record(0)]  # a new id each call: the warm-up's is read back below
    killed = 0
    signalled: set[int] = set()

    async def writer(first: int) -> None:
        for n in range(first, first + PER_ROUND):
            record = make_record(n)
            written.append(record)
            await log.put(record)
            await anyio.sleep(0.002)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            log.start(tg)
            for round_ in range(ROUNDS):
                async with anyio.create_task_group() as writers:
                    for w in range(WRITERS):
                        writers.start_soon(writer, 1000 * (round_ + 1) + 100 * w)
                    await anyio.sleep(0.01)  # mid-run: records queued and being written
                    # (once the writer has reconnected since the last round's kill: on a
                    # loaded machine a round found none connected yet, killing nothing)
                    killed += await anyio.to_thread.run_sync(
                        partial(
                            terminate_and_wait,
                            postgres_dsn,
                            name,
                            at_least=1,
                            until_gone=False,
                            signalled=signalled,
                        )
                    )
            await log.aclose()

    assert killed >= ROUNDS  # the storage's connections really went, each round
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(f'SELECT id FROM "{fresh_schema}".logs').fetchall()
    stored = [row_id for (row_id,) in rows]
    assert len(stored) == len(set(stored))  # none twice
    expected = {r.id for r in written[1:]}
    assert expected <= set(stored) and len(stored) == len(expected) + 1  # + the warm-up
    assert log.failed_writes >= 1  # the outage did hit the writer
    assert (log.spilled, log.lost) == (0, 0)


def terminate_and_wait(
    dsn: str,
    application_name: str,
    *,
    at_least: int = 0,
    until_gone: bool = True,
    signalled: set[int] | None = None,
) -> int:
    """:func:`terminate`, then wait until those backends have exited (the signal is
    asynchronous: a query sent at once could still reach a live one).

    ``at_least``: first wait (up to 10 s) until that many are connected: a pool
    refills to its ``min_size`` in the background, slowly on a loaded machine.
    ``until_gone=False``: return once they are signalled (writers reconnect at once).
    ``signalled``: the pids an earlier call signalled, neither waited for nor counted
    again (a backend signalled but not yet gone is still listed, for a moment or,
    on a loaded machine, for longer: taken for a new connection, it was "killed"
    twice while the one the pool opened since was not).
    """
    signalled = set() if signalled is None else signalled
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(1000):
            (connected,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND pid <> ALL(%s)",
                (application_name, sorted(signalled)),
            ).fetchone()  # type: ignore[misc]
            if connected >= at_least:
                break
            time.sleep(0.01)
    killed = terminate(dsn, application_name, signalled)
    if not until_gone:
        return killed
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(500):
            (left,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchone()  # type: ignore[misc]
            if not left:
                break
            time.sleep(0.01)
    return killed


@pytest.mark.anyio
async def test_reads_after_the_server_dropped_the_idle_connections_succeed(
    postgres_dsn: str, fresh_schema: str
) -> None:
    # What a server restart (or failover, or idle_session_timeout) leaves: every
    # idle connection in the pool is dead, and the pool does not know until used.
    name = f"relaykit-idle-{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(
        make_conninfo(postgres_dsn, application_name=name), schema=fresh_schema, min_size=3
    )
    try:
        record = make_record(1)
        await storage.write_batch([record])
        await storage.vault_put({"key": b"sealed"})
        await storage.cache_response("k", time.time() + 60, '{"text": "hi"}')
        reads: list[tuple[Callable[[], Awaitable[Any]], Any]] = [
            (storage.vault_items, {"key": b"sealed"}),
            (lambda: storage.cached_response("k"), '{"text": "hi"}'),
            (storage.query_logs, [record]),
            (lambda: storage.cached_responses(["k", "x"]), ["k"]),
        ]
        for read, expected in reads:
            killed = await anyio.to_thread.run_sync(
                partial(terminate_and_wait, postgres_dsn, name, at_least=2)
            )
            assert killed >= 2  # (min_size: several idle ones, each dead now)
            got = await read()
            if isinstance(got, tuple):  # (expires_at, response)
                got = got[1]
            elif isinstance(got, dict) and "k" in got:  # {key: (expires_at, response)}
                got = list(got)
            assert got == expected
        killed = await anyio.to_thread.run_sync(terminate_and_wait, postgres_dsn, name)
        await storage.cache_response("k2", time.time() + 60, "{}")  # a write, the same
        assert await storage.cached_response("k2") is not None
    finally:
        await storage.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("driver", ["thread", "auto"])
async def test_a_server_that_stops_answering_mid_burst_holds_no_caller_and_loses_no_record(
    postgres_dsn: str, fresh_schema: str, driver: str, tmp_path: Path
) -> None:
    # A partition: the server's connections stay open and answer nothing, no error.
    params = conninfo_to_dict(postgres_dsn)
    with StallingProxy(
        str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    ) as proxy:
        dsn = make_conninfo(postgres_dsn, host="127.0.0.1", port=proxy.port, connect_timeout=2)
        storage = PostgresStorage(dsn, schema=fresh_schema, driver=driver)  # type: ignore[arg-type]
        await storage.write_batch([make_record(0)])  # migrated, the pool open
        spill_path = tmp_path / "spill.jsonl"
        log = CallLog(
            storage,
            max_queue=10,
            max_batch=5,
            retry_for=0.3,
            initial_wait=0.02,
            max_wait=0.2,
            spill_path=spill_path,
        )
        records = [make_record(n) for n in range(1, 81)]
        slowest = 0.0
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                log.start(tg)
                proxy.stall(cut_after=15)  # (a watchdog: a hang fails, not hangs, the test)
                for record in records:  # far more than the queue holds
                    began = time.monotonic()
                    await log.put(record)
                    slowest = max(slowest, time.monotonic() - began)
                    await anyio.sleep(0.005)
                assert log.spilled > 0
                proxy.resume()
                while log.replayed < log.spilled:  # noqa: ASYNC110  # a counter, no event
                    await anyio.sleep(0.02)
                await log.aclose()
    # A caller waits for room at most while the writer still retries (retry_for),
    # and a try of the stalled server is bounded too: never for the stall's length.
    assert slowest < 3.0, f"a caller waited {slowest:.1f} s for the stalled storage"
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(f'SELECT id FROM "{fresh_schema}".logs').fetchall()
    stored = [row_id for (row_id,) in rows]
    assert len(stored) == len(set(stored)) == len(records) + 1  # none lost, none twice
    assert {r.id for r in records} <= set(stored)
    assert log.lost == 0
    assert not spill_path.exists()
