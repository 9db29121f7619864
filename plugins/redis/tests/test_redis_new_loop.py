"""A Redis limiter or cache used from several event loops (two ``anyio.run`` calls, a
blocking portal's loop beside the main thread's): each loop keeps a connection of its
own while it runs; a finished loop's is closed once another loop comes, and aclose
closes every one, on its own loop where that loop runs: none is left for the garbage
collector."""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from relaykit.config import LimitConfig
from relaykit.testing import require_service
from relaykit_redis import RedisClient, RedisRateLimiter, RedisResponseCache

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
BACKENDS = ["asyncio", "trio"]


@pytest.fixture
def prefix() -> str:
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def no_resource_warnings() -> Iterator[None]:
    """Fails the test if a socket was finalized unclosed (checked after a full collection)."""
    # Another test's garbage first, its warnings not this test's: a failed test's
    # client, finalized in this one's collection, failed it (CI: a fork test's
    # ChildHung left its connection open).
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


Use = tuple[RedisRateLimiter | RedisResponseCache, Callable[[], Awaitable[object]]]


def limiter_use(prefix: str) -> Use:
    limiter = RedisRateLimiter(URL, prefix=prefix, timeout=2)
    return limiter, lambda: limiter.acquire("k", LimitConfig(rpm=100), 1)


def cache_use(prefix: str) -> Use:
    cache = RedisResponseCache(URL, prefix=prefix, timeout=2)
    return cache, lambda: cache.cached_response("nothing-here")


USES = [limiter_use, cache_use]


@pytest.mark.usefixtures("no_resource_warnings")
@pytest.mark.parametrize("first", BACKENDS)
@pytest.mark.parametrize("then", BACKENDS)
@pytest.mark.parametrize("use", USES, ids=["limiter", "cache"])
def test_a_second_anyio_run_closes_the_first_runs_connection(
    prefix: str,
    first: str,
    then: str,
    use: Callable[[str], Use],
) -> None:
    owner, call = use(prefix)

    async def once() -> None:
        await call()

    async def again_and_close() -> None:
        await call()
        await owner.aclose()

    anyio.run(once, backend=first)
    (first_pipeline,) = owner.redis.pipelines()
    anyio.run(call, backend=then)  # the first run has finished: its connection is closed
    assert first_pipeline.broken is not None  # closed, not only dropped
    assert first_pipeline._conn._sock.fileno() == -1
    assert len(owner.redis.pipelines()) == 1
    anyio.run(again_and_close, backend=then)
    assert owner.redis.pipelines() == []
    del first_pipeline  # (the fixture's collection must find nothing unclosed)


@pytest.mark.usefixtures("no_resource_warnings")
@pytest.mark.parametrize("first", BACKENDS)
@pytest.mark.parametrize("then", BACKENDS)
def test_a_loop_still_running_has_its_connection_closed_on_itself(
    prefix: str, first: str, then: str
) -> None:
    """The first loop runs on (a blocking portal's thread): its connection is closed
    there, and a task of it waiting on that connection is woken with an error."""
    redis = RedisClient(URL, connect_timeout=2, reply_timeout=2)
    with start_blocking_portal(first) as portal:
        assert portal.call(redis.command, "PING") == b"PONG"
        (first_pipeline,) = redis.pipelines()

        async def in_second_loop() -> None:
            assert await redis.command("PING") == b"PONG"
            await redis.aclose()

        anyio.run(in_second_loop, backend=then)
        assert first_pipeline.broken is not None
        assert first_pipeline._conn._sock.fileno() == -1
        portal.call(anyio.sleep, 0)  # the first loop is still fine
        del first_pipeline


@pytest.mark.usefixtures("no_resource_warnings")
@pytest.mark.parametrize("backend", BACKENDS)
def test_closing_from_another_loop_closes_the_first_loops_connection(
    prefix: str, backend: str
) -> None:
    redis = RedisClient(URL, connect_timeout=2, reply_timeout=2)
    assert anyio.run(redis.command, "PING", backend=backend) == b"PONG"
    anyio.run(redis.aclose, backend=backend)


@pytest.mark.usefixtures("no_resource_warnings")
@pytest.mark.parametrize("first", BACKENDS)
@pytest.mark.parametrize("then", BACKENDS)
def test_two_running_loops_keep_a_connection_each(prefix: str, first: str, then: str) -> None:
    """A blocking portal's loop (a SyncClient's thread) and the main thread's, both
    running, use one client in turns: each keeps its own connection (the same Redis
    client id every time), and a command of the first waiting on Redis while the
    second starts is answered, not cut off."""
    redis = RedisClient(URL, connect_timeout=2, reply_timeout=3)
    with start_blocking_portal(first) as portal:
        first_id = portal.call(redis.command, "CLIENT", "ID")
        waiting = portal.start_task_soon(redis.command, "BLPOP", f"{prefix}:nothing", 1)

        async def in_second_loop() -> list[object]:
            with anyio.fail_after(5):  # (swapping connections between the loops hung here)
                return [await redis.command("CLIENT", "ID") for _ in range(2)]

        second_ids = anyio.run(in_second_loop, backend=then)
        assert waiting.result(timeout=5) is None  # BLPOP's answer once its second is up
        assert portal.call(redis.command, "CLIENT", "ID") == first_id
        assert anyio.run(in_second_loop, backend=then)[0] != first_id
        assert second_ids[0] == second_ids[1] != first_id
        portal.call(redis.aclose)


@pytest.mark.usefixtures("no_resource_warnings")
@pytest.mark.parametrize("then", BACKENDS)
def test_closing_the_connection_of_a_stopped_loop_does_not_wait_for_it(
    prefix: str, then: str
) -> None:
    """An asyncio loop stopped but not closed (run_until_complete returned) runs
    nothing that is handed to it: its connection is closed without it, at once."""
    redis = RedisClient(URL, connect_timeout=2, reply_timeout=2)
    stopped = asyncio.new_event_loop()
    try:
        assert stopped.run_until_complete(redis.command("PING")) == b"PONG"

        async def close_elsewhere() -> float:
            started = anyio.current_time()
            await redis.aclose()
            return anyio.current_time() - started

        assert anyio.run(close_elsewhere, backend=then) < 1
        assert stopped.run_until_complete(_open_connections(redis)) == 0
    finally:
        stopped.close()


async def _open_connections(redis: RedisClient) -> int:
    return sum(1 for pipeline in redis.pipelines() if pipeline.broken is None)
