"""The server drops the storage's connections while calls are logging: nothing is lost.

``pg_terminate_backend`` ends every connection of the storage's pool (found by
their ``application_name``, so other tests' connections are left alone) while
tasks keep logging records. PostgresStorage says a broken connection is
StorageUnavailableError, the call log retries the batch on a new one, and
afterwards every record is stored exactly once (a batch whose commit was lost
with its connection is retried, and ``ON CONFLICT`` keeps it once).
"""

from __future__ import annotations

import uuid

import anyio
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from relaykit.call_log import CallLog
from relaykit.testing.storage_contract import make_record
from relaykit_postgres import PostgresStorage

pytestmark = pytest.mark.service("postgres")

WRITERS, PER_ROUND, ROUNDS = 4, 10, 3


def terminate(dsn: str, application_name: str) -> int:
    """End every connection named ``application_name``; return how many there were."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return len(rows)


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

    async def writer(first: int) -> None:
        for n in range(first, first + PER_ROUND):
            record = make_record(n)
            written.append(record)
            await log.put(record)
            await anyio.sleep(0.002)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            log.start(tg)
            for round_ in range(ROUNDS):
                async with anyio.create_task_group() as writers:
                    for w in range(WRITERS):
                        writers.start_soon(writer, 1000 * (round_ + 1) + 100 * w)
                    await anyio.sleep(0.01)  # mid-run: records queued and being written
                    killed += await anyio.to_thread.run_sync(terminate, postgres_dsn, name)
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
