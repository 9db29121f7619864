"""What stamina would cost a call that succeeds at once, and what importing it costs.

relaykit makes the first attempt itself and enters stamina's ``retry_context``
only after a failure ``[retry] on`` names (see core/src/relaykit/retry.py). This
measures why: client CPU per call for a no-op attempt made directly and made
inside ``stamina.retry_context`` (the way a success on the first try would pay
for tenacity's objects), under asyncio and trio; and the wall time of
``import stamina`` in a fresh interpreter, after ``import relaykit``.

    uv run python bench/retry_cost.py [--calls 20000]

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import anyio
import stamina


async def _attempt() -> int:
    return 1


def _never(error: Exception) -> bool:
    return True


async def direct(calls: int) -> None:
    """The first attempt as relaykit makes it: a plain await."""
    for _ in range(calls):
        await _attempt()


async def in_stamina(calls: int) -> None:
    """The same attempt inside stamina's retry loop (relaykit's defaults)."""
    for _ in range(calls):
        async for attempt in stamina.retry_context(
            on=_never, attempts=3, timeout=None, wait_initial=0.5, wait_max=10, wait_jitter=0.5
        ):
            with attempt:
                await _attempt()


async def per_call(calls: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per call of each way, over alternating rounds."""
    spent: dict[str, list[float]] = {"direct": [], "stamina": []}
    for _ in range(rounds):
        for name, way in (("direct", direct), ("stamina", in_stamina)):
            started = time.process_time()
            await way(calls)
            spent[name].append((time.process_time() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in spent.items()}


def import_ms(runs: int = 5) -> float:
    """Median wall ms of ``import stamina`` after ``import relaykit``, in fresh processes."""
    code = (
        "import time, relaykit; t = time.perf_counter(); import stamina; "
        "print((time.perf_counter() - t) * 1000)"
    )
    return statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print("| backend | direct µs/call | in stamina.retry_context µs/call |")
    print("|---|---|---|")
    for backend in ("asyncio", "trio"):
        r = anyio.run(per_call, args.calls, args.rounds, backend=backend)
        print(f"| {backend} | {r['direct']:.2f} | {r['stamina']:.1f} |")
    print(f"\nimport stamina after import relaykit: {import_ms():.0f} ms (median of 5 processes)")


if __name__ == "__main__":
    main()
