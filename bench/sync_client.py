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
streamed event cost before). ``batch_results`` reads a batch of
:data:`BATCH_ITEMS` results to the end, N/50 times; its row is per result.

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
#: the results each read of the batch gives
BATCH_ITEMS = 500


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
    batch_results(n // 50, args.rounds, backend)

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


def batch_results(reads: int, rounds: int, backend: str) -> None:
    """The row of a batch's results, read ``reads`` times a round: µs per result."""
    fake = FakePlugin()  # its batches are shared by the clients of both sides
    items = [{"custom_id": f"i{i}", "prompt": "hi"} for i in range(BATCH_ITEMS)]
    results = reads * BATCH_ITEMS

    def async_read(batch_id: str) -> Callable[[], None]:
        async def main() -> None:
            async with relaykit.Client(CONFIG, plugins=[fake]) as client:
                for _ in range(reads):
                    async for _result in client.batch_results(batch_id):
                        pass

        return lambda: anyio.run(main, backend=backend)

    with relaykit.SyncClient(CONFIG, plugins=[fake], backend=backend) as client:
        batch_id = client.submit_batch("fake/m", items).id
        client.batch(batch_id)  # the fake runs it on the first look

        def sync_read() -> None:
            for _ in range(reads):
                for _result in client.batch_results(batch_id):
                    pass

        sync_read()  # warm-up
        rows: list[tuple[float, float, float, float]] = []
        for _ in range(rounds):
            aw, ac = timed(async_read(batch_id), results)
            sw, sc = timed(sync_read, results)
            rows.append((aw, sw, sw - aw, sc - ac))
    aw, sw, dw, dc = (statistics.median(col) for col in zip(*rows, strict=True))
    print(f"| batch_results (per result) | {aw:.1f} | {sw:.1f} | {dw:.1f} | {dc:.1f} |")


if __name__ == "__main__":
    main()
