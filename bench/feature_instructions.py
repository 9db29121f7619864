"""What each resilience feature adds to a call, in instructions counted by cachegrind.

``feature_cost.py``'s variants (an in-process fake provider; each adds one
feature to the one before), each run under valgrind's cachegrind twice, with
``--calls`` more calls the second time; the difference over ``--calls`` is the
cost of one call, without start-up, imports or warm-up. Instruction counts
barely move with the machine's load, so they show a change of a few hundred
nanoseconds that timed rounds cannot; they are not time (a cache miss costs
more than an add), so read them next to ``feature_cost.py``, not instead of it.

    uv run python bench/feature_instructions.py                  # asyncio and trio, ~4 min
    uv run python bench/feature_instructions.py --backends trio

To count another version of the core, as with ``feature_cost.py``::

    PYTHONPATH=/tmp/before/core/src uv run python bench/feature_instructions.py

Needs ``valgrind`` on the PATH.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
from pathlib import Path

import anyio
from feature_cost import VARIANTS
from instructions import cachegrind

import relaykit
from relaykit.testing import FakePlugin

WARMUP = 1200  # past the response cache's 1,024 entries, so every measured call evicts one


async def child(name: str, calls: int) -> None:
    """What the measured process runs: a warm-up, then ``calls`` calls."""
    model, config = VARIANTS[name]
    prompts = (f"question {i}" for i in itertools.count())
    async with relaykit.Client(
        {"storage": {"backend": "none"}, **config}, plugins=[FakePlugin("a"), FakePlugin("b")]
    ) as client:
        for _ in range(WARMUP + calls):
            await client.chat(model, next(prompts))


def instructions(name: str, calls: int, backend: str) -> int:
    """Instructions the whole child process executed for ``calls`` measured calls."""
    # the same hash seed each run, so both runs of a pair do the same work
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return cachegrind([str(Path(__file__)), "--child", name, str(calls), backend], env)


def main() -> None:
    """Count each variant's instructions per call and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default="asyncio,trio")
    p.add_argument("--calls", type=int, default=2000, help="calls in the difference")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # VARIANT CALLS BACKEND
    args = p.parse_args()
    if args.child:
        name, calls, backend = args.child
        anyio.run(child, name, int(calls), backend=backend)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    backends = args.backends.split(",")
    print("| variant | " + " | ".join(f"{b} instructions/call | adds" for b in backends) + " |")
    print("|---|" + "---|---|" * len(backends))
    per_call: dict[str, dict[str, float]] = {b: {} for b in backends}
    for name in VARIANTS:
        cells = []
        for backend in backends:
            low = instructions(name, 1000, backend)
            high = instructions(name, 1000 + args.calls, backend)
            per_call[backend][name] = n = (high - low) / args.calls
            before = list(per_call[backend].values())[-2:-1]
            cells += [f"{n / 1e3:.1f} k", f"{(n - before[0]) / 1e3:+.1f} k" if before else ""]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
