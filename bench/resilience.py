"""What the resilience features cost when nothing fails, and what they buy when things do.

Part 1, overhead: client CPU per request for ``Client.chat`` with default
settings against the same call with every resilience feature switched on (a
two-target route, breakers, retries, the response cache with a miss per call, a
rate limit), without hedging, with a hedge that never fires (1 s) and with a
hedge at p95 (which fires on the slowest ~5%, by design), against
``bench/mock_server.py`` in its own process. Alternating rounds; the median of
per-round ratios.

Part 2, faults: a primary deployment that fails 30% of calls (503, 429, a reset
connection or a truncated body, at random) and a healthy fallback, both relaykit
loopback mocks. Every request must succeed; prints attempts and p50/p99 latency.

    uv run python bench/resilience.py [--requests 2000] [--concurrency 20] [--backend trio]
    uv run python bench/resilience.py --by-feature --concurrency 1
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from client_overhead import API_KEY, MESSAGES, MODEL, Server, run_batch

import relaykit
from relaykit.testing import OpenAIMock, Reply

FAULTS = (
    Reply.failure(503, "overloaded"),
    Reply.failure(429, "slow down", retry_after=0.01),
    Reply(connection_fault="reset"),
    Reply(stream_fault="truncate"),  # a stream whose body ends before any content
)


def plain_config(base_url: str) -> dict[str, Any]:
    """Default settings, no call log."""
    return {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": base_url, "api_key": API_KEY}},
    }


def full_config(base_url: str, *, hedge: float | str | None = "p95") -> dict[str, Any]:
    """Every resilience feature on; only a p95 hedge fires (on the slowest ~5%)."""
    cfg = plain_config(base_url)
    cfg["providers"]["backup"] = {"type": "openai", "base_url": base_url, "api_key": API_KEY}
    route: dict[str, Any] = {
        "targets": [f"openai/{MODEL}", f"backup/{MODEL}"],
        "strategy": "fallback",
    }
    if hedge is not None:
        route["hedge_after"] = hedge
    cfg["models"] = {"main": route}
    cfg["cache"] = {"enabled": True, "deterministic_only": False}
    cfg["limits"] = {"*": {"rpm": 10_000_000, "tpm": 10_000_000_000}}
    return cfg


def variants(base_url: str) -> dict[str, dict[str, Any]]:
    """The configs part 1 compares: plain first (the baseline), then everything on."""
    return {
        "plain": plain_config(base_url),
        "all but hedging": full_config(base_url, hedge=None),
        "all, hedge_after = 1 s (never fires)": full_config(base_url, hedge=1.0),
        "all, hedge_after = p95": full_config(base_url),
    }


def feature_variants(base_url: str) -> dict[str, dict[str, Any]]:
    """``--by-feature``: the features switched on one at a time, each on top of the last."""
    full = full_config(base_url, hedge=1.0)
    route = {**plain_config(base_url), "providers": full["providers"]}
    route["models"] = {
        "main": {k: v for k, v in full["models"]["main"].items() if k != "hedge_after"}
    }
    limits = {**route, "limits": full["limits"]}
    cache = {**limits, "cache": full["cache"]}
    return {
        "plain": plain_config(base_url),
        "+ a two-target route (breakers, retries)": route,
        "+ a rate limit": limits,
        "+ the response cache (a miss per call)": cache,
        "+ hedge_after = 1 s (never fires)": full,
    }


async def overhead(
    configs: dict[str, dict[str, Any]], requests: int, concurrency: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Median client CPU µs per call for each variant, and its ratio to the first (plain)."""
    counter = iter(range(10**9))
    stack = contextlib.AsyncExitStack()
    # Entered, as applications use them: an entered client runs hedges from one
    # timer task; a client that is not entered needs a task per hedged call.
    clients = {
        name: await stack.enter_async_context(relaykit.Client(cfg)) for name, cfg in configs.items()
    }
    # Count the calls each hedging client sends to its backup: the hedges that fired.
    hedges: Counter[str] = Counter()
    for name, client in clients.items():
        if "hedge_after" in configs[name].get("models", {}).get("main", {}):
            _count_backup_calls(client, name, hedges)
    calls = {}
    for name, client in clients.items():
        model = f"openai/{MODEL}" if name == "plain" else "main"

        async def call(client: relaykit.Client = client, model: str = model) -> str:
            # A new prompt each time: the cache is consulted and filled, never hit.
            messages = [*MESSAGES[:-1], {"role": "user", "content": f"question {next(counter)}"}]
            return (await client.chat(model, messages, max_tokens=64)).text

        calls[name] = call
    try:
        for call in calls.values():
            await run_batch(call, 200, concurrency)  # warm up
        hedges.clear()
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        ratios: dict[str, list[float]] = {name: [] for name in calls}
        order = list(calls)
        shuffle = random.Random(0).shuffle
        for _ in range(rounds):
            # Alternating, so load changes hit every variant alike, and in a new order
            # each round: on a busy machine the slot in the round moved the same
            # config by up to 10%.
            shuffle(order)
            spent = {
                name: (await run_batch(calls[name], requests, concurrency))[0] for name in order
            }
            for name in order:
                cpu[name].append(spent[name] / requests * 1e6)
                ratios[name].append(spent[name] / spent["plain"])
    finally:
        await stack.aclose()
    return {
        name: {
            "us": statistics.median(cpu[name]),
            "ratio": statistics.median(ratios[name]),
            "hedged": hedges[name] / (requests * rounds),
        }
        for name in calls
    }


def _count_backup_calls(client: relaykit.Client, name: str, hedges: Counter[str]) -> None:
    router = client._router
    started = router.started

    def counting(target: Any) -> None:
        if target.provider == "backup":
            hedges[name] += 1
        started(target)

    router.started = counting  # type: ignore[method-assign]


class FlakyMock(OpenAIMock):
    """An OpenAI mock that answers a fraction of calls with a random fault."""

    def __init__(self, failure_rate: float, seed: int = 1) -> None:
        super().__init__(api_key=API_KEY)
        self._rng = random.Random(seed)
        self._rate = failure_rate

    def default_reply(self, last_user_text: str) -> Reply:
        if self._rng.random() < self._rate:
            return self._rng.choice(FAULTS)
        return super().default_reply(last_user_text)


async def faults(requests: int, concurrency: int, failure_rate: float) -> dict[str, Any]:
    """Success rate, attempts and latency through a flaky primary and a healthy fallback."""
    with FlakyMock(failure_rate) as primary, OpenAIMock(api_key=API_KEY) as backup:
        config = {
            "storage": {"backend": "none"},
            "retry": {
                "attempts": 2,
                "initial_wait": 0.01,
                "max_wait": 0.05,
                "max_retry_after": 0.05,
            },
            # no cool-down, so the primary keeps taking its share of calls and faults
            "breaker": {"failures": 5, "reset_after": 1, "cool_down": 0},
            "providers": {
                "primary": {"type": "openai", "base_url": primary.base_url, "api_key": API_KEY},
                "backup": {"type": "openai", "base_url": backup.base_url, "api_key": API_KEY},
            },
            "models": {"main": {"targets": [f"primary/{MODEL}", f"backup/{MODEL}"]}},
        }
        latencies: list[float] = []
        attempts: Counter[int] = Counter()
        served: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        async with relaykit.Client(config) as client:

            async def one(i: int) -> None:
                started = time.perf_counter()
                try:
                    if i % 2:
                        r = await client.chat("main", f"call {i}")
                    else:
                        async with client.stream("main", f"call {i}") as s:
                            async for _ in s:
                                pass
                        r = s.response
                except relaykit.RelayError as e:
                    failures[type(e).__name__] += 1
                    return
                latencies.append(time.perf_counter() - started)
                attempts[r.attempts] += 1
                served[r.provider] += 1

            limiter = anyio.Semaphore(concurrency)

            async def bounded(i: int) -> None:
                async with limiter:
                    await one(i)

            async with anyio.create_task_group() as tg:
                for i in range(requests):
                    tg.start_soon(bounded, i)
        faults_seen = primary.server.stats.requests - sum(
            1 for r in primary.requests if r.method == "GET"
        )
    latencies.sort()
    return {
        "requests": requests,
        "succeeded": len(latencies),
        "failures": dict(failures),
        "attempts": dict(sorted(attempts.items())),
        "served": dict(served),
        "primary_requests": faults_seen,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
    }


async def main(args: argparse.Namespace) -> None:
    server = Server(None, event_writes=False, pin=True)
    configs = (feature_variants if args.by_feature else variants)(server.base_url)
    try:
        o = await overhead(configs, args.overhead_requests, args.concurrency, args.rounds)
    finally:
        server.close()
    print(f"concurrency {args.concurrency}, no faults:\n")
    print("| path | client CPU µs/call | ratio to plain | calls hedged |")
    print("|---|---|---|---|")
    for name, row in o.items():
        print(f"| {name} | {row['us']:.0f} | {row['ratio']:.3f}x | {row['hedged']:.1%} |")
    if args.by_feature:
        return
    f = await faults(args.requests, args.concurrency, args.failure_rate)
    print()
    print(
        f"{args.failure_rate:.0%} injected failures on the primary, a healthy fallback, "
        f"{f['requests']} calls (half streamed), concurrency {args.concurrency}:"
    )
    print(
        f"- succeeded: {f['succeeded']}/{f['requests']} ({f['succeeded'] / f['requests']:.1%}); "
        f"failures: {f['failures'] or 'none'}"
    )
    print(f"- attempts per call: {f['attempts']}")
    print(f"- served by: {f['served']}")
    print(f"- latency p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--requests", type=int, default=2000, help="calls in the fault run")
    p.add_argument("--overhead-requests", type=int, default=400, help="calls per overhead round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--failure-rate", type=float, default=0.3)
    p.add_argument(
        "--by-feature", action="store_true", help="part 1 only, adding one feature at a time"
    )
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    anyio.run(main, arguments, backend=arguments.backend)
