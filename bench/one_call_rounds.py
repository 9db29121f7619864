"""What the one-call benchmarks share (``embeddings.py``, ``rerank.py``): each client
makes the same call against ``mock_server.py``, checked once, then measured in
rounds that alternate their order.

Each cell is the median over rounds of client CPU µs per call, and the ratio to
the baseline client as the median of per-round ratios. Results go to
bench/results/ as JSON and out as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from client_overhead import Server, machine, run_batch

RESULTS = Path(__file__).resolve().parent / "results"


async def alternate(
    clients: Mapping[str, Any],
    call: Callable[[Any], Callable[[], Awaitable[Any]]],
    expected: Any,
    args: argparse.Namespace,
    baseline: str,
    *,
    answer: Callable[[Any], Any] = lambda got: got,
) -> dict[str, Any]:
    """Warm every client up (``answer`` of its first answer must equal ``expected``),
    then run ``args.rounds`` rounds of ``args.calls`` calls each, alternating the
    order. ``call(client)`` is the client's bound method to measure."""
    async with AsyncExitStack() as stack:  # exits in reverse: relaykit's task groups nest
        for client in clients.values():
            await stack.enter_async_context(client)
        for name, client in clients.items():
            if answer(await call(client)()) != expected:
                raise SystemExit(f"{name} answered differently")
            await run_batch(call(client), args.warmup, args.concurrency)
        rounds: dict[str, list[float]] = {name: [] for name in clients}
        order = list(clients.items())
        for r in range(args.rounds):
            for name, client in order if r % 2 == 0 else order[::-1]:
                cpu, _ = await run_batch(call(client), args.calls, args.concurrency)
                rounds[name].append(cpu / args.calls * 1e6)
    base = rounds[baseline]
    return {
        name: {
            "cpu_us_per_call": statistics.median(values),
            "ratio_to_baseline": statistics.median(
                v / b for v, b in zip(values, base, strict=True)
            ),
            "rounds": values,
        }
        for name, values in rounds.items()
    }


def parser(description: str, calls: int, warmup: int) -> argparse.ArgumentParser:
    """The options every one-call benchmark takes."""
    found = argparse.ArgumentParser(description=description)
    found.add_argument("--calls", type=int, default=calls, help="calls per client per round")
    found.add_argument("--rounds", type=int, default=5)
    found.add_argument("--warmup", type=int, default=warmup)
    found.add_argument("--concurrency", type=int, default=1)
    found.add_argument("--url", help="a mock_server.py already running (its /v1 URL)")
    return found


def run(
    name: str,
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace, Server], Awaitable[dict[str, Any]]],
    title: str,
    baseline: str,
) -> None:
    """Start the server, ``measure``, then save the JSON and print the table."""
    server = Server(args.url, event_writes=False, pin=True)
    try:
        cells = anyio.run(measure, args, server)
    finally:
        server.close()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join([f"bench/{name}.py", *sys.argv[1:]]),
        "calls": args.calls,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "clients": cells,
    }
    out = RESULTS / f"{name}-{result['when'].replace(':', '')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(
        table(
            f"{title}; concurrency {args.concurrency}, {args.calls} calls x {args.rounds} rounds",
            cells,
            baseline,
        )
    )


def table(title: str, cells: Mapping[str, Any], baseline: str) -> str:
    """The cells as a markdown table under ``title``."""
    lines = [title, "", f"| client | CPU µs per call | x {baseline} |", "|---|---:|---:|"]
    for name, cell in cells.items():
        lines.append(
            f"| {name} | {cell['cpu_us_per_call']:,.0f} | {cell['ratio_to_baseline']:.2f} |"
        )
    return "\n".join(lines)
