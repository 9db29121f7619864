"""A :class:`relaykit.protocols.CacheStore` in Redis: cached answers every process shares.

``[cache] backend = "redis"``. Each entry is one Redis string,
``<prefix>:cache:<sha256 hex>``, holding its expiry and the answer's JSON,
set with ``PX`` so that Redis drops it itself when it expires (``PX`` rather
than ``PXAT``: a duration, so Redis older than 6.2 takes it too and its clock
need not agree with ours). A lookup is one ``GET``, the embeddings cache's
many one ``MGET``; writes are posted (see
:meth:`~relaykit_redis.pipeline.Pipeline.post`): on their way when a call
returns, their replies read later by whoever reads next, so a call never
waits for them, and :meth:`RedisResponseCache.aclose` drains them.

Every operation is bounded by ``timeout`` seconds and raises when it fails;
the client turns that into a miss or a skipped write, logged once and counted
(:mod:`relaykit.cache_store`), so a Redis that is down or slow never fails a
call nor holds it longer than ``timeout``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import anyio

from .client import RedisClient
from .resp import RedisError

log = logging.getLogger("relaykit.cache")

#: entries larger than this are not stored: one such value holds the shared
#: connection for every other task while it travels, and answers this large
#: (a quarter of a million words) are rare enough not to be worth it
MAX_VALUE_BYTES = 512 * 1024


#: the longest ``PX`` given: Redis refuses one whose end, in milliseconds since
#: 1970, overflows a signed 64-bit integer; a longer ttl (``inf``) sets no expiry
MAX_PX = 2**62


class RedisResponseCache:
    """Cached responses (and embedding vectors) in Redis under ``<prefix>:cache:``.

    Safe under asyncio and trio; one pipelined connection per event loop
    (:class:`~relaykit_redis.client.RedisClient`). ``skipped`` counts the
    entries too large to store (``max_value_bytes``), ``refused`` the writes
    Redis answered with an error (out of memory, a read-only replica): the
    first of those is logged as a WARNING.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "relaykit",
        timeout: float = 0.5,
        max_value_bytes: int = MAX_VALUE_BYTES,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = RedisClient(url, connect_timeout=timeout, reply_timeout=timeout)
        self.prefix = prefix
        self.timeout = timeout
        self.max_value_bytes = max_value_bytes
        self._wall_clock = wall_clock
        self._head = f"{prefix}:cache:"
        self.skipped = 0
        self.refused = 0

    def _key(self, key: str) -> str:
        return self._head + key

    def _bounded(self) -> _Bounded:
        """Within ``timeout``; a failure says which Redis (never its password)."""
        return _Bounded(self)

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """``(expires_at, json)`` stored under ``key``, or ``None``."""
        with self._bounded():
            value = await self.redis.command("GET", self._key(key))
        return _entry(value) if isinstance(value, bytes) else None

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """``{key: (expires_at, json)}`` for those of ``keys`` stored: one ``MGET``."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        with self._bounded():
            values = await self.redis.command("MGET", *(self._key(k) for k in wanted))
        found: dict[str, tuple[float, str]] = {}
        for key, value in zip(wanted, values if isinstance(values, list) else (), strict=False):
            entry = _entry(value) if isinstance(value, bytes) else None
            if entry is not None:
                found[key] = entry
        return found

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store (replace) ``response`` under ``key`` until ``expires_at``; not waited for."""
        await self.cache_responses([(key, expires_at, response)])

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store each ``(key, expires_at, json)``: one write of ``SET``s, not waited for.

        Entries already expired are left out, as are those over ``max_value_bytes``.
        """
        now = self._wall_clock()
        commands: list[tuple[object, ...]] = []
        for key, expires_at, response in entries:
            remaining_ms = (expires_at - now) * 1000
            if remaining_ms <= 0:
                continue
            value = f"{expires_at!r}\n{response}".encode()
            if len(value) > self.max_value_bytes:
                self.skipped += 1
                log.debug(
                    "not caching a %d-byte entry in Redis (over %d)",
                    len(value),
                    self.max_value_bytes,
                )
                continue
            if remaining_ms > MAX_PX:
                # [cache] ttl = inf (or a span Redis refuses): kept without an expiry,
                # the entry's own expiry still read by the client (and LRU eviction,
                # where Redis is set to evict, still applies)
                commands.append(("SET", self._key(key), value))
            else:
                commands.append(("SET", self._key(key), value, "PX", math.ceil(remaining_ms)))
        if commands:
            with self._bounded():
                await self.redis.post(commands, self._refused)

    def _refused(self, error: RedisError) -> None:
        self.refused += 1
        if self.refused == 1:
            log.warning("Redis refused to store a cached response: %s", error)

    async def aclose(self) -> None:
        """Wait (up to ``timeout``) for the writes still on their way, then close."""
        try:
            with anyio.move_on_after(self.timeout):
                await self.redis.drain()
        except (OSError, TimeoutError, RedisError):
            pass  # the writes are lost with the connection: a cache may lose them
        finally:
            await self.redis.aclose()


class _Bounded:
    """A store operation within its ``timeout``, its failures naming the Redis.

    One cancel scope with a deadline, entered and checked here: ``anyio.fail_after``
    is two generator-based context managers around the same scope, which cost a
    lookup as many instructions again as the rest of its client side (see
    docs/benchmarks.md, the response cache's instructions).
    """

    __slots__ = ("_cache", "_scope")

    def __init__(self, cache: RedisResponseCache) -> None:
        self._cache = cache
        self._scope = anyio.CancelScope(deadline=anyio.current_time() + cache.timeout)

    def __enter__(self) -> None:
        self._scope.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._scope.__exit__(kind, error, traceback)  # swallows the deadline's cancellation
        if self._scope.cancelled_caught:
            raise TimeoutError(f"{self._where()} did not answer within {self._cache.timeout:g}s")
        if isinstance(error, TimeoutError):
            raise TimeoutError(
                f"{self._where()} did not answer within {self._cache.timeout:g}s"
            ) from None
        if isinstance(error, OSError):  # ConnectionError is one
            raise ConnectionError(f"{self._where()}: {error}") from error
        if isinstance(error, RedisError):
            raise RedisError(f"{self._where()}: {error}") from error

    def _where(self) -> str:
        redis = self._cache.redis
        return f"Redis at {redis.host}:{redis.port}"


def _entry(value: bytes) -> tuple[float, str] | None:
    """An entry's expiry and JSON, or ``None`` for a value that is not one of ours."""
    head, newline, body = value.partition(b"\n")
    if not newline:
        return None
    try:
        return float(head), body.decode()
    except (ValueError, UnicodeDecodeError):
        return None
