"""What the blocking facade costs per call: SyncClient next to Client, through the fake
provider (no HTTP, so the thread hop is not lost in the network's cost).

For ``chat`` and ``stream`` (iterated to the end; ``stream (long)`` ~200 events, N/10
calls, and from the two the added cost per event), N calls one after another through
``relaykit.Client`` in ``anyio.run`` and through ``relaykit.SyncClient`` from the main
thread; the medians over rounds of wall and CPU microseconds per call, and the
difference. ``hop (SyncClient)`` is one of SyncClient's calls of an empty coroutine:
the thread hop alone (a chat makes one; a stream one to open and one to close, its
events read ahead in the loop); ``hop (portal.call)`` is anyio's
``BlockingPortal.call`` of the same, for comparison (what each call and each
streamed event cost before).

    uv run python bench/sync_client.py
    uv run python bench/sync_client.py --calls 2000 --rounds 7 --backend trio

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio.from_thread import start_blocking_portal

import relaykit
from relaykit.sync_client import _call
from relaykit.testing import FakePlugin

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}
MESSAGES = [{"role": "user", "content": "hello there"}]
#: the fake provider echoes the last user message, 8 characters an event: ~200 events
LONG = [{"role": "user", "content": "x" * 8 * 200}]
PROMPTS = {"chat": MESSAGES, "stream": MESSAGES, "stream (long)": LONG}


def timed(run: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per call of ``run`` making ``calls`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


def async_run(mode: str, calls: int, backend: str) -> Callable[[], None]:
    async def main() -> None:
        async with relaykit.Client(CONFIG, plugins=[FakePlugin()]) as client:
            for _ in range(calls):
                if mode == "chat":
                    await client.chat("fake/m", MESSAGES)
                else:
                    async with client.stream("fake/m", PROMPTS[mode]) as s:
                        async for _event in s:
                            pass

    return lambda: anyio.run(main, backend=backend)


def sync_run(client: relaykit.SyncClient, mode: str, calls: int) -> Callable[[], None]:
    def main() -> None:
        for _ in range(calls):
            if mode == "chat":
                client.chat("fake/m", MESSAGES)
            else:
                with client.stream("fake/m", PROMPTS[mode]) as s:
                    for _event in s:
                        pass

    return main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    n, backend = args.calls, args.backend

    print(f"{n} calls x {args.rounds} rounds, backend {backend}, fake provider")
    print("| mode | Client wall µs | SyncClient wall µs | added wall µs | added CPU µs |")
    print("|---|---|---|---|---|")
    added: dict[str, tuple[float, float]] = {}
    with relaykit.SyncClient(CONFIG, plugins=[FakePlugin()], backend=backend) as client:
        events = {}
        for mode in ("stream", "stream (long)"):
            with client.stream("fake/m", PROMPTS[mode]) as s:
                events[mode] = sum(1 for _ in s)
        for mode in PROMPTS:
            calls = n // 10 if mode == "stream (long)" else n
            sync_run(client, mode, 20)()  # warm-up
            rows: list[tuple[float, float, float, float]] = []
            for _ in range(args.rounds):
                aw, ac = timed(async_run(mode, calls, backend), calls)
                sw, sc = timed(sync_run(client, mode, calls), calls)
                rows.append((aw, sw, sw - aw, sc - ac))
            aw, sw, dw, dc = (statistics.median(col) for col in zip(*rows, strict=True))
            added[mode] = (dw, dc)
            print(f"| {mode} | {aw:.0f} | {sw:.0f} | {dw:.0f} | {dc:.0f} |")
    more = events["stream (long)"] - events["stream"]
    (lw, lc), (sw, sc) = added["stream (long)"], added["stream"]
    print(
        f"| per event ({events['stream']} or {events['stream (long)']} events) | | "
        f"| {(lw - sw) / more:.1f} | {(lc - sc) / more:.1f} |"
    )

    async def nothing() -> None:
        pass

    with relaykit.SyncClient(CONFIG, backend=backend) as client:
        loop = client._ready("chat")[0]
        hops = [timed(lambda: [_call(loop, nothing) for _ in range(n)], n) for _ in range(6)]
    wall, cpu = (statistics.median(col) for col in zip(*hops[1:], strict=True))
    print(f"| hop (SyncClient) | | | {wall:.0f} | {cpu:.0f} |")
    with start_blocking_portal(backend) as portal:
        hops = [timed(lambda: [portal.call(nothing) for _ in range(n)], n) for _ in range(6)]
    wall, cpu = (statistics.median(col) for col in zip(*hops[1:], strict=True))
    print(f"| hop (portal.call) | | | {wall:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
