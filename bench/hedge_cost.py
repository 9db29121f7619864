"""What hedging costs a call when it does not fire, without HTTP in the way.

Two entered clients over ``relaykit.testing.FakePlugin`` (an in-process provider,
so the few tens of µs hedging adds are not lost in the noise of an HTTP call):
a two-target route without hedging, and the same route with ``hedge_after = 1``
(the fake answers in microseconds, so the hedge never fires). Alternating
rounds; the median client CPU µs per call of each, under asyncio and trio.

    uv run python bench/hedge_cost.py [--calls 3000] [--rounds 7]

To measure another version of the core (say, before a change)::

    git archive <commit> core/src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/core/src uv run python bench/hedge_cost.py

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Any

import anyio

import relaykit
from relaykit.testing import FakePlugin


async def per_call(calls: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per ``chat`` for each variant."""
    variants: dict[str, dict[str, Any]] = {
        "two-target route": {"targets": ["a/m", "b/m"]},
        "the same, hedge_after = 1 s": {"targets": ["a/m", "b/m"], "hedge_after": 1.0},
    }
    spent: dict[str, list[float]] = {name: [] for name in variants}
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                relaykit.Client(
                    {"storage": {"backend": "none"}, "models": {"g": route}},
                    plugins=[FakePlugin("a"), FakePlugin("b")],
                )
            )
            for name, route in variants.items()
        }
        for client in clients.values():  # warm up
            for _ in range(300):
                await client.chat("g", "hi")
        for _ in range(rounds):
            for name, client in clients.items():
                started = time.process_time()
                for _ in range(calls):
                    await client.chat("g", "hi")
                spent[name].append((time.process_time() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in spent.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    print("| backend | two-target route µs/call | with hedge_after = 1 s | hedging adds |")
    print("|---|---|---|---|")
    for backend in ("asyncio", "trio"):
        r = anyio.run(per_call, args.calls, args.rounds, backend=backend)
        plain, hedged = r.values()
        print(f"| {backend} | {plain:.1f} | {hedged:.1f} | {hedged - plain:+.1f} |")


if __name__ == "__main__":
    main()
