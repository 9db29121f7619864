"""Bytes a limiter keeps per limit key once its calls are settled (one per caller under
``[limits."user=*"]``): the growth of a gateway with many callers.

    uv run python bench/limiter_keys.py                 # memory and Redis, 20,000 keys
    uv run python bench/limiter_keys.py --keys 100000 --limiters redis

Each key takes one call (acquire, then reconcile with what it used); the
process's traced allocations before and after, over the number of keys, are
the bytes per key the limiter keeps. Needs the Redis on 127.0.0.1:6379 (its
database 15) for ``redis``.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import uuid
from decimal import Decimal
from typing import Any

import anyio

from relaykit.config import LimitConfig
from relaykit.memory_limiter import MemoryRateLimiter

LIMIT = LimitConfig(rpm=60, tpm=100_000, budget_usd=Decimal(5))


async def _calls(limiter: Any, keys: int, settle: bool) -> None:
    for i in range(keys):
        key = f"user=caller-{i:07d} (user=*)"
        reservation = await limiter.acquire(key, LIMIT, 200, cost=Decimal("0.01"))
        if settle:
            await limiter.reconcile(reservation, 150, cost=Decimal("0.008"))


async def measure(name: str, keys: int, settle: bool) -> float:
    """Bytes per key the limiter ``name`` holds after ``keys`` keys' calls."""
    if name == "redis":
        from relaykit_redis import RedisRateLimiter

        limiter: Any = RedisRateLimiter(
            "redis://127.0.0.1:6379/15", prefix=f"bench-{uuid.uuid4().hex[:12]}"
        )
    else:
        limiter = MemoryRateLimiter()
    await _calls(limiter, 10, settle)  # the connection, the scripts loaded, the dicts' first sizes
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    await _calls(limiter, keys, settle)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    if name == "redis":
        await limiter.aclose()
    return (after - before) / keys


def main() -> None:
    """Print bytes per key for each limiter."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--limiters", default="memory,redis")
    parser.add_argument("--unsettled", action="store_true", help="acquire only, never settle")
    args = parser.parse_args()
    for name in args.limiters.split(","):
        start = time.perf_counter()
        per_key = anyio.run(measure, name, args.keys, not args.unsettled)
        print(
            f"{name}: {per_key:.0f} bytes per key after {args.keys} keys"
            f" ({time.perf_counter() - start:.1f} s)"
        )


if __name__ == "__main__":
    main()
