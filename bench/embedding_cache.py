"""The embeddings cache's storage round trips: 1,000 texts stored, then looked up by
a fresh cache (a new process: memory cold), against SQLite and PostgreSQL.

"one at a time" is a backend with only ``cached_response``/``cache_response`` (one
round trip a text, as before ``cached_responses``/``cache_responses``); "many at
once" is the backend as it ships. Medians of ``--rounds`` rounds, new keys each.

    uv run python bench/embedding_cache.py [--texts 1000] [--dimensions 1024] [--no-postgres]

PostgreSQL: ``RELAYKIT_BENCH_PG`` or ``postgresql://postgres@127.0.0.1:5432/test``.
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

from relaykit.embedding_cache import EmbeddingCache


class OneAtATime:
    """The backend with its single-entry cache methods only."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        result: tuple[float, str] | None = await self._storage.cached_response(key)
        return result

    async def cache_response(self, key: str, expires_at: float, text: str) -> None:
        await self._storage.cache_response(key, expires_at, text)


async def _round(backend: Any, texts: int, vector: tuple[float, ...]) -> tuple[float, float]:
    keys = [uuid.uuid4().hex for _ in range(texts)]
    started = time.perf_counter()
    await EmbeddingCache(backend).put_many([(k, vector) for k in keys], 3600)
    put = time.perf_counter() - started
    started = time.perf_counter()
    found = await EmbeddingCache(backend).get_many(keys)
    get = time.perf_counter() - started
    assert all(v == vector for v in found)
    return put, get


async def _measure(name: str, storage: Any, args: argparse.Namespace) -> None:
    vector = tuple(float(i) / 7 for i in range(args.dimensions))
    for label, backend in (("one at a time", OneAtATime(storage)), ("many at once", storage)):
        rounds = [await _round(backend, args.texts, vector) for _ in range(args.rounds)]
        put = statistics.median(r[0] for r in rounds) * 1000
        get = statistics.median(r[1] for r in rounds) * 1000
        print(f"| {name} | {label} | {put:,.1f} | {get:,.1f} |")
    await storage.aclose()


async def main(args: argparse.Namespace) -> None:
    from relaykit_sqlite.storage import SQLiteStorage

    print(f"{args.texts} texts of {args.dimensions} dimensions, ms (median of {args.rounds})")
    print("| backend | round trips | store all | look all up |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as where:
        await _measure("sqlite", SQLiteStorage(os.path.join(where, "cache.db")), args)
    if not args.no_postgres:
        from relaykit_postgres.storage import PostgresStorage

        dsn = os.environ.get("RELAYKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
        await _measure("postgres", PostgresStorage(dsn), args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--dimensions", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    anyio.run(main, parser.parse_args())
