"""``client.models()``: provider model listings, cached with a TTL in memory and in storage.

Two layers: a per-client dict (no I/O at all), then, when storage is
configured, the storage's model cache, so a new process (a CLI run, a
worker) skips the provider round trip while another process's listing is
fresher than ``[registry] ttl``. Storage entries carry wall-clock times
because monotonic clocks mean nothing across processes.

A listing that fails while an older one is cached (in either layer, however
stale) serves the stale one: a provider's flaky ``/models`` endpoint should
not break an app that only wants to show a picker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from .errors import ProviderUnavailableError, RelayError
from .protocols import CachedModels, Storage
from .provider_registry import ProviderRegistry
from .response import ModelInfo
from .routing import Target
from .transport_errors import map_transport_error

log = logging.getLogger("relaykit.models")


class ModelCatalog:
    """Model listings per provider, refreshed at most every ``ttl`` seconds.

    ``storage`` (optional) is the shared second layer; ``clock`` times the
    memory layer and ``wall_clock`` the storage layer.
    """

    def __init__(
        self,
        registry: ProviderRegistry,
        *,
        ttl: float,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._ttl = ttl
        # Storages written against the first, smaller protocol have no model cache.
        self._storage = storage if hasattr(storage, "cached_models") else None
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def models(
        self, provider: str | None = None, *, refresh: bool = False
    ) -> list[ModelInfo]:
        """Every model of ``provider``, or of every usable provider when ``None``.

        Listing every provider is best effort: one that fails is logged and
        skipped, because keyless local presets (lmstudio, vllm, ...) count as
        usable and are usually not running. Ask for one provider to get its error.
        """
        if provider:
            return await self._listing(provider, refresh)
        out: list[ModelInfo] = []
        for name in self._registry.names():
            try:
                out.extend(await self._listing(name, refresh))
            except RelayError as e:
                unreachable = isinstance(e, ProviderUnavailableError) and e.status is None
                level = logging.INFO if unreachable else logging.WARNING
                log.log(level, "skipped the models of %s: %s", name, e)
        return out

    async def _listing(self, name: str, refresh: bool) -> list[ModelInfo]:
        lock = self._locks.setdefault(name, anyio.Lock())
        async with lock:  # one fetch per provider at a time; the rest reuse it
            cached = self._cache.get(name)
            if cached and not refresh and self._clock() - cached[0] < self._ttl:
                return cached[1]
            # On refresh the stored entry only matters as a fallback, if memory has none.
            stored = None if refresh and cached else await self._stored(name)
            if stored is not None and not refresh:
                age = self._wall_clock() - stored.fetched_at
                if 0 <= age < self._ttl:
                    models = list(stored.models)
                    self._cache[name] = (self._clock() - age, models)
                    return models
            try:
                models = await self._fetch(name)
            except RelayError as e:
                stale = cached[1] if cached else list(stored.models) if stored else None
                if stale is None:
                    raise
                log.warning("listing models of %s failed (%s); serving the cached list", name, e)
                return stale
            self._cache[name] = (self._clock(), models)
            await self._store(CachedModels(name, self._wall_clock(), tuple(models)))
            return models

    async def _fetch(self, name: str) -> list[ModelInfo]:
        provider = self._registry.get(name)
        try:
            return await provider.list_models()
        except RelayError:
            raise
        except Exception as e:
            mapped = map_transport_error(e, Target(name, "*"))
            if mapped is None:
                raise
            raise mapped from e

    async def _stored(self, name: str) -> CachedModels | None:
        if self._storage is None:
            return None
        try:
            return await self._storage.cached_models(name)
        except Exception:
            # The storage layer is an optimisation: fall back to the provider.
            log.exception("could not read the stored model listing of %s", name)
            return None

    async def _store(self, entry: CachedModels) -> None:
        if self._storage is None:
            return
        try:
            await self._storage.cache_models(entry)
        except Exception:
            log.exception("could not store the model listing of %s", entry.provider)
