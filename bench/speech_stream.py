"""Time to the first chunk of streamed speech: relaykit next to the raw HTTP clients.

Each client asks ``relaykit.testing.OpenAIMock`` (a loopback server in a thread
of this process) for the same speech, ``pcm``, the audio sent with chunked
transfer encoding in 4 KiB chunks as OpenAI sends it, and times from the call's
start to the first chunk in hand, then reads the rest (~0.4 MB):

- raw httpx: ``client.stream("POST", ...)`` and ``aiter_bytes()``;
- relaykit (httpx): ``Client.stream_speech`` with default settings (retries,
  breakers, first-token and idle timeouts; no storage), through relaykit-openai,
  its transport pinned to httpx;
- raw aiohttp, and relaykit (aiohttp) (``[http] transport = "auto"``: aiohttp
  under asyncio when relaykit-aiohttp is installed), when aiohttp is.

Compare each relaykit row with the raw client under it: relaykit on aiohttp
against raw httpx compares the libraries, not relaykit.

Rounds alternate their order; each cell is the median over rounds of the median
(and 90th percentile) time to first chunk, in µs. The server shares this
process's interpreter, so its share is in both columns alike. The CPU column
is the event loop thread's CPU time (``time.thread_time()``, so without the
server's thread) per whole call, the median over rounds, and its ratio to raw
httpx's the median of per-round ratios.

    uv run python bench/speech_stream.py      # ~20 s
    uv run python bench/speech_stream.py --backend trio   # httpx clients only
    nox -s speech-stream

Never fails on a number. Writes JSON to bench/results/ and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

import relaykit
from relaykit.testing import OpenAIMock

KEY = "sk-bench-0123456789"
TEXT = "A voice app should start speaking before the whole answer is spoken. " * 2
BODY = {"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm"}


async def _raw(http: httpx.AsyncClient, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    first = 0.0
    size = 0
    async with http.stream("POST", url, json=BODY) as r:
        async for chunk in r.aiter_bytes():
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, size


async def _raw_aiohttp(session: Any, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    first = 0.0
    size = 0
    async with session.post(url, json=BODY) as r:
        async for chunk in r.content.iter_any():
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, size


async def _relaykit(client: relaykit.Client) -> tuple[float, int]:
    started = time.perf_counter()
    first = 0.0
    size = 0
    async with client.stream_speech("openai/tts-1", TEXT, voice="alloy", format="pcm") as audio:
        async for chunk in audio:
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, size


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    rounds: dict[str, list[list[float]]] = {}
    cpu: dict[str, list[float]] = {}
    with OpenAIMock(api_key=KEY) as mock:

        def config(transport: str) -> dict[str, Any]:
            return {
                "storage": {"backend": "none"},
                "http": {"transport": transport},
                "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
            }

        url = f"{mock.base_url}/audio/speech"
        headers = {"authorization": f"Bearer {KEY}"}
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(headers=headers))
            pinned = await stack.enter_async_context(relaykit.Client(config("httpx")))
            calls: dict[str, Callable[[], Awaitable[tuple[float, int]]]] = {
                "raw httpx": lambda: _raw(http, url),
                "relaykit (httpx)": lambda: _relaykit(pinned),
            }
            try:
                import aiohttp

                import relaykit_aiohttp  # noqa: F401
            except ImportError:
                aiohttp = None  # type: ignore[assignment]
            if aiohttp is not None and args.backend == "asyncio":  # aiohttp: asyncio only
                session = await stack.enter_async_context(aiohttp.ClientSession(headers=headers))
                auto = await stack.enter_async_context(relaykit.Client(config("auto")))
                calls["raw aiohttp"] = lambda: _raw_aiohttp(session, url)
                calls["relaykit (aiohttp)"] = lambda: _relaykit(auto)
            rounds = {name: [] for name in calls}
            cpu = {name: [] for name in calls}
            sizes = {name: (await call())[1] for name, call in calls.items()}  # warm up
            assert len(set(sizes.values())) == 1, sizes
            for i in range(args.rounds):
                order = list(calls) if i % 2 == 0 else list(reversed(calls))
                for name in order:
                    started = time.thread_time()
                    rounds[name].append([(await calls[name]())[0] for _ in range(args.calls)])
                    cpu[name].append((time.thread_time() - started) / args.calls)
    cells = {}
    for name, per_round in rounds.items():
        cells[name] = {
            "ttfc_median_us": statistics.median(statistics.median(r) * 1e6 for r in per_round),
            "ttfc_p90_us": statistics.median(
                statistics.quantiles(r, n=10)[-1] * 1e6 for r in per_round
            ),
            "cpu_us": statistics.median(cpu[name]) * 1e6,
            "cpu_ratio": statistics.median(
                a / b for a, b in zip(cpu[name], cpu["raw httpx"], strict=True)
            ),
        }
    return {
        "backend": args.backend,
        "audio_bytes": sizes["raw httpx"],
        "calls": args.calls,
        "cells": cells,
    }


def main() -> None:
    found = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    found.add_argument("--calls", type=int, default=100)
    found.add_argument("--rounds", type=int, default=5)
    found.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = found.parse_args()
    result = anyio.run(measure, args, backend=args.backend)
    suffix = "" if args.backend == "asyncio" else f"-{args.backend}"
    out = Path(__file__).parent / "results" / f"speech_stream{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(
        f"{args.backend}: time to first chunk and loop-thread CPU per call,"
        f" {result['audio_bytes']:,} bytes of pcm, 4 KiB chunks\n"
    )
    print("| client | median µs | p90 µs | CPU µs/call | CPU / raw httpx |\n|---|---|---|---|---|")
    for name, cell in result["cells"].items():
        print(
            f"| {name} | {cell['ttfc_median_us']:.0f} | {cell['ttfc_p90_us']:.0f}"
            f" | {cell['cpu_us']:.0f} | {cell['cpu_ratio']:.2f}x |"
        )


if __name__ == "__main__":
    main()
