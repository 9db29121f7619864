"""The entry point relaykit loads: the Redis rate limiter (``[limiter] backend = "redis"``)
and the Redis response cache (``[cache] backend = "redis"``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from relaykit import hookimpl

if TYPE_CHECKING:
    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.config import Config
    from relaykit.protocols import CacheStore, RateLimiter

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _limiter_url(config: Config) -> str:
    return config.limiter.url or os.environ.get("RELAYKIT_REDIS_URL") or DEFAULT_URL


@hookimpl
def relaykit_rate_limiter(name: str, config: Config) -> RateLimiter | None:
    """The Redis limiter: ``[limiter] url`` (else $RELAYKIT_REDIS_URL), ``prefix``, ``timeout``."""
    if name != "redis":
        return None
    from .limiter import RedisRateLimiter  # only when asked for: entry points load for every client

    limiter = config.limiter
    return RedisRateLimiter(_limiter_url(config), prefix=limiter.prefix, timeout=limiter.timeout)


@hookimpl
def relaykit_response_cache(name: str, config: Config) -> CacheStore | None:
    """The Redis cache: ``[cache] url``, ``prefix``, ``timeout`` and ``max_entry_bytes``.

    Without its own ``url`` or ``prefix`` the cache uses the limiter's (one
    Redis, one application name), whose url defaults to ``$RELAYKIT_REDIS_URL``,
    then ``redis://127.0.0.1:6379/0``.
    """
    if name != "redis":
        return None
    from .response_cache import MAX_VALUE_BYTES, RedisResponseCache  # only when asked for, as above

    cache = config.cache
    return RedisResponseCache(
        cache.url or _limiter_url(config),
        prefix=cache.prefix if cache.prefix is not None else config.limiter.prefix,
        timeout=cache.timeout,
        max_value_bytes=cache.max_entry_bytes or MAX_VALUE_BYTES,
    )
