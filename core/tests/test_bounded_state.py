"""A long-running client (a gateway, a worker making millions of calls) keeps what it
learns per deployment bounded: model ids come from callers, and each one a caller
makes up must not keep a breaker, a health entry or a parsed plan for the life of the
client. What still decides something (an open circuit, a failure counted, a call in
flight, a configured route's latencies) is kept."""

from __future__ import annotations

import gc
import tracemalloc

import anyio
import pytest

import relaykit
import relaykit.client
from relaykit import routing
from relaykit.embedding_cache import EmbeddingCache
from relaykit.testing import FakePlugin

from .conftest import client

pytestmark = pytest.mark.anyio

#: the forgetting threshold in these tests: small, so a few hundred calls pass it
CAP = 32


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "FORGET_FROM", CAP)
    monkeypatch.setattr(relaykit.client, "FORGET_FROM", CAP)


def per_deployment_sizes(c: relaykit.Client) -> dict[str, int]:
    """The sizes of everything the client keeps per deployment or model id."""
    return {
        "target_breakers": len(c._target_breakers),
        "breakers": len(c._breakers._breakers),
        "breaker_states": len(c._breaker_states),
        "health": len(c._router._health),
        "parsed": len(c._router._parsed),
    }


async def test_distinct_models_leave_per_deployment_state_bounded() -> None:
    fake = FakePlugin()
    async with client(fake, providers={"fake": {"type": "fake"}}) as c:
        for i in range(10 * CAP):
            await c.chat(f"fake/chat-{i}", "hi")
            async with c.stream(f"fake/stream-{i}", "hi") as s:
                async for _ in s:
                    pass
            fake.calls.clear()
        sizes = per_deployment_sizes(c)
    # 20 * CAP model ids went through; each structure forgot the idle ones on the way
    assert max(sizes.values()) <= CAP, sizes


async def test_forgetting_keeps_open_circuits_counted_failures_and_routes() -> None:
    fake = FakePlugin()
    settings = {
        "providers": {"fake": {"type": "fake"}},
        "retry": {"attempts": 1, "initial_wait": 0},
        "breaker": {"failures": 2, "reset_after": 3600},
        "models": {"pair": {"targets": ["fake/a", "fake/b"], "strategy": "latency"}},
    }
    async with client(fake, **settings) as c:
        await c.chat("pair", "hi")
        for model in ("fake/broken", "fake/broken", "fake/flaky"):
            fake.script.fail(503, "overloaded")
            with pytest.raises(relaykit.ProviderUnavailableError):
                await c.chat(model, "hi")
        for i in range(4 * CAP):
            await c.chat(f"fake/other-{i}", "hi")
        fake.calls.clear()
        with pytest.raises(relaykit.CircuitOpenError):  # still open, though idle
            await c.chat("fake/broken", "hi")
        flaky = c._target_breakers[routing.Target("fake", "flaky")]
        assert flaky.consecutive_failures == 1  # one more opens it, as without forgetting
        assert c._router._health[routing.Target("fake", "a")].latency is not None
        assert max(per_deployment_sizes(c).values()) <= 2 * CAP


async def test_a_call_in_flight_keeps_its_breaker() -> None:
    fake = FakePlugin()
    settings = {"providers": {"fake": {"type": "fake"}}, "retry": {"attempts": 1}}
    async with client(fake, **settings) as c:
        async with c.stream("fake/slow", "hi") as s:
            before = c._target_breakers[routing.Target("fake", "slow")]
            for i in range(4 * CAP):
                await c.chat(f"fake/other-{i}", "hi")
            async for _ in s:
                pass
        assert c._target_breakers[routing.Target("fake", "slow")] is before
        await anyio.lowlevel.checkpoint()


async def test_listing_models_of_providers_that_do_not_exist_keeps_nothing() -> None:
    fake = FakePlugin()
    async with client(fake, providers={"fake": {"type": "fake"}}) as c:
        await c.models("fake")
        for i in range(50):
            with pytest.raises(relaykit.ConfigError, match=f"nope-{i}"):
                await c.models(f"nope-{i}")
        assert set(c._catalog._locks) <= {"fake"}
        assert set(c._catalog._cache) == {"fake"}


async def test_tiny_vectors_hold_no_more_memory_than_the_embedding_cache_allows() -> None:
    cache = EmbeddingCache(max_bytes=64_000)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        # vectors of one dimension (dimensions=1 is a valid request): 8 bytes of numbers
        await cache.put_many([(f"key-{i:064}", (0.5,)) for i in range(1000)], 60)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # counted by their numbers alone, the 1000 held about 300 KB in a cache of 64 thousand
    assert held < 2 * 64_000, (held, len(cache))
