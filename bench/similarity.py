"""Milliseconds per similarity query over an embedding collection, on both search paths.

Fills a collection (relaykit_sqlite.Collection, a real SQLite file in a temporary
directory) with ``--items`` random unit vectors of ``--dimensions`` (10,000 of
1,536 by default: OpenAI's text-embedding-3-small), then times, for ``--queries``
queries each, the median of:

- ``similar_by_id, pure Python``: the whole search as a caller sees it without
  numpy (``use_numpy=False``): the SQLite scan in a worker thread, each blob
  unpacked, ``math.dist`` to the query, a streaming top 10
  (``relaykit_sqlite.vectors.nearest``);
- ``nearest (in memory)``: the same arithmetic over blobs already in a list:
  what the scan itself costs is the difference;
- ``similar_by_id, numpy, kept matrix``: with numpy, repeated searches over the
  matrix the collection keeps (``relaykit_sqlite.vector_matrix``);
- ``similar_by_id, numpy, first search``: a new Collection each time, so the
  file is read into the matrix for each (numpy already imported);
- ``similar_by_id, numpy, nothing kept``: ``matrix_cache_bytes=0``: the file
  read and scored 4,096 rows at a time, as a collection larger than
  ``--matrix-cache-mb`` (256 by default) is;
- ``sum of products``: the obvious pure-Python cosine over the same in-memory
  blobs (unpack, ``sum(map(mul, q, v))``, ``heapq.nlargest``), for scale
  (skipped with ``--no-baselines``);
- ``math.sumprod``: the same with Python 3.12's ``math.sumprod`` (skipped before 3.12).

The numpy rows are skipped when numpy is not installed. The vectors come from a
stub client (no HTTP): the benchmark is about the search.

    uv run python bench/similarity.py                  # ~1 minute with the fill
    uv run python bench/similarity.py --items 100000 --dimensions 384 --queries 5
    uv run python bench/similarity.py --items 100000 --queries 3 --no-baselines \
        --matrix-cache-mb 1024                         # 587 MiB kept; ~3 minutes
    uv run python bench/similarity.py --items 1000 --queries 5

Never fails on a number. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import importlib.util
import math
import platform
import random
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from operator import mul
from pathlib import Path
from typing import Any, cast

import anyio
import attrs

from relaykit_sqlite import Collection
from relaykit_sqlite.vectors import nearest

TOP = 10


@attrs.frozen
class _Vectors:
    vectors: tuple[tuple[float, ...], ...]


class _StubClient:
    """Answers ``embed`` with random vectors, as a ``relaykit.Client`` would with real ones."""

    def __init__(self, dimensions: int, seed: int) -> None:
        self._dimensions = dimensions
        self._random = random.Random(seed)

    async def embed(self, model: str, inputs: Sequence[str], **params: Any) -> _Vectors:
        gauss = self._random.gauss
        return _Vectors(
            tuple(tuple(gauss(0.0, 1.0) for _ in range(self._dimensions)) for _ in inputs)
        )


def _median_ms(fn: Callable[[], object], queries: int) -> float:
    times = []
    for _ in range(queries):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _sum_of_products(query: Sequence[float], blobs: list[bytes]) -> list[tuple[float, int]]:
    layout = struct.Struct(f"<{len(query)}f")
    norm = math.hypot(*query)
    return heapq.nlargest(
        TOP,
        (
            (sum(map(mul, query, vector)) / (norm * math.hypot(*vector)), index)
            for index, vector in enumerate(map(layout.unpack, blobs))
        ),
    )


def _sumprod(query: Sequence[float], blobs: list[bytes]) -> list[tuple[float, int]]:
    layout = struct.Struct(f"<{len(query)}f")
    sumprod = math.sumprod  # type: ignore[attr-defined,unused-ignore]
    probe = tuple(query)
    scores = map(sumprod, [probe] * len(blobs), map(layout.unpack, blobs))
    return heapq.nlargest(TOP, zip(scores, range(len(blobs)), strict=True))


async def _fill(path: Path, items: int, dimensions: int) -> None:
    client = cast(Any, _StubClient(dimensions, seed=1))
    async with Collection(path, "bench", "stub/embedder") as collection:
        await collection.embed_many(
            client, ((f"doc-{i}", f"text {i}") for i in range(items)), batch_size=500
        )


def main() -> None:
    """Fill, time, print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--dimensions", type=int, default=1536)
    ap.add_argument("--queries", type=int, default=9)
    ap.add_argument(
        "--matrix-cache-mb",
        type=float,
        default=None,
        help="Collection(matrix_cache_bytes=...) for the numpy rows, in MiB (default: 256)",
    )
    ap.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the sum-of-products and math.sumprod rows",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embeddings.db"
        start = time.perf_counter()
        anyio.run(_fill, path, args.items, args.dimensions)
        fill = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        rng = random.Random(2)
        query = [rng.gauss(0.0, 1.0) for _ in range(args.dimensions)]

        async def by_id(label: str, fresh: bool = False, **options: Any) -> None:
            async with Collection(path, "bench", **options) as collection:
                found = await collection.similar_by_id("doc-0", n=TOP)  # opens, imports
                assert len(found) == TOP
                times = []
                for i in range(args.queries):
                    if fresh:
                        await collection.aclose()
                        collection = Collection(path, "bench", **options)
                    started = time.perf_counter()
                    await collection.similar_by_id(f"doc-{i}", n=TOP)
                    times.append((time.perf_counter() - started) * 1000)
                if "kept matrix" in label:
                    kept = collection.matrix_bytes
                    label += f" ({kept / 2**20:.0f} MiB)" if kept else " (over the cap: none)"
                await collection.aclose()
                rows[label] = statistics.median(times)

        with contextlib.closing(sqlite3.connect(path)) as conn:
            stored = [bytes(b) for (b,) in conn.execute("SELECT embedding FROM embeddings")]
        rows: dict[str, float] = {}
        anyio.run(functools.partial(by_id, "similar_by_id, pure Python", use_numpy=False))
        keyed = list(enumerate(stored))
        rows["nearest (in memory)"] = _median_ms(lambda: nearest(query, keyed, TOP), args.queries)
        if importlib.util.find_spec("numpy") is not None:
            cache: dict[str, Any] = {}
            if args.matrix_cache_mb is not None:
                cache["matrix_cache_bytes"] = int(args.matrix_cache_mb * 2**20)
            numpy = functools.partial(by_id, use_numpy=True, **cache)
            anyio.run(functools.partial(numpy, "similar_by_id, numpy, kept matrix"))
            anyio.run(functools.partial(numpy, "similar_by_id, numpy, first search", fresh=True))
            anyio.run(
                functools.partial(numpy, "similar_by_id, numpy, nothing kept", matrix_cache_bytes=0)
            )
        if args.baselines:
            rows["sum of products"] = _median_ms(
                lambda: _sum_of_products(query, stored), args.queries
            )
            if hasattr(math, "sumprod"):
                rows["math.sumprod"] = _median_ms(lambda: _sumprod(query, stored), args.queries)
    print(
        f"{args.items:,} vectors x {args.dimensions} dims, top {TOP}, median of"
        f" {args.queries} queries; Python {platform.python_version()} on {sys.platform};"
        f" file {size_mb:.0f} MB, filled in {fill:.1f} s\n"
    )
    print("| search | ms per query |\n|---|---|")
    for name, ms in rows.items():
        print(f"| {name} | {ms:.0f} |")


if __name__ == "__main__":
    main()
