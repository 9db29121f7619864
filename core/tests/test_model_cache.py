"""client.models(): memory first, then the storage's model cache, then the provider."""

from __future__ import annotations

import time

import pytest

import relaykit
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
