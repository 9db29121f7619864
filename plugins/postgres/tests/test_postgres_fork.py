"""A PostgreSQL storage used before ``fork()`` (gunicorn --preload, multiprocessing):
the child opens a pool of its own, never one of the parent's connections."""

from __future__ import annotations

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from relaykit.protocols import LogQuery
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit.testing.storage_contract import make_record
from relaykit_postgres import PostgresStorage


@needs_fork
@pytest.mark.parametrize(("backend", "driver"), [("asyncio", "async"), ("trio", "thread")])
def test_a_child_writes_and_reads_on_connections_of_its_own(
    postgres_dsn: str, fresh_schema: str, backend: str, driver: str
) -> None:
    storage = PostgresStorage(
        postgres_dsn,
        schema=fresh_schema,
        driver=driver,  # type: ignore[arg-type]
        max_size=2,
    )
    first, second = make_record(0), make_record(1)
    # The parent's loop keeps running (a SyncClient's loop thread, say) while the child works.
    with start_blocking_portal(backend) as portal:
        portal.call(storage.write_batch, [first])

        async def in_child() -> None:
            with anyio.fail_after(5):
                await storage.write_batch([second])
                found = await storage.query_logs(LogQuery())
                await storage.aclose()
            assert {r.id for r in found} == {first.id, second.id}

        in_forked_child(lambda: anyio.run(in_child, backend=backend))
        # The parent's pool still works: no connection of it was used by the child.
        found = portal.call(storage.query_logs, LogQuery())
        assert {r.id for r in found} == {first.id, second.id}
        portal.call(storage.aclose)
