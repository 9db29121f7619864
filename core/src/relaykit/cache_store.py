"""The store behind the response and embeddings caches: which one, and its failures kept harmless.

``[cache] backend`` picks it: ``"storage"`` (the default: the storage
backend's own cache, when it keeps one), ``"memory"`` (none: the in-memory
LRU alone), or a store a plugin offers through ``relaykit_response_cache``
(relaykit-redis: ``"redis"``). Whichever it is, the client reaches it through
a :class:`GuardedCacheStore`: a cache exists to save calls, so a store that
fails must never fail one, nor one that hangs stall one (each operation is
bounded). Its errors and overruns become misses and skipped writes,
logged once per outage and counted (``Client.cache_errors``, and the
``relaykit.cache.errors`` metric by operation, get or put).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import anyio

from .config import BUILT_IN_CACHE_BACKENDS, Config
from .config_tables import missing_backend_hint
from .errors import ConfigError
from .plugin_faults import first_result
from .plugins import PluginManager
from .protocols import CacheStore, Storage
from .secrets import describe_error

log = logging.getLogger("relaykit.cache")

#: the backends the core provides itself; any other name is asked of the plugins
BUILT_IN = BUILT_IN_CACHE_BACKENDS

#: seconds the client leaves a store alone after it failed: calls meanwhile are
#: misses at once, rather than each waiting for a store that is not answering
RETRY_AFTER = 1.0

#: seconds a store's operations take at most when the client is not told
#: (``[cache] timeout``'s default)
TIMEOUT = 0.5

#: seconds the first operation may take, before the store has answered once: it
#: may open the store (create and migrate a SQLite file, connect to PostgreSQL
#: or Redis), which takes longer once. Finite, so a store that never answers
#: stalls one wave of calls this long at most, not every call for ever.
OPEN_TIMEOUT = 5.0

#: what a store was asked to do: look entries up, or write them
Operation = Literal["get", "put"]

_T = TypeVar("_T")


def open_cache_store(
    config: Config, pm: PluginManager, storage: Storage | None
) -> CacheStore | None:
    """The store ``[cache] backend`` names, or ``None`` for the in-memory LRU alone.

    ``"storage"`` is ``storage`` when it keeps cached responses (else ``None``);
    a name no plugin answers to is a :class:`ConfigError` naming those there are.
    """
    backend = config.cache.backend
    if backend == "memory":
        return None
    timeout = config.cache.timeout
    if not 0 < timeout < math.inf:  # NaN too: every store is bounded (GuardedCacheStore)
        raise ConfigError(
            f"config key cache.timeout must be a positive number, not {timeout!r}",
            hint="the seconds one lookup or write may take before it counts as a miss, e.g. 0.5",
        )
    if backend == "storage":
        from .response_cache import StorageCache

        if storage is None or not StorageCache.supported_by(storage):
            return None
        prefix = config.cache.prefix
        return PrefixedStore(storage, prefix) if prefix else storage  # type: ignore[return-value]
    store: CacheStore | None = first_result(
        pm,
        "relaykit_response_cache",
        # the batch methods are optional: without them each key is its own round trip
        needs=("cached_response", "cache_response"),
        name=backend,
        config=config,
    )[1]
    if store is None:
        offered = sorted(
            impl.plugin_name for impl in pm.hook.relaykit_response_cache.get_hookimpls()
        )
        choices = [*BUILT_IN, *offered]
        known = ", ".join(repr(c) for c in choices)
        raise ConfigError(
            f"no plugin provides the cache backend {backend!r}",
            hint=missing_backend_hint(
                "cache", backend, choices, f"use one of {known}", not_loaded=pm.not_loaded
            ),
        )
    return store


class PrefixedStore:
    """A storage backend's cache with each key filed under ``prefix`` (``[cache] prefix``).

    The SQL storage keeps one cache table for every application sharing its
    database, as Redis keeps one keyspace; relaykit-redis puts the prefix in its
    key names, and this does the same for the storage's cache, so that two
    applications (or two configurations giving one provider name different
    endpoints) keep their answers and vectors apart. A key stays a hex SHA-256,
    the store's kind of key: that of the prefix, a newline, then the client's key.
    Without a prefix the storage is used as it is, its keys the client's own.
    """

    def __init__(self, store: Any, prefix: str) -> None:
        self.store = store
        self._head = prefix.encode() + b"\n"

    def _key(self, key: str) -> str:
        return hashlib.sha256(self._head + key.encode()).hexdigest()

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """The store's entry for ``key`` under the prefix."""
        row: tuple[float, str] | None = await self.store.cached_response(self._key(key))
        return row

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store one entry under the prefix."""
        await self.store.cache_response(self._key(key), expires_at, response)

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """The store's entries for ``keys`` under the prefix, by the client's keys."""
        named = {self._key(key): key for key in keys}
        many = getattr(self.store, "cached_responses", None)
        if many is not None:
            rows: dict[str, tuple[float, str]] = await many(list(named))
        else:  # a storage backend may keep only the single-entry methods
            rows = {}
            for name in named:
                row = await self.store.cached_response(name)
                if row is not None:
                    rows[name] = row
        return {named[name]: row for name, row in rows.items() if name in named}

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store each entry under the prefix."""
        renamed = [(self._key(key), expires_at, response) for key, expires_at, response in entries]
        many = getattr(self.store, "cache_responses", None)
        if many is not None:
            await many(renamed)
        else:
            for entry in renamed:
                await self.store.cache_response(*entry)


class GuardedCacheStore:
    """``store``, with its failures turned into misses and skipped writes.

    An exception from the store (a timeout it raised, a dropped connection, a
    locked database) makes a lookup find nothing and a write do nothing. The
    first failure of an outage is logged as a WARNING, the recovery as INFO,
    and every failure in between is counted in :attr:`errors`, not logged.
    After a failure the store is left alone for ``retry_after`` seconds (each
    call then a miss at once, also counted), so an unreachable store costs one
    call its timeout, not every call. Cancellation passes through.

    ``on_error(operation)`` is told of each one counted, ``"get"`` for a
    lookup and ``"put"`` for a write (the client sends exporters a
    :class:`~relaykit.gauge_events.CacheStoreError`); it must not raise.

    Every operation is bounded, whoever wrote the store: a cache must never
    stall a call, and a plugin's store that hangs (a half-open connection, a
    driver waiting on a lock) would otherwise hang every call, and the write
    after an answer runs shielded from the caller's cancellation. ``timeout``
    (the client's ``[cache] timeout``) bounds each operation once the store
    has answered one; until then one may take ``open_timeout`` (at least
    ``timeout``; :data:`OPEN_TIMEOUT` unless given), since the first opens the
    store (creates and migrates a SQLite file, connects to PostgreSQL or
    Redis). An operation that takes longer is cancelled and counts as a
    failure, as does one that answers only after its bound (a store that
    shields its waits or blocks a worker thread holds the call until it
    returns; the failure then rests the store, so the calls after it do not
    wait too). A first operation that times out spends the longer bound: a
    store that never answers costs one wave of calls ``open_timeout``, then
    ``timeout`` once every ``retry_after`` seconds.
    """

    def __init__(
        self,
        store: CacheStore,
        name: str,
        *,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Operation], None] | None = None,
        timeout: float = TIMEOUT,
        open_timeout: float | None = None,
    ) -> None:
        self.store = store
        self._timeout = timeout
        # read here, not bound as a default: a test shortens the module's
        self._open_timeout = max(timeout, OPEN_TIMEOUT if open_timeout is None else open_timeout)
        #: the store has answered once (or failed to open within ``open_timeout``):
        #: ``timeout`` bounds the next operation
        self._open = False
        self._name = name
        self._retry_after = retry_after
        self._clock = clock
        self._on_error = on_error
        #: lookups and writes that failed or were skipped (each a miss or a lost write)
        self.errors = 0
        self._failing = False
        self._errors_before = 0  # errors counted before this outage began
        self._resting_until = 0.0

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """The store's entry for ``key``; ``None`` also when the store failed."""
        return await self._guarded("get", lambda: self.store.cached_response(key), None)

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store one entry; a failure is logged and counted, not raised."""
        await self._guarded(
            "put", lambda: self.store.cache_response(key, expires_at, response), None
        )

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """The store's entries for ``keys`` (at once when it can); none when it failed."""

        async def look_up() -> dict[str, tuple[float, str]]:
            many = getattr(self.store, "cached_responses", None)
            if many is not None:
                return await many(keys)  # type: ignore[no-any-return]
            # a storage backend may keep only the single-entry methods
            rows: dict[str, tuple[float, str]] = {}
            for key in keys:
                row = await self.store.cached_response(key)
                if row is not None:
                    rows[key] = row
            return rows

        return await self._guarded("get", look_up, {})

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store each entry (at once when the store can); a failure is logged and counted."""

        async def write() -> None:
            many = getattr(self.store, "cache_responses", None)
            if many is not None:
                await many(entries)
            else:
                for entry in entries:
                    await self.store.cache_response(*entry)

        await self._guarded("put", write, None)

    async def _guarded(
        self, operation: Operation, work: Callable[[], Awaitable[_T]], missed: _T
    ) -> _T:
        """What ``work()`` returns, within its bound; ``missed`` (a miss, a skipped write)
        when the store is resting, fails, or answers past its bound."""
        if self._resting(operation):
            return missed
        result = missed
        try:
            with self._bounded() as scope:
                result = await work()
        except Exception as e:
            self._failed(operation, e)
            return missed
        slow = self._overran(scope)
        if slow is not None:
            self._failed(operation, slow)
            return missed
        self._answered()
        return result

    def _bounded(self) -> anyio.CancelScope:
        """A scope ending the operation after ``timeout`` seconds (``open_timeout``
        before the store has answered once)."""
        return anyio.move_on_after(self._timeout if self._open else self._open_timeout)

    def _overran(self, scope: anyio.CancelScope) -> TimeoutError | None:
        """The failure of an operation that ran past its bound (cancelled there, or
        answering after it: a store that shields its wait, or waits on a worker
        thread); ``None`` for one within it."""
        if not scope.cancelled_caught and anyio.current_time() < scope.deadline:
            return None
        if self._open:
            return TimeoutError(f"no answer within [cache] timeout ({self._timeout:g}s)")
        # A store that did not open within the longer bound gets the usual one from
        # now on: the next waves of calls must not each wait as long.
        self._open = True
        return TimeoutError(f"no answer within {self._open_timeout:g}s of its first use")

    def _resting(self, operation: Operation) -> bool:
        if self._resting_until and self._clock() < self._resting_until:
            self._count(operation)
            return True
        return False

    def _count(self, operation: Operation) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error(operation)

    def _failed(self, operation: Operation, error: Exception) -> None:
        self._count(operation)
        self._resting_until = self._clock() + self._retry_after
        if not self._failing:
            self._failing = True
            self._errors_before = self.errors - 1
            log.warning(
                "the response cache's store (%s) failed: %s; calls go uncached until it"
                " answers again (retried every %gs)",
                self._name,
                describe_error(error),
                self._retry_after,
            )

    def _answered(self) -> None:
        self._open = True
        if self._failing:
            self._failing = False
            self._resting_until = 0.0
            log.info(
                "the response cache's store (%s) answers again (lookups and writes missed: %d)",
                self._name,
                self.errors - self._errors_before,
            )
