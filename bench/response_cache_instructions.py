"""A response-cache hit from a store (SQLite, Redis), and its decoding alone, in instructions.

A companion to ``response_cache.py`` for busy machines: each scenario runs
under valgrind's cachegrind twice, the second time with ``--calls`` more
measured operations; the difference over ``--calls`` is the cost of one,
without start-up, imports or warm-up. Cachegrind counts every thread of the
process (SQLite's reader and writer threads too), not the Redis server.

Scenarios (``--scenarios``):

- ``decode``, ``decode_rich``: ``from_json`` of a cached answer (the bench's
  256-character answer; one with two tool calls, a reasoning block and a
  citation as well).
- ``memory``: a hit from the in-memory LRU (``[cache] backend = "memory"``):
  what every hit costs at least.
- ``sqlite``, ``redis``: a hit from the store through the client, its memory
  cold: the store's read, the decoding, the client's bookkeeping. The SQLite
  file keeps the cache alone (a plugin offers relaykit-sqlite's storage as
  the ``[cache] backend``, with ``[storage] backend = "none"``): unlike
  ``response_cache.py``, no call record is written to it. Before session 21
  its count moved between runs (378 k to 708 k for the same sources): each
  read took a worker-thread hop (a bare ``anyio.to_thread.run_sync`` counts
  ~255 k instructions here, the ``SELECT`` ~17 k), whose cost follows the
  threads' timing. The read now runs on the event loop's thread
  (``relaykit_sqlite.loop_reads``): 227 k and 326 k in two runs, against
  571 k and 573 k before; what still moves it is not the hop.

    uv run python bench/response_cache_instructions.py            # ~2 min
    uv run python bench/response_cache_instructions.py --scenarios decode,redis

To count another version, put its sources first::

    git archive <commit> core/src plugins | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/core/src:/tmp/before/plugins/sqlite/src:/tmp/before/plugins/redis/src \\
        uv run python bench/response_cache_instructions.py

Needs ``valgrind`` on the PATH; Redis: ``RELAYKIT_BENCH_REDIS`` or
``redis://127.0.0.1:6379/15``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from instructions import cachegrind
from response_cache import ANSWER

import relaykit
from relaykit.testing import FakePlugin, Reply

WARMUP = 50
SCENARIOS = ("decode", "decode_rich", "memory", "sqlite", "redis")


def _answer(rich: bool) -> relaykit.ChatResponse:
    usage = relaykit.Usage(input_tokens=40, output_tokens=64)
    if not rich:
        return relaykit.ChatResponse(
            text=ANSWER, usage=usage, model="m", provider="fake", id="r1", cost=Decimal("0.0001")
        )
    return relaykit.ChatResponse(
        text=ANSWER,
        reasoning="Paris it is.",
        tool_calls=(
            relaykit.ToolCall("c1", "weather", {"city": "Paris", "units": "metric"}),
            relaykit.ToolCall("c2", "time", {"zone": "Europe/Paris"}),
        ),
        finish_reason="tool_calls",
        usage=usage,
        model="m",
        provider="fake",
        id="r1",
        cost=Decimal("0.0001"),
        reasoning_signature="sig",
        reasoning_parts=(relaykit.ReasoningPart("Paris it is.", "sig", origin="anthropic"),),
        citations=(relaykit.Citation(url="https://example.com/paris", title="Paris", start=0),),
    )


def _decode(n: int, rich: bool) -> None:
    from relaykit.serialization import from_json, to_json

    text = to_json(_answer(rich))
    for _ in range(WARMUP + n):
        from_json(text, relaykit.ChatResponse)


class SQLiteCacheFile:
    """``[cache] backend = "sqlite-file"``: relaykit-sqlite's storage at ``path``, as the cache
    store alone."""

    def __init__(self, path: str) -> None:
        self.path = path

    @relaykit.hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        from relaykit_sqlite.storage import SQLiteStorage

        return SQLiteStorage(self.path) if name == "sqlite-file" else None


def _config(scenario: str) -> dict[str, Any]:
    cache = {"enabled": True, "max_entries": 100_000}
    if scenario == "memory":
        return {"storage": {"backend": "none"}, "cache": {**cache, "backend": "memory"}}
    if scenario == "sqlite":
        return {"storage": {"backend": "none"}, "cache": {**cache, "backend": "sqlite-file"}}
    url = os.environ.get("RELAYKIT_BENCH_REDIS", "redis://127.0.0.1:6379/15")
    redis = {"backend": "redis", "url": url, "prefix": f"bench-{uuid.uuid4().hex[:8]}"}
    return {"storage": {"backend": "none"}, "cache": {**cache, **redis}}


async def _hits(scenario: str, n: int, stored: int) -> None:
    """``stored`` answers written by one client; a fresh one then asks ``WARMUP + n`` of them."""
    with tempfile.TemporaryDirectory() as where:
        config = _config(scenario)
        store = SQLiteCacheFile(os.path.join(where, "cache.db"))
        questions = [f"question {i} {uuid.uuid4().hex}" for i in range(stored)]
        writer = FakePlugin()
        writer.script.push(*[Reply(text=ANSWER)] * stored)
        async with relaykit.Client(config, plugins=[writer, store]) as client:
            for q in questions:
                await client.chat("fake/m", q, temperature=0)
            if scenario == "memory":  # its own memory is all there is
                for q in questions[: WARMUP + n]:
                    assert (await client.chat("fake/m", q, temperature=0)).cache_hit
                return
        async with relaykit.Client(config, plugins=[FakePlugin(), store]) as client:
            for q in questions[: WARMUP + n]:
                r = await client.chat("fake/m", q, temperature=0)
                assert r.cache_hit


def child(scenario: str, n: int, stored: int) -> None:
    """What the measured process runs."""
    if scenario.startswith("decode"):
        _decode(n, scenario == "decode_rich")
    else:
        anyio.run(_hits, scenario, n, stored)


def main() -> None:
    """Count each scenario's instructions per operation and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--calls", type=int, default=300, help="operations in the difference")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # SCENARIO N STORED
    args = p.parse_args()
    if args.child:
        scenario, n, stored = args.child
        child(scenario, int(n), int(stored))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    stored = WARMUP + 2 * args.calls  # both runs write the same, and read what they ask
    print(f"{args.calls} operations in the difference; instructions per operation")
    print("| scenario | instructions |")
    print("|---|---:|")
    for scenario in args.scenarios.split(","):
        if scenario not in SCENARIOS:
            sys.exit(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        counts = [
            cachegrind([str(Path(__file__)), "--child", scenario, str(n), str(stored)])
            for n in (args.calls, 2 * args.calls)
        ]
        print(f"| {scenario} | {(counts[1] - counts[0]) / args.calls:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
