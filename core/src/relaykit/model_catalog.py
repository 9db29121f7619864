"""``client.models()``: provider model listings, cached in memory with a TTL.

A listing that fails while an older one is cached serves the stale one: a
provider's flaky ``/models`` endpoint should not break an app that only wants
to show a picker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from .errors import ProviderUnavailableError, RelayError
from .provider_registry import ProviderRegistry
from .response import ModelInfo
from .routing import Target
from .transport_errors import map_transport_error

log = logging.getLogger("relaykit.models")


class ModelCatalog:
    """Model listings per provider, refreshed at most every ``ttl`` seconds."""

    def __init__(
        self, registry: ProviderRegistry, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._registry = registry
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ModelInfo]:
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
            provider = self._registry.get(name)
            try:
                try:
                    models = await provider.list_models()
                except RelayError:
                    raise
                except Exception as e:
                    mapped = map_transport_error(e, Target(name, "*"))
                    if mapped is None:
                        raise
                    raise mapped from e
            except RelayError as e:
                if cached is None:
                    raise
                log.warning("listing models of %s failed (%s); serving the cached list", name, e)
                return cached[1]
            self._cache[name] = (self._clock(), models)
            return models
