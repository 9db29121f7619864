"""A Redis client forked while its parent's event loop runs (a SyncClient's loop thread,
say): the child opens a connection of its own and leaves the parent's alone."""

from __future__ import annotations

import gc

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from relaykit.testing import require_service
from relaykit.testing.forking import in_forked_child, needs_fork
from relaykit_redis import RedisClient


@needs_fork
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_child_talks_to_redis_on_its_own_connection(backend: str) -> None:
    require_service("redis", "127.0.0.1", 6379, start="redis-server --daemonize yes")
    redis = RedisClient("redis://127.0.0.1:6379/15", reply_timeout=2)
    with start_blocking_portal(backend) as portal:
        assert portal.call(redis.command, "PING") == b"PONG"

        async def in_child() -> None:
            with anyio.fail_after(2):
                assert await redis.command("PING") == b"PONG"
                await redis.aclose()
            # Finalized here, the parent's connection would leave the epoll set the
            # parent's loop shares with this process (and the parent would hear nothing).
            gc.collect()

        try:
            in_forked_child(lambda: anyio.run(in_child, backend=backend))
            for _ in range(3):
                assert portal.call(redis.command, "PING") == b"PONG"
        finally:
            portal.call(redis.aclose)  # failed too: no socket left for another test's gc
