"""What each resilience feature adds to a call that does not fail, without HTTP in the way.

Entered clients over ``relaykit.testing.FakePlugin`` (an in-process provider),
so the few µs each feature costs are not lost in the noise of an HTTP call;
each variant adds one feature to the one before: one deployment; a two-target
fallback route (breakers, retries); a rate limit; the response cache (a new
prompt per call, so a miss and a fill); ``hedge_after = 1`` (the fake answers
in microseconds, so the hedge never fires). Alternating rounds in a shuffled
order; the median client CPU µs per call, and the median over rounds of what
each feature adds to the variant before it, under asyncio and trio. Divide the
added µs by the plain path's cost over HTTP (``bench/resilience.py``, or
``bench/client_overhead.py``) for the ratio the issue's target is about.

    uv run python bench/feature_cost.py [--calls 3000] [--rounds 7]

To measure another version of the core (say, before a change)::

    git archive <commit> core/src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/core/src uv run python bench/feature_cost.py

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import statistics
import time
from typing import Any

import anyio

import relaykit
from relaykit.testing import FakePlugin

ROUTE = {"targets": ["a/m", "b/m"]}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (model, config)
    "one deployment": ("a/m", {}),
    "+ two-target route": ("g", {"models": {"g": ROUTE}}),
    "+ rate limit": (
        "g",
        {"models": {"g": ROUTE}, "limits": {"*": {"rpm": 10**7, "tpm": 10**10}}},
    ),
    "+ response cache (miss)": (
        "g",
        {
            "models": {"g": ROUTE},
            "limits": {"*": {"rpm": 10**7, "tpm": 10**10}},
            "cache": {"enabled": True, "deterministic_only": False},
        },
    ),
    "+ hedge_after = 1 s": (
        "g",
        {
            "models": {"g": {**ROUTE, "hedge_after": 1.0}},
            "limits": {"*": {"rpm": 10**7, "tpm": 10**10}},
            "cache": {"enabled": True, "deterministic_only": False},
        },
    ),
}


async def per_call(calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per variant: the median CPU µs per ``chat``, and the median over rounds of
    what it adds to the variant before it (a difference within one round, so a
    load change between rounds does not show as a feature's cost)."""
    prompts = (f"question {i}" for i in itertools.count())
    names = list(VARIANTS)
    spent: dict[str, list[float]] = {name: [] for name in names}
    added: dict[str, list[float]] = {name: [] for name in names}
    # The fakes keep every request for tests to look at: cleared after each
    # variant's turn, or the growing heap sets off full collections (~50 ms each)
    # that land in whichever variant runs then.
    fakes = [FakePlugin("a"), FakePlugin("b")]
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                relaykit.Client({"storage": {"backend": "none"}, **config}, plugins=fakes)
            )
            for name, (_, config) in VARIANTS.items()
        }
        for name, client in clients.items():  # warm up
            for _ in range(300):
                await client.chat(VARIANTS[name][0], next(prompts))
        order = list(names)
        for _ in range(rounds):
            random.shuffle(order)
            this_round: dict[str, float] = {}
            for name in order:
                client, model = clients[name], VARIANTS[name][0]
                started = time.process_time()
                for _ in range(calls):
                    await client.chat(model, next(prompts))
                this_round[name] = (time.process_time() - started) / calls * 1e6
                for fake in fakes:
                    fake.calls.clear()
            for before, name in itertools.pairwise([names[0], *names]):
                spent[name].append(this_round[name])
                added[name].append(this_round[name] - this_round[before])
    return {
        name: (statistics.median(spent[name]), statistics.median(added[name])) for name in names
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    results = {
        b: anyio.run(per_call, args.calls, args.rounds, backend=b) for b in ("asyncio", "trio")
    }
    print("| variant | asyncio µs/call | adds | trio µs/call | adds |")
    print("|---|---|---|---|---|")
    for name in VARIANTS:
        cells = []
        for r in results.values():
            us, adds = r[name]
            cells += [f"{us:.1f}", f"{adds:+.1f}" if name != "one deployment" else ""]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
