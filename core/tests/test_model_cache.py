"""client.models(): memory first, then the storage's model cache, then the provider."""

from __future__ import annotations

import time

import anyio
import pytest

import relaykit
from relaykit.model_catalog import RETRY_FAILED_AFTER, ModelCatalog
from relaykit.protocols import CachedModels
from relaykit.response import ModelInfo
from relaykit.testing import FakePlugin, MemoryStorage
from relaykit.testing.fake_provider import FakeProvider

CONFIG = {"storage": {"backend": "memory"}, "providers": {"fake": {}}, "registry": {"ttl": 60}}


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts provider listings; a listing of 'fail' in it makes the next one fail."""
    calls: list[str] = []
    original = FakeProvider.list_models

    async def counting(self: FakeProvider) -> list[ModelInfo]:
        calls.append(self.settings.name)
        if "fail" in calls[:-1]:
            raise relaykit.ProviderUnavailableError("models endpoint down", provider="fake")
        return await original(self)

    monkeypatch.setattr(FakeProvider, "list_models", counting)
    return calls


def client(storage: MemoryStorage, **config: object) -> relaykit.Client:
    return relaykit.Client({**CONFIG, **config}, plugins=[FakePlugin(), storage.plugin()])


@pytest.mark.anyio
async def test_a_second_process_reads_the_listing_from_storage(listings: list[str]) -> None:
    storage = MemoryStorage()
    async with client(storage) as first:
        models = await first.models("fake")
    assert listings == ["fake"]
    assert storage.models["fake"].models == tuple(models)
    async with client(storage) as second:  # a new process: empty memory, shared storage
        assert await second.models("fake") == models
        assert await second.models() == models
    assert listings == ["fake"]


@pytest.mark.anyio
async def test_an_expired_stored_listing_is_refetched(listings: list[str]) -> None:
    storage = MemoryStorage()
    old = CachedModels("fake", time.time() - 61, (ModelInfo("old-model", "fake"),))
    storage.models["fake"] = old
    async with client(storage) as c:
        assert [m.id for m in await c.models("fake")] == ["fake-model"]
    assert listings == ["fake"]
    assert storage.models["fake"].fetched_at > old.fetched_at


@pytest.mark.anyio
async def test_a_stale_stored_listing_is_served_when_the_provider_fails(
    listings: list[str],
) -> None:
    storage = MemoryStorage()
    storage.models["fake"] = CachedModels("fake", time.time() - 3600, (ModelInfo("old", "fake"),))
    listings.append("fail")
    async with client(storage) as c:
        assert [m.id for m in await c.models("fake")] == ["old"]
    storage.models.clear()
    async with client(storage) as c:
        with pytest.raises(relaykit.ProviderUnavailableError):
            await c.models("fake")


@pytest.mark.anyio
async def test_refresh_skips_both_caches(listings: list[str]) -> None:
    storage = MemoryStorage()
    async with client(storage) as c:
        await c.models("fake")
        await c.models("fake", refresh=True)
    assert listings == ["fake", "fake"]


@pytest.mark.anyio
async def test_a_broken_model_cache_falls_back_to_the_provider(
    listings: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(MemoryStorage):
        async def cached_models(self, provider: str) -> CachedModels | None:
            raise OSError("disk on fire")

        async def cache_models(self, entry: CachedModels) -> None:
            raise OSError("disk on fire")

    async with client(Broken()) as c:
        assert [m.id for m in await c.models("fake")] == ["fake-model"]
    assert "could not read the stored model listing" in caplog.text


@pytest.mark.anyio
async def test_a_fresh_listing_in_memory_is_served_without_a_checkpoint(
    listings: list[str],
) -> None:
    async with client(MemoryStorage()) as c:
        models = await c.models("fake")
        with anyio.CancelScope() as scope:
            scope.cancel()  # any trip through the event loop would raise here
            assert await c.models("fake") == models
            assert await c.models() == models
        assert not scope.cancelled_caught
    assert listings == ["fake"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def catalog(c: relaykit.Client, storage: MemoryStorage | None, clock: Clock) -> ModelCatalog:
    return ModelCatalog(c._registry, ttl=60, storage=storage, clock=clock, wall_clock=clock)


@pytest.mark.anyio
async def test_an_expired_memory_listing_is_served_when_the_provider_fails_then_retried_later(
    listings: list[str],
) -> None:
    clock = Clock()
    async with client(MemoryStorage()) as c:
        models = catalog(c, None, clock)
        first = await models.models("fake")
        listings.append("fail")  # every listing from now on fails
        clock.now += 61
        assert await models.models("fake") == first
        assert listings == ["fake", "fail", "fake"]
        # The failure is remembered for a while: no second request to a failing provider...
        clock.now += RETRY_FAILED_AFTER - 1
        assert await models.models("fake") == first
        assert listings == ["fake", "fail", "fake"]
        # ...then it is asked again (and fails again: still the stale list).
        clock.now += 2
        assert await models.models("fake") == first
        assert listings == ["fake", "fail", "fake", "fake"]
        # Refresh asks at once, and with nothing cached the error surfaces.
        assert await models.models("fake", refresh=True) == first
        with pytest.raises(relaykit.ProviderUnavailableError):
            await catalog(c, None, clock).models("fake")


class Peeking(MemoryStorage):
    """A storage that also keeps what it has seen in memory, counting real reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def cached_models(self, provider: str) -> CachedModels | None:
        self.reads += 1
        return await super().cached_models(provider)

    def peek_cached_models(self, provider: str) -> CachedModels | None:
        return self.models.get(provider)


@pytest.mark.anyio
async def test_a_fresh_listing_the_storage_holds_in_memory_skips_the_storage_read(
    listings: list[str],
) -> None:
    clock = Clock()
    storage = Peeking()
    async with client(storage) as c:
        listed = await catalog(c, storage, clock).models("fake")
        reads = storage.reads
        # A new client in the same process: served from the storage's memory.
        assert await catalog(c, storage, clock).models("fake") == listed
        assert storage.reads == reads
        assert listings == ["fake"]
        # Once that copy is too old, the storage is read (another process may
        # have stored a newer listing), then the provider asked.
        clock.now += 61
        assert await catalog(c, storage, clock).models("fake") == listed
        assert storage.reads == reads + 1
        assert listings == ["fake", "fake"]
