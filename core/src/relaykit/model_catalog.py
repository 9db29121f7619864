"""``client.models()``: provider model listings, cached with a TTL in memory and in storage.

Two layers: a per-client dict (no I/O at all), then, when storage is
configured, the storage's model cache, so a new process (a CLI run, a
worker) skips the provider round trip while another process's listing is
fresher than ``[registry] ttl``. Storage entries carry wall-clock times
because monotonic clocks mean nothing across processes.

A fresh listing in memory is returned without awaiting anything (no lock,
no trip through the event loop). A storage that keeps what it has read or
written in memory can say so with ``peek_cached_models(provider)``
(synchronous, no I/O): when that copy is fresh, a new client in the same
process skips the worker-thread hop a storage read costs.

A listing that fails while an older one is cached (in either layer, however
stale) serves the stale one: a provider's flaky ``/models`` endpoint should
not break an app that only wants to show a picker. The stale list is then
served for up to :data:`RETRY_FAILED_AFTER` seconds before the provider is
asked again, so a provider that times out does not slow every call down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from .errors import InvalidRequestError, ProviderUnavailableError, RelayError
from .fork_safety import after_fork_in_child
from .protocols import CachedModels, Storage
from .provider_registry import ProviderRegistry
from .response import ModelInfo
from .routing import Target
from .tls import name_ca_file
from .transport_errors import map_transport_error

log = logging.getLogger("relaykit.models")


#: seconds a stale listing is served after the provider failed, before asking again
RETRY_FAILED_AFTER = 10.0


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
        self._peek: Callable[[str], CachedModels | None] | None = getattr(
            self._storage, "peek_cached_models", None
        )
        self._clock = clock
        self._wall_clock = wall_clock
        #: provider -> (when it counts as fetched, on ``clock``; the listing)
        self._cache: dict[str, tuple[float, tuple[ModelInfo, ...]]] = {}
        self._locks: dict[str, anyio.Lock] = {}
        after_fork_in_child(self, ModelCatalog._forget_parent)

    def _forget_parent(self) -> None:
        # In a forked child: a lock held by a parent's task (a listing in flight at
        # the fork) would be held for good here, and every listing would wait on it.
        self._locks = {}

    async def models(
        self, provider: str | None = None, *, refresh: bool = False
    ) -> list[ModelInfo]:
        """Every model of ``provider``, or of every usable provider when ``None``.

        Listing every provider is best effort: one that fails is logged and
        skipped, because keyless local presets (lmstudio, vllm, ...) count as
        usable and are usually not running. Ask for one provider to get its error.
        """
        if provider is not None and not isinstance(provider, str):
            # True or a list reached difflib's did-you-mean, a TypeError
            raise InvalidRequestError(
                f"the provider name must be a string, not {type(provider).__name__}",
                param="provider",
                hint="models('openai'), or models() for every provider",
            )
        if provider:
            return list(await self._listing(provider, refresh))
        out: list[ModelInfo] = []
        for name in self._registry.names():
            try:
                out.extend(await self._listing(name, refresh))
            except RelayError as e:
                unreachable = isinstance(e, ProviderUnavailableError) and e.status is None
                level = logging.INFO if unreachable else logging.WARNING
                log.log(level, "skipped the models of %s: %s", name, e)
        return out

    def _fresh(self, name: str, refresh: bool) -> tuple[ModelInfo, ...] | None:
        """The listing of ``name`` if memory (or the storage's memory) holds a fresh one."""
        if refresh:
            return None
        cached = self._cache.get(name)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        if self._peek is not None:
            try:
                peeked = self._peek(name)
            except Exception:
                log.exception("could not peek at the stored model listing of %s", name)
                return None
            if peeked is not None:
                return self._remember_stored(name, peeked)
        return None

    def _remember_stored(self, name: str, stored: CachedModels) -> tuple[ModelInfo, ...] | None:
        """Keep a stored listing in memory, with the age it has; return it if fresh."""
        age = self._wall_clock() - stored.fetched_at
        if not 0 <= age < self._ttl:
            return None
        self._cache[name] = (self._clock() - age, stored.models)
        return stored.models

    async def _listing(self, name: str, refresh: bool) -> tuple[ModelInfo, ...]:
        fresh = self._fresh(name, refresh)
        if fresh is not None:
            return fresh  # without awaiting: no lock, no trip through the event loop
        lock = self._locks.setdefault(name, anyio.Lock())
        try:
            async with lock:  # one fetch per provider at a time; the rest reuse it
                return await self._listing_locked(name, refresh)
        finally:
            # A name with no listing to keep (a provider that does not exist: names come
            # from callers) does not keep its lock either, once no one waits on it
            if (
                name not in self._cache
                and not lock.locked()
                and not lock.statistics().tasks_waiting
                and self._locks.get(name) is lock
            ):
                del self._locks[name]

    async def _listing_locked(self, name: str, refresh: bool) -> tuple[ModelInfo, ...]:
        """:meth:`_listing`, holding ``name``'s lock."""
        fresh = self._fresh(name, refresh)
        if fresh is not None:
            return fresh
        cached = self._cache.get(name)
        # On refresh the stored entry only matters as a fallback, if memory has none.
        stored = None if refresh and cached else await self._stored(name)
        if stored is not None and not refresh:
            fresh = self._remember_stored(name, stored)
            if fresh is not None:
                return fresh
        try:
            models = tuple(await self._fetch(name))
        except RelayError as e:
            stale = cached[1] if cached else stored.models if stored else None
            if stale is None:
                raise
            log.warning("listing models of %s failed (%s); serving the cached list", name, e)
            # Fresh again for a short while, so the next calls do not wait on
            # the failing provider too.
            retry_in = min(self._ttl, RETRY_FAILED_AFTER)
            self._cache[name] = (self._clock() - self._ttl + retry_in, stale)
            return stale
        self._cache[name] = (self._clock(), models)
        await self._store(CachedModels(name, self._wall_clock(), models))
        return models

    async def _fetch(self, name: str) -> list[ModelInfo]:
        provider = self._registry.get(name)
        try:
            try:
                return await provider.list_models()
            except RelayError:
                raise
            except Exception as e:
                mapped = map_transport_error(e, Target(name, "*"))
                if mapped is None:
                    raise
                raise mapped from e
        except RelayError as error:
            # A server may quote our key back, whatever its shape (see known_secrets.py).
            self._registry.known_secrets.mask_error(error)
            name_ca_file(error, self._registry.ca_file)
            raise

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
