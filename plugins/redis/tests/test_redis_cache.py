"""The Redis response cache against the real Redis here: shared by clients and processes,
expired by Redis itself, and never the reason a call fails or waits."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ConfigError
from relaykit.config import load_config
from relaykit.events import TextDelta
from relaykit.testing import (
    CacheStoreContract,
    FakePlugin,
    Reply,
    mock_vector,
    require_service,
)
from relaykit_redis import RedisClient, RedisResponseCache
from relaykit_redis.plugin import relaykit_response_cache
from relaykit_redis.resp import RedisError

URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from anything real
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's entries."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    return f"test-{uuid.uuid4().hex[:12]}"


def settings(prefix: str, **cache: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "cache": {"enabled": True, "backend": "redis", "url": URL, "prefix": prefix, **cache},
    }


async def keys(prefix: str) -> list[bytes]:
    """The cache's keys under ``prefix``, read straight from Redis."""
    redis = RedisClient(URL)
    try:
        found = await redis.command("KEYS", f"{prefix}:cache:*")
    finally:
        await redis.aclose()
    assert isinstance(found, list)
    return sorted(found)


class TestRedisResponseCache(CacheStoreContract):
    @pytest.fixture
    async def cache_store(self, prefix: str) -> AsyncIterator[RedisResponseCache]:
        store = RedisResponseCache(URL, prefix=prefix)
        yield store
        await store.aclose()


@pytest.mark.anyio
async def test_relaykit_response_cache_gives_two_clients_one_cache(prefix: str) -> None:
    first, second = FakePlugin(), FakePlugin()
    first.script.push(Reply(text="computed once", input_tokens=5, output_tokens=3))
    async with relaykit.Client(settings(prefix), plugins=[first]) as a:
        original = await a.chat("fake/m", "2+2?", temperature=0)
        # the second client asks while the first is still open: its write is already there
        async with relaykit.Client(settings(prefix), plugins=[second]) as b:
            again = await b.chat("fake/m", "2+2?", temperature=0, metadata={"user": "x"})
    assert (original.cache_hit, again.cache_hit) == (False, True)
    assert (again.text, again.usage, again.cost) == ("computed once", original.usage, Decimal(0))
    assert not second.calls
    assert len(await keys(prefix)) == 1


HIT_ELSEWHERE = textwrap.dedent(
    """
    import sys
    import anyio
    import relaykit
    from relaykit.testing import FakePlugin, Reply

    url, prefix, backend = sys.argv[1:4]

    async def main():
        fake = FakePlugin()
        fake.script.push(Reply(text="answered in another process"))
        config = {
            "storage": {"backend": "none"},
            "cache": {"enabled": True, "backend": "redis", "url": url, "prefix": prefix},
        }
        async with relaykit.Client(config, plugins=[fake]) as client:
            r = await client.chat("fake/m", "shared?", temperature=0)
        print(r.cache_hit, len(fake.calls))

    anyio.run(main, backend=backend)
    """
)


def test_a_process_is_answered_from_what_another_process_cached(prefix: str) -> None:
    """Another interpreter (under trio) asks first; this one (asyncio) gets its answer."""
    done = subprocess.run(
        [sys.executable, "-c", HIT_ELSEWHERE, URL, prefix, "trio"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1"]

    async def here() -> relaykit.ChatResponse:
        fake = FakePlugin()
        async with relaykit.Client(settings(prefix), plugins=[fake]) as client:
            r = await client.chat("fake/m", "shared?", temperature=0)
        assert not fake.calls
        return r

    r = anyio.run(here, backend="asyncio")
    assert r.cache_hit and r.text == "answered in another process"


@pytest.mark.anyio
async def test_redis_expires_entries_itself(prefix: str) -> None:
    fake = FakePlugin()
    async with relaykit.Client(settings(prefix, ttl=0.03), plugins=[fake]) as client:
        await client.chat("fake/m", "short-lived", temperature=0)
    async with relaykit.Client(settings(prefix, ttl=3600), plugins=[fake]) as client:
        await client.chat("fake/m", "long-lived", temperature=0)
    await anyio.sleep(0.04)  # past the short one's expiry, however fast the above was
    # Nothing of ours deletes entries: the short one is gone because Redis dropped it.
    [left] = await keys(prefix)
    redis = RedisClient(URL)
    try:
        ttl = await redis.command("PTTL", left)
    finally:
        await redis.aclose()
    assert isinstance(ttl, int) and 3_500_000 < ttl <= 3_600_000
    async with relaykit.Client(settings(prefix, ttl=3600), plugins=[fake]) as client:
        gone = await client.chat("fake/m", "short-lived", temperature=0)
        kept = await client.chat("fake/m", "long-lived", temperature=0)
    assert (gone.cache_hit, kept.cache_hit) == (False, True)
    assert len(fake.calls) == 3


@pytest.mark.anyio
async def test_only_deterministic_requests_are_cached_unless_told_otherwise(prefix: str) -> None:
    fake = FakePlugin()
    async with relaykit.Client(settings(prefix), plugins=[fake]) as client:
        await client.chat("fake/m", "sampled")
        await client.chat("fake/m", "asked not to", temperature=0, cache=False)
        assert await keys(prefix) == []
        await client.chat("fake/m", "seeded", seed=3)
        await client.chat("fake/m", "cold", temperature=0)
    assert len(await keys(prefix)) == 2
    everything = settings(prefix, deterministic_only=False)
    async with relaykit.Client(everything, plugins=[fake]) as client:
        await client.chat("fake/m", "sampled")
    async with relaykit.Client(everything, plugins=[fake]) as client:
        assert (await client.chat("fake/m", "sampled")).cache_hit
    assert len(await keys(prefix)) == 3


@pytest.mark.anyio
async def test_the_embeddings_cache_keeps_each_texts_vector_in_redis(prefix: str) -> None:
    first, second = FakePlugin(), FakePlugin()
    async with relaykit.Client(settings(prefix), plugins=[first]) as client:
        await client.embed("fake/emb-1", ["kept", "also kept"])
    async with relaykit.Client(settings(prefix), plugins=[second]) as client:
        r = await client.embed("fake/emb-1", ["new", "kept", "also kept"])
    assert r.vectors == (mock_vector("new"), mock_vector("kept"), mock_vector("also kept"))
    assert r.usage.input_tokens == 1  # only the new text was sent
    assert [e.inputs for e in second.embeddings] == [("new",)]
    assert len(await keys(prefix)) == 3


@pytest.mark.anyio
async def test_a_prefix_keeps_two_apps_apart(prefix: str) -> None:
    one, other = FakePlugin(), FakePlugin()
    async with relaykit.Client(settings(f"{prefix}-one"), plugins=[one]) as client:
        await client.chat("fake/m", "same question", temperature=0)
    async with relaykit.Client(settings(f"{prefix}-other"), plugins=[other]) as client:
        theirs = await client.chat("fake/m", "same question", temperature=0)
    async with relaykit.Client(settings(f"{prefix}-one"), plugins=[one]) as client:
        ours = await client.chat("fake/m", "same question", temperature=0)
    assert (theirs.cache_hit, ours.cache_hit) == (False, True)
    assert (len(one.calls), len(other.calls)) == (1, 1)


@pytest.mark.anyio
async def test_a_redis_that_is_down_leaves_calls_answered_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakePlugin()
    down = settings("down", url="redis://:hunter2-not-shown@127.0.0.1:1/0")
    caplog.set_level(logging.WARNING, logger="relaykit.cache")
    async with relaykit.Client(down, plugins=[fake]) as client:
        answers = [await client.chat("fake/m", f"q{i}", temperature=0) for i in range(3)]
        async with client.stream("fake/m", "streamed", temperature=0) as s:
            text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
        vectors = await client.embed("fake/emb-1", ["one", "two"])
        errors = client.cache_errors
    assert [a.text for a in answers] == ["echo: q0", "echo: q1", "echo: q2"]
    assert text == "echo: streamed" and len(vectors.vectors) == 2
    assert errors >= 5  # every lookup and write missed, counted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "store (redis) failed" in warnings[0]
    assert "Redis at 127.0.0.1:1: " in warnings[0]  # which one, without its password
    assert "hunter2" not in caplog.text


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # never accepted: the kernel completes connections, nothing replies
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.mark.anyio
async def test_a_redis_that_does_not_answer_holds_a_call_no_longer_than_the_timeout(
    silent_server: str,
) -> None:
    fake = FakePlugin()
    slow = settings("slow", url=silent_server, timeout=0.03)
    async with relaykit.Client(slow, plugins=[fake]) as client:
        started = time.monotonic()
        first = await client.chat("fake/m", "one", temperature=0)
        waited = time.monotonic() - started
        started = time.monotonic()
        second = await client.chat("fake/m", "two", temperature=0)  # left alone for a while
        after = time.monotonic() - started
        assert client.cache_errors >= 3
    assert (first.text, second.text) == ("echo: one", "echo: two")
    assert 0.025 <= waited < 0.5 and after < 0.02


@pytest.mark.anyio
async def test_a_store_operation_that_fails_says_which_redis(
    silent_server: str, prefix: str
) -> None:
    silent = RedisResponseCache(silent_server, timeout=0.03)
    started = time.monotonic()
    with pytest.raises((TimeoutError, ConnectionError), match=r"Redis at 127\.0\.0\.1:\d+"):
        await silent.cached_response("k")
    assert time.monotonic() - started < 0.5
    await silent.aclose()
    store = RedisResponseCache(URL, prefix=prefix)
    try:
        await store.redis.command("RPUSH", f"{prefix}:cache:a-list", "x")  # GET refuses a list
        with pytest.raises(RedisError, match=r"Redis at 127\.0\.0\.1:6379: WRONGTYPE"):
            await store.cached_response("a-list")
        assert await store.cached_response("nothing") is None  # the connection is fine
    finally:
        await store.redis.command("DEL", f"{prefix}:cache:a-list")
        await store.aclose()


@pytest.mark.anyio
async def test_a_cached_answer_replays_as_a_stream_and_a_streamed_one_is_cached(
    prefix: str,
) -> None:
    first, second = FakePlugin(), FakePlugin()
    first.script.push(Reply(text="cached words " * 10), Reply(text="streamed once"))
    async with relaykit.Client(settings(prefix), plugins=[first]) as client:
        original = await client.chat("fake/m", "hi", seed=1)
        async with client.stream("fake/m", "stream me", seed=1) as s:
            async for _ in s:
                pass
    async with relaykit.Client(settings(prefix), plugins=[second]) as client:
        async with client.stream("fake/m", "hi", seed=1) as replayed:
            deltas = [e.text async for e in replayed if isinstance(e, TextDelta)]
        streamed = await client.chat("fake/m", "stream me", seed=1)
    assert "".join(deltas) == original.text and replayed.response.cache_hit
    assert streamed.cache_hit and streamed.text == "streamed once"
    assert not second.calls


@pytest.mark.anyio
async def test_closing_the_client_drains_the_writes_on_their_way(prefix: str) -> None:
    fake = FakePlugin()
    client = relaykit.Client(settings(prefix), plugins=[fake])
    async with client:
        await client.embed("fake/emb-1", [f"text {i}" for i in range(50)])
        store = client._own_cache_store
        assert isinstance(store, RedisResponseCache)
    assert len(await keys(prefix)) == 50
    assert store.redis.pipelines() == []  # closed


@pytest.mark.anyio
async def test_entries_too_large_are_not_stored(prefix: str) -> None:
    store = RedisResponseCache(URL, prefix=prefix, max_value_bytes=1000)
    try:
        await store.cache_responses([("small", 2e9, "x" * 100), ("large", 2e9, "x" * 1000)])
        assert set(await store.cached_responses(["small", "large"])) == {"small"}
        assert store.skipped == 1
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_a_write_redis_refuses_is_counted_and_logged_once(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisResponseCache(URL, prefix=prefix)
    caplog.set_level(logging.WARNING, logger="relaykit.cache")
    try:
        # SET takes any key of any type: a SET without its value is one Redis refuses.
        await store.redis.post([("SET", "only-a-key"), ("SET", "again")], store._refused)
        assert await store.cached_response("nothing") is None  # reads the refusals on its way
        assert store.refused == 2
        assert caplog.text.count("Redis refused to store a cached response") == 1
    finally:
        await store.aclose()


def test_the_url_and_prefix_fall_back_to_the_limiters_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def store(config: dict[str, Any]) -> RedisResponseCache:
        made = relaykit_response_cache(name="redis", config=load_config(config, env={}))
        assert isinstance(made, RedisResponseCache)
        return made

    own = store({"cache": {"url": "redis://cache.internal:6380/2", "prefix": "app"}})
    assert (own.redis.host, own.redis.port, own.redis.db, own.prefix) == (
        "cache.internal",
        6380,
        2,
        "app",
    )
    shared = store({"limiter": {"url": "redis://limits.internal/3", "prefix": "shop"}})
    assert (shared.redis.host, shared.redis.db, shared.prefix) == ("limits.internal", 3, "shop")
    monkeypatch.setenv("RELAYKIT_REDIS_URL", "redis://from-env:6390/0")
    default = store({})
    assert (default.redis.host, default.redis.port) == ("from-env", 6390)
    assert default.prefix == "relaykit"
    assert default.timeout == 0.5
    assert default.max_value_bytes == 512 * 1024
    assert store({"cache": {"max_entry_bytes": 2**20}}).max_value_bytes == 2**20
    assert relaykit_response_cache(name="memcached", config=load_config({}, env={})) is None


def test_a_misspelt_backend_suggests_redis() -> None:
    with pytest.raises(ConfigError, match="did you mean 'redis'"):
        relaykit.Client({"storage": {"backend": "none"}, "cache": {"backend": "rediss"}})


@pytest.mark.anyio
async def test_an_answer_holding_a_lone_surrogate_is_kept_and_the_store_stays_in_use(
    prefix: str,
) -> None:
    # Half an emoji in an answer (a vendor's JSON may escape one alone): the stored
    # JSON could not be encoded as UTF-8, the write failed as if Redis were down,
    # and the store was left alone, every lookup meanwhile a miss.
    fake = FakePlugin()
    fake.script.push(Reply(text="cut \ud83d"), Reply(text="whole"))
    async with relaykit.Client(settings(prefix), plugins=[fake]) as client:
        await client.chat("fake/m", "half", temperature=0)
        await client.chat("fake/m", "whole", temperature=0)
        errors = client.cache_errors
    async with relaykit.Client(settings(prefix), plugins=[fake]) as other:
        half = await other.chat("fake/m", "half", temperature=0)
        whole = await other.chat("fake/m", "whole", temperature=0)
    assert errors == 0
    assert (half.cache_hit, half.text) == (True, "cut \ud83d")
    assert (whole.cache_hit, whole.text) == (True, "whole")
    assert len(fake.calls) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("ttl", [float("inf"), 1e300], ids=["inf", "beyond-redis"])
async def test_a_ttl_beyond_what_redis_takes_keeps_answers_without_expiry(
    prefix: str, ttl: float
) -> None:
    # [cache] ttl takes any number >= 0, inf too. Its PX overflowed (inf: every write
    # raised, and each failure left the store alone, lookups too) or Redis refused it
    # (out of its range): nothing was ever cached. Kept without an expiry instead.
    fake = FakePlugin()
    for _ in range(2):
        async with relaykit.Client(settings(prefix, ttl=ttl), plugins=[fake]) as client:
            answer = await client.chat("fake/m", "forever", temperature=0)
            assert client.cache_errors == 0
    assert answer.cache_hit and len(fake.calls) == 1
    redis = RedisClient(URL)
    try:
        (key,) = await keys(prefix)
        assert await redis.command("PTTL", key) == -1  # no expiry
    finally:
        await redis.aclose()
