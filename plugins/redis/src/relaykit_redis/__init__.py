"""relaykit-redis: rate limits and USD budgets shared by every process through Redis.

``[limiter] backend = "redis"`` with ``url = "redis://127.0.0.1:6379/0"``
(or ``$RELAYKIT_REDIS_URL``) enforces ``[limits]`` atomically in Redis, so
several workers of one app share one limit.
"""

from .client import RedisClient
from .limiter import RedisRateLimiter
from .resp import RedisError

__all__ = ["RedisClient", "RedisError", "RedisRateLimiter"]
