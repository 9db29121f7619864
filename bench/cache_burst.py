"""A burst of concurrent response-cache lookups and writes against PostgreSQL's storage.

``--calls`` lookups or writes at once, each through the client's guard
(:class:`relaykit.cache_store.GuardedCacheStore`, ``[cache] timeout`` 0.5 s, as
a client with ``[cache] enabled`` and ``backend = "storage"`` uses it) on
relaykit-postgres's storage (pool of 8 connections, ``driver="auto"``). Four
bursts, in this order: lookups of keys not stored (misses), writes of those
keys, lookups again (each a hit), then lookups and writes at once. Per burst:
the operations the guard counted failed (past the timeout), and each
operation's latency (median, p99, max) in ms. The guard rests a store that
failed (``retry_after``); here it never rests, so each operation meets the
store. A fresh schema per run, dropped afterwards.

    uv run python bench/cache_burst.py [--calls 500] [--backend asyncio|trio] [--repeat 3]

PostgreSQL: ``RELAYKIT_BENCH_PG`` or ``postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
import psycopg

from relaykit.cache_store import GuardedCacheStore
from relaykit_postgres.storage import PostgresStorage

ANSWER = '{"text": "' + "The capital of France is Paris. " * 8 + '"}'
EXPIRES = 4e9


async def _burst(
    calls: int, op: Callable[[int], Awaitable[object]]
) -> tuple[list[float], list[object]]:
    """``op(0..calls-1)`` all at once: each one's latency (s) and result."""
    latencies = [0.0] * calls
    results: list[object] = [None] * calls

    async def one(i: int) -> None:
        started = time.perf_counter()
        results[i] = await op(i)
        latencies[i] = time.perf_counter() - started

    async with anyio.create_task_group() as tg:
        for i in range(calls):
            tg.start_soon(one, i)
    return latencies, results


def _row(name: str, failed: int, latencies: list[float], extra: str = "") -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1e3
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1e3
    return f"| {name} | {failed} | {p50:,.0f} | {p99:,.0f} | {ordered[-1] * 1e3:,.0f} |{extra}"


async def _run(dsn: str, calls: int) -> list[str]:
    schema = f"relaykit_bench_{uuid.uuid4().hex[:10]}"
    storage = PostgresStorage(dsn, schema=schema)
    # never rested: every operation of every burst meets the store
    guard = GuardedCacheStore(storage, "postgres", retry_after=0.0)
    rows = []
    try:
        await storage.cache_response("warm", EXPIRES, ANSWER)  # open, migrate, fill the pool
        keys = [uuid.uuid4().hex for _ in range(calls)]

        async def look(i: int) -> object:
            return await guard.cached_response(keys[i])

        async def write(i: int) -> object:
            await guard.cache_response(keys[i], EXPIRES, ANSWER)
            return None

        for name, op in (("lookups (misses)", look), ("writes", write)):
            before = guard.errors
            latencies, _ = await _burst(calls, op)
            rows.append(_row(name, guard.errors - before, latencies))
        before = guard.errors
        latencies, found = await _burst(calls, look)
        hits = sum(r is not None for r in found)
        rows.append(_row("lookups (hits)", guard.errors - before, latencies, f" hits {hits}"))
        more = [uuid.uuid4().hex for _ in range(calls)]

        async def mixed(i: int) -> object:
            if i % 2:
                return await guard.cached_response(keys[i])
            await guard.cache_response(more[i], EXPIRES, ANSWER)
            return None

        before = guard.errors
        latencies, _ = await _burst(calls, mixed)
        rows.append(_row("lookups + writes", guard.errors - before, latencies))
    finally:
        await storage.aclose()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return rows


async def main(args: argparse.Namespace) -> None:
    dsn = os.environ.get("RELAYKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    print(f"{args.calls} at once, {args.backend}, [cache] timeout 0.5 s")
    print("| burst | failed (past the timeout) | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for _ in range(args.repeat):
        for row in await _run(dsn, args.calls):
            print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
