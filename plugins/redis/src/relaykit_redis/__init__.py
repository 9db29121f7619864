"""relaykit-redis: rate limits, USD budgets and the response cache, shared by every process
through Redis.

``[limiter] backend = "redis"`` with ``url = "redis://127.0.0.1:6379/0"``
(or ``$RELAYKIT_REDIS_URL``) enforces ``[limits]`` atomically in Redis, so
several workers of one app share one limit. ``[cache] backend = "redis"``
keeps the response and embeddings caches there, so every worker on every
machine shares cached answers, and Redis expires them itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "RedisClient": "client",
    "RedisError": "resp",
    "RedisRateLimiter": "limiter",
    "RedisResponseCache": "response_cache",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .client import RedisClient as RedisClient
    from .limiter import RedisRateLimiter as RedisRateLimiter
    from .resp import RedisError as RedisError
    from .response_cache import RedisResponseCache as RedisResponseCache
