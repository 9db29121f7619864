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

Then, unless ``--no-client``, the same through ``relaykit.Client`` (``[cache]
enabled``, the storage's cache, a fake provider): ``--calls`` cached calls at
once, each a miss then a write; then the same questions from a fresh client
(its memory empty, as another process's would be), each a hit from
PostgreSQL. Per round: the lookups and writes the client counted failed
(``cache_errors``, by operation), the hits, each call's latency.

    uv run python bench/cache_burst.py [--calls 500] [--backend asyncio|trio] [--repeat 3]

PostgreSQL: ``RELAYKIT_BENCH_PG`` or ``postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio
import psycopg
from psycopg.conninfo import make_conninfo

import relaykit
from relaykit.cache_store import GuardedCacheStore
from relaykit.gauge_events import CacheStoreError
from relaykit.testing import FakePlugin, RecordingExporter, Reply
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


async def _through_client(dsn: str, calls: int) -> list[str]:
    schema = f"relaykit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    config = {
        "storage": {
            "backend": "postgres",
            "dsn": make_conninfo(dsn, options=f"-c search_path={schema}"),
        },
        "cache": {"enabled": True},
    }
    fake = FakePlugin()
    fake.script.push(*[Reply(text=ANSWER)] * (calls + 2))
    questions = [f"question {i} {uuid.uuid4().hex}" for i in range(calls)]
    rows = []
    try:
        for name in ("calls (misses, writes)", "calls (hits, a new client)"):
            exporter = RecordingExporter()
            async with relaykit.Client(config, plugins=[fake, exporter]) as client:
                await client.chat("fake/m", "warm", temperature=0)  # the pool open
                exporter.events.clear()

                async def ask(i: int, client: relaykit.Client = client) -> object:
                    return (await client.chat("fake/m", questions[i], temperature=0)).cache_hit

                latencies, hit = await _burst(calls, ask)
            failed = Counter(e.operation for e in exporter.events if isinstance(e, CacheStoreError))
            by_op = ", ".join(f"{op} {n}" for op, n in sorted(failed.items())) or "none"
            extra = f" failed: {by_op}; hits {sum(map(bool, hit))}"
            rows.append(_row(name, sum(failed.values()), latencies, extra))
    finally:
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
        if not args.no_client:
            for row in await _through_client(dsn, args.calls):
                print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-client", action="store_true", help="the storage's bursts alone")
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
