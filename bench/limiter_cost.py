"""What the built-in limiter adds to a call's client CPU, measured in paired blocks.

    uv run python bench/limiter_cost.py                    # fake and aiohttp, ~1 minute
    uv run python bench/limiter_cost.py --providers fake --blocks 40

bench/observability.py runs each scenario for thousands of calls in a row: on a
shared machine the load drifts between rounds by more than the limiter costs.
Here a plain client and one per limiter scenario stay open in one event loop
and take turns in short blocks of calls, so the load falls on all of them
alike; each block's CPU time (``time.thread_time``) is compared with the plain
block beside it, and the median of those differences is what the limits add.
Scenarios: ``unbudgeted`` (RPM and TPM) and ``budgeted`` (RPM, TPM and a USD
budget: the observability bench's ``limiter``).

To measure another version, put its sources first on ``PYTHONPATH`` (see
bench/observability.py) and alternate the two runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.lowlevel

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock

KEY = "sk-bench-0123456789abcdef0123"
PROMPT = "Summarise: my email is jane@example.com and my card is 4111 1111 1111 1111. Thanks!"
LIMITS: dict[str, dict[str, Any]] = {
    "plain": {},
    "unbudgeted": {"*": {"rpm": 10**9, "tpm": 10**12}},
    "budgeted": {"*": {"rpm": 10**9, "tpm": 10**12, "budget_usd": 10**9}},
}


async def measure(
    base: dict[str, Any], model: str, blocks: int, size: int
) -> dict[str, list[float]]:
    """CPU seconds per call of each scenario, one sample per block of ``size`` calls."""
    samples: dict[str, list[float]] = {label: [] for label in LIMITS}
    async with AsyncExitStack() as stack:
        clients = {}
        for label, limits in LIMITS.items():
            config = {**base, "limits": limits} if limits else base
            clients[label] = await stack.enter_async_context(
                relaykit.Client(config, plugins=[FakePlugin()])
            )
        for client in clients.values():
            for i in range(50):
                await client.chat(model, f"{PROMPT} (warm-up {i})", max_tokens=64)
        gc.collect()
        gc.freeze()  # see bench/observability.py: full passes over import-time objects
        n = 0
        for _ in range(blocks):
            for label, client in clients.items():
                start = time.thread_time()
                for _ in range(size):
                    n += 1
                    await client.chat(model, f"{PROMPT} (request {n})", max_tokens=64)
                    # a real call yields to the loop; the fake never does (see observability.py)
                    await anyio.lowlevel.checkpoint()
                samples[label].append((time.thread_time() - start) / size)
        gc.unfreeze()
    return samples


def report(provider: str, samples: dict[str, list[float]]) -> None:
    plain = samples["plain"]
    print(f"\n{provider}: {len(plain)} blocks, µs of CPU per call (median [min..max])")
    print(f"  plain      {statistics.median(plain) * 1e6:7.1f}")
    for label, values in samples.items():
        if label == "plain":
            continue
        added = [(v - p) * 1e6 for v, p in zip(values, plain, strict=True)]
        print(
            f"  {label:<10} {statistics.median(values) * 1e6:7.1f}   added, paired:"
            f" {statistics.median(added):+6.2f} [{min(added):+.1f}..{max(added):+.1f}]"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--providers", default="fake,aiohttp", help="fake and/or aiohttp")
    parser.add_argument("--blocks", type=int, default=30, help="blocks per scenario")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, relaykit {relaykit.__version__}")
    common: dict[str, Any] = {"storage": {"backend": "none"}}
    with OpenAIMock(api_key=KEY) as mock:
        runs = {
            "fake": (common, "fake/m", 100),
            "aiohttp": (
                {**common, "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}}},
                "openai/gpt-4o-mini",
                20,
            ),
        }
        for provider in args.providers.split(","):
            base, model, size = runs[provider.strip()]
            report(provider, anyio.run(measure, base, model, args.blocks, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
