"""A response-cache hit's latency and CPU through the client: memory, SQLite storage, Redis.

A writer client answers ``--calls`` distinct deterministic questions (a fake
provider), filling the store; a fresh reader client (its memory cold, as
another process's would be) then asks them all: each a hit from the store.
It asks them all again: each a hit from its in-memory LRU, whatever the store.
Per call: wall-clock latency (median and p99) and process CPU (mean), in µs.

    uv run python bench/response_cache.py [--calls 2000] [--backend asyncio|trio]

The SQLite rows also write each call's record to the same file (the storage
that keeps the cache keeps the call log); the others log nothing. Redis:
``RELAYKIT_BENCH_REDIS`` or ``redis://127.0.0.1:6379/15``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import anyio

import relaykit
from relaykit.testing import FakePlugin, Reply

ANSWER = "The capital of France is Paris. " * 8  # a 256-character answer


async def _ask_all(client: relaykit.Client, questions: list[str]) -> tuple[list[float], float]:
    """Each question once: the latencies (s) and the CPU all of them took (s)."""
    latencies = []
    cpu = time.process_time()
    for q in questions:
        started = time.perf_counter()
        r = await client.chat("fake/m", q, temperature=0)
        latencies.append(time.perf_counter() - started)
        assert r.cache_hit, "expected a hit"
    return latencies, time.process_time() - cpu


def _row(name: str, latencies: list[float], cpu: float) -> str:
    ordered = sorted(latencies)
    median = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1e6
    return f"| {name} | {median:,.1f} | {p99:,.1f} | {cpu / len(latencies) * 1e6:,.1f} |"


async def _measure(name: str, config: dict[str, Any], calls: int) -> list[str]:
    questions = [f"question {i} {uuid.uuid4().hex}" for i in range(calls)]
    writer = FakePlugin()
    writer.script.push(*[Reply(text=ANSWER)] * calls)
    rows = []
    async with relaykit.Client(config, plugins=[writer]) as client:
        for q in questions:
            await client.chat("fake/m", q, temperature=0)
        if name == "memory":  # nothing outside this client: its own memory is all there is
            latencies, cpu = await _ask_all(client, questions[1:])
            return [_row("memory alone: from memory", latencies, cpu)]
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", questions[0], temperature=0)  # warm up: imports, connection
        latencies, cpu = await _ask_all(client, questions[1:])
        rows.append(_row(f"{name}: from the store (memory cold)", latencies, cpu))
        latencies, cpu = await _ask_all(client, questions[1:])
        rows.append(_row(f"{name}: from memory", latencies, cpu))
    return rows


async def main(args: argparse.Namespace) -> None:
    print(f"{args.calls} hits each, {args.backend}; µs per call")
    print("| store | median | p99 | CPU |")
    print("|---|---:|---:|---:|")
    cache = {"enabled": True, "max_entries": 2 * args.calls}  # the LRU holds every answer
    with tempfile.TemporaryDirectory() as where:
        plans: list[tuple[str, dict[str, Any]]] = [
            ("memory", {"storage": {"backend": "none"}, "cache": {**cache, "backend": "memory"}}),
            (
                "sqlite",
                {
                    "storage": {"backend": "sqlite", "path": os.path.join(where, "cache.db")},
                    "cache": cache,
                },
            ),
        ]
        if not args.no_redis:
            url = os.environ.get("RELAYKIT_BENCH_REDIS", "redis://127.0.0.1:6379/15")
            redis = {"backend": "redis", "url": url, "prefix": f"bench-{uuid.uuid4().hex[:8]}"}
            plans.append(("redis", {"storage": {"backend": "none"}, "cache": {**cache, **redis}}))
        for name, config in plans:
            for row in await _measure(name, config, args.calls):
                print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
