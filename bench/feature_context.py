"""What each resilience feature's pieces cost inside a real call, not in a loop by itself.

``feature_cost.py`` times the features over an in-process provider, and a piece
of code timed alone in a loop runs with its code and data in the CPU's caches.
Inside a call over HTTP the HTTP stack, the event loop and the kernel run
between two calls' cache keys and evict them, and each piece costs several
times as much (and the ranking of two implementations can flip: see
docs/benchmarks.md, "session 4"). This wraps the pieces with
``time.perf_counter_ns`` and runs every feature on (a two-target fallback route,
a rate limit, the response cache with a miss per call, a hedge that never
fires) against ``bench/mock_server.py``, then prints each piece's µs per call.
The wrappers cost ~0.1 µs each, nested ones add up: compare rows, not totals.

    uv run python bench/feature_context.py [--calls 5000] [--concurrency 20]
    uv run python bench/feature_context.py --key-limit 0   # every memory key a SHA-256

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from client_overhead import MESSAGES, Server, run_batch
from resilience import full_config

import relaykit
from relaykit import client as client_module
from relaykit import hedge_timer, memory_limiter, response_cache, routing

#: piece name -> nanoseconds spent in it over the measured calls
SPENT: dict[str, int] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` with a wrapper adding its time to ``SPENT[label]``."""
    original: Callable[..., Any] = getattr(owner, name)
    clock = time.perf_counter_ns
    SPENT[label] = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += clock() - started

    setattr(owner, name, wrapper)


def instrument(key_limit: int | None) -> None:
    """Wrap the pieces (module globals are looked up at call time, so wrapping works)."""
    if key_limit is not None:
        response_cache.MEMORY_KEY_LIMIT = key_limit
    timed(client_module, "canonical_request", "cache: canonical form")
    timed(response_cache, "_fast_canonical", "  its JSON")
    timed(client_module, "lookup_key", "cache: lookup key")
    timed(response_cache, "_sha256", "  SHA-256 (longer forms only)")
    timed(response_cache.MemoryCache, "get_nowait", "cache get (a miss)")
    timed(response_cache.MemoryCache, "put_nowait", "cache put (evicting the oldest)")
    # the usual limit is taken and settled inline in Client._attempt: the limiter's part
    timed(memory_limiter.MemoryRateLimiter, "acquire_nowait", "limit: acquire_nowait")
    timed(memory_limiter.MemoryRateLimiter, "reconcile_nowait", "limit: reconcile_nowait")
    timed(client_module, "hedged", "hedge set-up (hedged)")
    timed(hedge_timer.HedgeTimer, "_dropped", "hedge timer: entry dropped")
    timed(routing.Router, "plan", "route plan")


async def measure(calls: int, concurrency: int) -> int:
    """Run the calls; return how many were measured."""
    server = Server(None, event_writes=False, pin=True)
    counter = itertools.count()
    try:
        async with relaykit.Client(full_config(server.base_url, hedge=1.0)) as client:

            async def call() -> str:
                # A new prompt each time: the cache is consulted and filled, never hit.
                prompt = {"role": "user", "content": f"question {next(counter)}"}
                return (await client.chat("main", [*MESSAGES[:-1], prompt], max_tokens=64)).text

            await run_batch(call, 2000, concurrency)  # warm up, and fill the cache
            for label in SPENT:
                SPENT[label] = 0
            await run_batch(call, calls, concurrency)
    finally:
        server.close()
    return calls


def main() -> None:
    """Instrument, run, print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument(
        "--key-limit",
        type=int,
        help="response_cache.MEMORY_KEY_LIMIT (0: every key a SHA-256, as before session 5)",
    )
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = p.parse_args()
    instrument(args.key_limit)
    n = anyio.run(measure, args.calls, args.concurrency, backend=args.backend)
    print(f"{n} calls at concurrency {args.concurrency}, every feature on, µs per call:\n")
    print("| piece | µs/call |")
    print("|---|---:|")
    for name, spent in SPENT.items():
        print(f"| {name} | {spent / n / 1000:.2f} |")


if __name__ == "__main__":
    main()
