"""A write cancelled mid-statement, on the real server: its caller gets its cancellation.

The call log's writer is cancelled with the client's task group when a scope
around ``async with relaykit.Client()`` is cancelled, and ``[cache] timeout``
cancels cache operations: a cancelled statement must come out as the
cancellation (``move_on_after`` catches it, the writer hands its batch to the
close), not as a storage outage, and must leave the storage usable.
"""

from __future__ import annotations

import uuid

import anyio
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from relaykit.protocols import LogQuery
from relaykit.testing.storage_contract import make_record
from relaykit_postgres import PostgresStorage

pytestmark = pytest.mark.service("postgres")


def copying_backends(dsn: str, application_name: str) -> int:
    """How many connections named ``application_name`` wait for a lock in a COPY."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND wait_event_type = 'Lock' AND query LIKE 'COPY%%'",
            (application_name,),
        ).fetchone()  # type: ignore[misc]
    return int(count)


@pytest.mark.anyio
async def test_a_write_cancelled_mid_statement_raises_its_cancellation_and_stores_on_retry(
    postgres_dsn: str, fresh_schema: str
) -> None:
    name = f"relaykit-cancel-{uuid.uuid4().hex[:8]}"
    # The thread driver (the only one under trio), whose statements run in worker
    # threads that cancellation leaves, cutting their connection's socket.
    storage = PostgresStorage(
        make_conninfo(postgres_dsn, application_name=name), schema=fresh_schema, driver="thread"
    )
    batch = [make_record(i, id=f"r{i}") for i in range(3)]
    try:
        await storage.write_batch([make_record(0, id="before")])  # migrated, the pool open
        with psycopg.connect(postgres_dsn) as blocker:
            # The write's COPY waits for this lock: cancelled surely mid-statement.
            blocker.execute(f'LOCK TABLE "{fresh_schema}".logs IN ACCESS EXCLUSIVE MODE')
            with anyio.fail_after(10), anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def cancel_once_it_waits() -> None:
                        # (polled: the server's state, no event of ours, says when)
                        while not await anyio.to_thread.run_sync(  # noqa: ASYNC110
                            copying_backends, postgres_dsn, name
                        ):
                            await anyio.sleep(0.01)
                        scope.cancel()

                    tg.start_soon(cancel_once_it_waits)
                    await storage.write_batch(batch)
            blocker.rollback()
        assert scope.cancelled_caught, "the cancellation came out of the write as itself"
        # Handed over again, as the call log does with a batch its writer was cut off in.
        await storage.write_batch(batch)
        stored = [r.id for r in await storage.query_logs(LogQuery(limit=10))]
        assert sorted(stored) == ["before", "r0", "r1", "r2"]
    finally:
        await storage.aclose()
