"""relaykit next to the clients people would otherwise use, against one mock server.

Clients: raw aiohttp, raw httpx, relaykit on httpx's transport, relaykit on
relaykit-aiohttp's transport, the openai SDK (``AsyncOpenAI`` at the mock) and
LiteLLM (``litellm.acompletion``) when installed. For each mode (chat, stream) and
concurrency, every client makes the same number of calls in alternating rounds
(after a warm-up); we report the median client CPU µs per call and req/s. Then:
import time and RSS of each library (fresh interpreters), RSS growth over 10,000
relaykit calls, and time to first token (client-observed) relaykit vs raw.

    uv run --group bench python bench/compare.py                  # asyncio, ~5 min
    uv run --group bench python bench/compare.py --rounds 3 --calls 100 --leak-calls 2000

Writes JSON to bench/results/ and a PNG chart to docs/compare.png. Never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from client_overhead import (
    API_KEY,
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    RawHttpx,
    Relaykit,
    Server,
    run_batch,
)

import relaykit

HERE = Path(__file__).resolve().parent
Call = Callable[[], Awaitable[str]]


class RawAiohttp:
    """The floor: aiohttp alone, compact JSON body, streams split into lines by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/chat/completions"
        self._headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
        payload = {"model": MODEL, "messages": MESSAGES, "max_completion_tokens": MAX_TOKENS}
        self._body = json.dumps(payload, separators=(",", ":")).encode()
        streamed = payload | {"stream": True, "stream_options": {"include_usage": True}}
        self._stream_body = json.dumps(streamed, separators=(",", ":")).encode()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RawAiohttp:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def chat(self) -> str:
        assert self._session is not None
        async with self._session.post(self._url, data=self._body, headers=self._headers) as r:
            data = json.loads(await r.read())
        return str(data["choices"][0]["message"]["content"])

    async def stream(self) -> str:
        assert self._session is not None
        parts: list[str] = []
        async with self._session.post(
            self._url, data=self._stream_body, headers=self._headers
        ) as r:
            buf = b""
            async for raw in r.content.iter_any():
                *lines, buf = (buf + raw).split(b"\n")
                for line in lines:
                    if not line.startswith(b"data: ") or line == b"data: [DONE]":
                        continue
                    for choice in json.loads(line[6:])["choices"]:
                        if content := choice["delta"].get("content"):
                            parts.append(content)
        return "".join(parts)


class OpenAISDK:
    """``openai.AsyncOpenAI`` with ``base_url`` at the mock."""

    def __init__(self, base_url: str) -> None:
        import openai

        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def __aenter__(self) -> OpenAISDK:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def chat(self) -> str:
        r = await self._client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_completion_tokens=MAX_TOKENS,
        )
        return r.choices[0].message.content or ""

    async def stream(self) -> str:
        parts: list[str] = []
        s = await self._client.chat.completions.create(  # type: ignore[call-overload]
            model=MODEL,
            messages=MESSAGES,
            max_completion_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in s:
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
        return "".join(parts)


class LiteLLM:
    """``litellm.acompletion`` against the mock as an OpenAI endpoint."""

    def __init__(self, base_url: str) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
        import litellm

        litellm.telemetry = False
        self._litellm = litellm
        self._kw: dict[str, Any] = {
            "model": f"openai/{MODEL}",
            "messages": MESSAGES,
            "max_tokens": MAX_TOKENS,
            "api_base": base_url,
            "api_key": API_KEY,
        }

    async def __aenter__(self) -> LiteLLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def chat(self) -> str:
        r = await self._litellm.acompletion(**self._kw)
        return str(r.choices[0].message.content)

    async def stream(self) -> str:
        parts: list[str] = []
        s = await self._litellm.acompletion(**self._kw, stream=True)
        async for chunk in s:
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
        return "".join(parts)


def _clients(base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "raw aiohttp": lambda: RawAiohttp(base_url),
        "raw httpx": lambda: RawHttpx(base_url),
        "relaykit (httpx)": lambda: Relaykit(base_url, "httpx"),
        "relaykit (aiohttp)": lambda: Relaykit(base_url, "auto"),
        "openai SDK": lambda: OpenAISDK(base_url),
    }
    try:
        import litellm  # noqa: F401
    except ImportError:
        print("litellm is not installed: skipped", file=sys.stderr)
    else:
        out["LiteLLM"] = lambda: LiteLLM(base_url)
    return out


async def measure(args: argparse.Namespace, server: Server) -> list[dict[str, Any]]:
    rows = []
    makers = _clients(server.base_url)
    for mode in args.modes:
        for conc in args.concurrency:
            opened = {name: await make().__aenter__() for name, make in makers.items()}
            cpu: dict[str, list[float]] = {n: [] for n in opened}
            rps: dict[str, list[float]] = {n: [] for n in opened}
            for c in opened.values():
                await run_batch(getattr(c, mode), max(50, conc), conc)  # warm-up
            for _ in range(args.rounds):
                for name, c in opened.items():
                    n = max(args.calls, conc)
                    t_cpu, t_wall = await run_batch(getattr(c, mode), n, conc)
                    cpu[name].append(t_cpu / n * 1e6)
                    rps[name].append(n / t_wall)
            for c in reversed(opened.values()):  # relaykit clients hold task groups: LIFO
                await c.__aexit__(None, None, None)
            for name in opened:
                rows.append(
                    {
                        "mode": mode,
                        "concurrency": conc,
                        "client": name,
                        "cpu_us": statistics.median(cpu[name]),
                        "rps": statistics.median(rps[name]),
                    }
                )
                print(rows[-1], file=sys.stderr)
    return rows


async def ttft(server: Server, n: int) -> dict[str, float]:
    """Median client-observed time to the first text: raw aiohttp vs relaykit (aiohttp)."""
    raw = RawAiohttp(server.base_url)
    rk = Relaykit(server.base_url, "auto")
    out: dict[str, list[float]] = {"raw aiohttp": [], "relaykit (aiohttp)": []}
    async with raw, rk:
        assert raw._session is not None
        assert rk._client is not None
        for _ in range(n):
            t = time.perf_counter()
            async with raw._session.post(
                raw._url, data=raw._stream_body, headers=raw._headers
            ) as r:
                async for line in r.content:
                    if b'"content"' in line:
                        out["raw aiohttp"].append(time.perf_counter() - t)
                        break
            t = time.perf_counter()
            async with rk._client.stream(f"openai/{MODEL}", MESSAGES, max_tokens=MAX_TOKENS) as s:
                async for event in s:
                    if isinstance(event, relaykit.TextDelta):
                        out["relaykit (aiohttp)"].append(time.perf_counter() - t)
                        break
    return {k: statistics.median(v) * 1e6 for k, v in out.items()}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def leak(server: Server, calls: int) -> dict[str, float]:
    """RSS before and after ``calls`` relaykit calls (half chat, half stream), after a warm-up."""
    rk = Relaykit(server.base_url, "auto")
    async with rk:
        await run_batch(rk.chat, 500, 20)
        await run_batch(rk.stream, 500, 20)
        before = _rss()
        await run_batch(rk.chat, calls // 2, 20)
        await run_batch(rk.stream, calls // 2, 20)
        after = _rss()
    return {"calls": calls, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20}


IMPORTS = {
    "raw httpx": "import httpx",
    "raw aiohttp": "import aiohttp",
    "relaykit + openai plugin": "import relaykit, relaykit_openai",
    "openai SDK": "import openai",
    "anthropic SDK": "import anthropic",
    "LiteLLM": "import litellm",
}


def imports(runs: int) -> list[dict[str, Any]]:
    """Median in-process import ms and RSS after it, one fresh interpreter per run."""
    probe = (
        "import os, time, json\nt = time.perf_counter()\n{stmt}\nt = time.perf_counter() - t\n"
        "with open('/proc/self/statm') as f:\n"
        "    rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "print(json.dumps([t, rss]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    rows = []
    for name, stmt in IMPORTS.items():
        samples = []
        for _ in range(runs + 1):
            out = subprocess.run(
                [sys.executable, "-c", probe.format(stmt=stmt)],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode:
                break
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if len(samples) > 1:
            samples = samples[1:]
            rows.append(
                {
                    "library": name,
                    "import_ms": statistics.median(s[0] for s in samples) * 1e3,
                    "rss_mb": statistics.median(s[1] for s in samples) / 2**20,
                }
            )
    return rows


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({(r["mode"], r["concurrency"]) for r in rows})
    clients = list(dict.fromkeys(r["client"] for r in rows))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(clients)
    for i, client in enumerate(clients):
        ys = [
            next(
                (
                    r["cpu_us"]
                    for r in rows
                    if (r["mode"], r["concurrency"], r["client"]) == (*c, client)
                ),
                0,
            )
            for c in cells
        ]
        ax.bar([x + i * width for x in range(len(cells))], ys, width, label=client)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(cells))])
    ax.set_xticklabels([f"{m}\nc={c}" for m, c in cells])
    ax.set_ylabel("client CPU µs per call (lower is better)")
    ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Client CPU per call against a local mock server (asyncio)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--modes", nargs="+", default=["chat", "stream"])
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 20, 100])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=300, help="calls per client per round")
    p.add_argument("--leak-calls", type=int, default=10_000)
    p.add_argument("--import-runs", type=int, default=5)
    p.add_argument("--chart", type=Path, default=HERE.parent / "docs" / "compare.png")
    args = p.parse_args()
    server = Server(None, event_writes=False, pin=True)
    try:
        result: dict[str, Any] = {"when": datetime.now(UTC).isoformat()}
        result["cells"] = asyncio.run(measure(args, server))
        result["ttft_us"] = asyncio.run(ttft(server, 200))
        result["leak"] = asyncio.run(leak(server, args.leak_calls))
    finally:
        server.close()
    result["imports"] = imports(args.import_runs)
    out = HERE / "results" / f"compare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    chart(result["cells"], args.chart)
    print(json.dumps({k: v for k, v in result.items() if k != "cells"}, indent=2))
    print("| mode | c | client | CPU µs/req | req/s |\n|---|---|---|---|---|")
    for r in result["cells"]:
        print(
            f"| {r['mode']} | {r['concurrency']} | {r['client']} "
            f"| {r['cpu_us']:.0f} | {r['rps']:.0f} |"
        )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
