"""The cache store contract suite: what every ``relaykit_response_cache`` store must do.

A store's test module subclasses :class:`CacheStoreContract` and supplies one
fixture, ``cache_store``, yielding a store (and closing it after)::

    class TestRedisCache(CacheStoreContract):
        @pytest.fixture
        async def cache_store(self):
            store = RedisResponseCache(URL, prefix=f"test-{uuid.uuid4().hex}")
            yield store
            await store.aclose()

Keys are random, so a store may share its database across tests. Every test
runs under asyncio and trio. Storage backends that keep the cache are checked
by the same functions (:class:`~relaykit.testing.StorageContract` calls them).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .._hookimpl import hookimpl
from ..client import Client
from ..config import Config
from .fake_provider import FakePlugin
from .script import Reply


async def check_round_trip(store: Any) -> None:
    """One entry written, replaced and read back; an expired one never disturbs another."""
    k1, k2 = uuid.uuid4().hex, uuid.uuid4().hex
    assert await store.cached_response(k1) is None
    await store.cache_response(k1, 2_000_000_000.0, '{"text": "hi"}')
    await store.cache_response(k1, 2_000_000_001.0, '{"text": "hi again"}')  # replaces
    assert await store.cached_response(k1) == (2_000_000_001.0, '{"text": "hi again"}')
    await store.cache_response(k2, 1.0, "{}")  # already expired: may be dropped any time
    assert await store.cached_response(k1) == (2_000_000_001.0, '{"text": "hi again"}')


async def check_many_at_once(store: Any) -> None:
    """Entries written and read many at a time: the last of a key given twice wins."""
    # More keys than one SQL statement should name; one given twice keeps its last.
    keys = [uuid.uuid4().hex for _ in range(1_200)]
    entries = [(k, 2_000_000_000.0 + i, f'{{"n": {i}}}') for i, k in enumerate(keys)]
    await store.cache_responses([*entries, (keys[0], 2_100_000_000.0, '{"n": "last"}')])
    missing = uuid.uuid4().hex
    found = await store.cached_responses([missing, *keys, keys[5]])
    assert len(found) == len(keys) and missing not in found
    assert found[keys[0]] == (2_100_000_000.0, '{"n": "last"}')
    assert found[keys[7]] == (2_000_000_007.0, '{"n": 7}')
    assert await store.cached_response(keys[9]) == found[keys[9]]  # one store for both
    assert await store.cached_responses([]) == {}
    await store.cache_responses([])


class _KeepOpen:
    """The store under test, left open when a client closes (the fixture closes it)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def aclose(self) -> None:
        pass


class _StorePlugin:
    __name__ = "cache-store-under-test"

    def __init__(self, store: Any) -> None:
        self._store = _KeepOpen(store)

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Config) -> Any:
        return self._store if name == "under-test" else None


class CacheStoreContract:
    """Tests every cache store passes. Subclass it and define the ``cache_store`` fixture."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every contract test runs under both backends, whatever the plugin's conftest says."""
        return str(request.param)

    @pytest.fixture
    def cache_store(self) -> Any:
        """A store; subclasses must override (and close it afterwards)."""
        raise NotImplementedError("define a `cache_store` fixture yielding a store")

    @pytest.mark.anyio
    async def test_an_entry_round_trips(self, cache_store: Any) -> None:
        await check_round_trip(cache_store)

    @pytest.mark.anyio
    async def test_entries_are_read_and_written_many_at_once(self, cache_store: Any) -> None:
        await check_many_at_once(cache_store)

    @pytest.mark.anyio
    async def test_a_second_client_is_answered_from_the_store(self, cache_store: Any) -> None:
        # Two clients, each with its own memory, as two processes would have.
        config = {
            "storage": {"backend": "none"},
            "cache": {"enabled": True, "backend": "under-test"},
        }
        first, second = FakePlugin(), FakePlugin()
        first.script.push(Reply(text="computed once", input_tokens=3, output_tokens=2))
        question = f"what is {uuid.uuid4().hex}?"  # a key no earlier run stored
        async with Client(config, plugins=[first, _StorePlugin(cache_store)]) as client:
            original = await client.chat("fake/m", question, temperature=0)
        async with Client(config, plugins=[second, _StorePlugin(cache_store)]) as client:
            again = await client.chat("fake/m", question, temperature=0)
            assert client.cache_errors == 0
        assert (original.cache_hit, again.cache_hit, again.text) == (False, True, "computed once")
        assert again.usage == original.usage and again.cost == 0
        assert not second.calls
