"""The entry point relaykit loads: the Redis rate limiter for ``[limiter] backend = "redis"``."""

from __future__ import annotations

import os

from relaykit import hookimpl
from relaykit.config import Config
from relaykit.protocols import RateLimiter

DEFAULT_URL = "redis://127.0.0.1:6379/0"


@hookimpl
def relaykit_rate_limiter(name: str, config: Config) -> RateLimiter | None:
    """The Redis limiter: ``[limiter] url`` (or ``$RELAYKIT_REDIS_URL``) and ``prefix``."""
    if name != "redis":
        return None
    from .limiter import RedisRateLimiter  # only when asked for: entry points load for every client

    url = config.limiter.url or os.environ.get("RELAYKIT_REDIS_URL") or DEFAULT_URL
    return RedisRateLimiter(url, prefix=config.limiter.prefix)
