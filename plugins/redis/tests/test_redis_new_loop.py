"""A Redis limiter or cache used from one event loop, then another (two ``anyio.run``
calls, a blocking portal's loop then the main thread's): the first loop's connection
is closed when the second opens its own, never left for the garbage collector."""

from __future__ import annotations

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
    first_pipeline = owner.redis._pipeline
    assert first_pipeline is not None
    anyio.run(again_and_close, backend=then)
    assert first_pipeline.broken is not None  # closed, not only dropped
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
        first_pipeline = redis._pipeline
        assert first_pipeline is not None

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
