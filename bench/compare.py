"""relaykit next to the clients people would otherwise use, against one loopback server.

Clients, all against ``bench/mock_server.py`` (its own process, pinned to the other
core): raw aiohttp and raw httpx (the floors), relaykit on relaykit-aiohttp's
transport and on httpx's, the openai SDK and LiteLLM (``litellm.acompletion``, when
installed) on OpenAI's wire format; the anthropic SDK and relaykit's anthropic
plugin (both transports) on Anthropic's Messages format, from the same server.

1. Client CPU µs per call and calls/s, for chat and stream at each concurrency:
   every client runs the same calls in rounds whose order alternates, and the ratio
   to raw aiohttp is the median of per-round ratios (a round of each client runs
   next to the baseline's, so load from other processes mostly cancels).
2. Time to first token: wall time from the call to its first text, each client in
   turn, against a second server that holds each stream's events for a fixed delay;
   the overhead is the median of paired differences to the raw client on the same
   transport (relaykit on aiohttp vs raw aiohttp, the httpx-based clients vs raw httpx).
3. RSS over ``--leak-calls`` calls (half chat, half stream, concurrency 20), each
   client in a fresh process, sampled ten times after a warm-up.
4. Import time and RSS after import, a fresh interpreter per run.

    uv run --group bench python bench/compare.py --chart docs/compare.png  # the full run
    uv run --group bench python bench/compare.py --quick                   # a smoke run
    nox -s compare                                                          # the first line

The full run took 20 minutes on 2 cores with a load average of 4-6 (cells 6.5,
time to first token 0.5, RSS check 12, imports 1); the JSON records the minutes of
each part. The RSS check is 10,000 calls for each of 9 clients in turn, LiteLLM's
being the longest; ``--leak-calls 0`` skips it.

Writes JSON to bench/results/ and prints markdown tables. Never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from client_overhead import (
    API_KEY,
    EXPECTED_TEXT,
    MAX_TOKENS,
    MESSAGES,
    MODEL,
    RawHttpx,
    Relaykit,
    Server,
    machine,
    run_batch,
)

HERE = Path(__file__).resolve().parent
ANTHROPIC_MODEL = "claude-haiku-4-5"
OnFirstText = Callable[[], object] | None
BASELINE = "raw aiohttp"


class BenchClient(Protocol):
    """What every client here offers: an async context, ``chat`` and ``stream``."""

    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def chat(self) -> str: ...
    async def stream(self, on_first_text: OnFirstText = None) -> str: ...


# -- the clients next to relaykit (relaykit and raw httpx are client_overhead's) -------


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
        """One non-streamed call; returns the answer text."""
        assert self._session is not None
        async with self._session.post(self._url, data=self._body, headers=self._headers) as r:
            data = json.loads(await r.read())
        return str(data["choices"][0]["message"]["content"])

    async def stream(self, on_first_text: OnFirstText = None) -> str:
        """One streamed call read to the end of the body; returns the joined text."""
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
                            if on_first_text is not None and not parts:
                                on_first_text()
                            parts.append(content)
        return "".join(parts)


class RawAiohttpAnthropic(RawAiohttp):
    """The floor on Anthropic's wire: aiohttp alone against ``POST /v1/messages``.

    relaykit's anthropic plugin reads more per stream than an OpenAI stream holds
    (named events: a start, a block start, a ping, the deltas, a block stop, a
    message delta and stop), so its fair floor is raw aiohttp reading the same.
    """

    def __init__(self, root: str) -> None:  # RawAiohttp's session, another request

        self._url = f"{root}/v1/messages"
        self._headers = {
            "content-type": "application/json",
            "x-api-key": API_KEY,
            "anthropic-version": "2023-06-01",
        }
        payload = {
            "model": ANTHROPIC_MODEL,
            "max_tokens": MAX_TOKENS,
            "system": MESSAGES[0]["content"],
            "messages": MESSAGES[1:],
        }
        self._body = json.dumps(payload, separators=(",", ":")).encode()
        self._stream_body = json.dumps(payload | {"stream": True}, separators=(",", ":")).encode()
        self._session: aiohttp.ClientSession | None = None  # opened as RawAiohttp's

    async def chat(self) -> str:
        """One non-streamed Messages call; returns its text blocks joined."""
        assert self._session is not None
        async with self._session.post(self._url, data=self._body, headers=self._headers) as r:
            data = json.loads(await r.read())
        return "".join(b["text"] for b in data["content"] if b["type"] == "text")

    async def stream(self, on_first_text: OnFirstText = None) -> str:
        """One streamed call read to the end of the body; returns the joined text deltas."""
        assert self._session is not None
        parts: list[str] = []
        async with self._session.post(
            self._url, data=self._stream_body, headers=self._headers
        ) as r:
            buf = b""
            async for raw in r.content.iter_any():
                *lines, buf = (buf + raw).split(b"\n")
                for line in lines:
                    if not line.startswith(b"data: "):
                        continue  # event names, blank lines: the data says its type too
                    event = json.loads(line[6:])
                    if event["type"] == "content_block_delta":
                        delta = event["delta"]
                        if delta["type"] == "text_delta":
                            if on_first_text is not None and not parts:
                                on_first_text()
                            parts.append(delta["text"])
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
        """One ``chat.completions.create``; returns the message content."""
        r = await self._client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_completion_tokens=MAX_TOKENS,
        )
        return r.choices[0].message.content or ""

    async def stream(self, on_first_text: OnFirstText = None) -> str:
        """``create(stream=True)``, iterating every chunk; returns the joined text."""
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
                    if on_first_text is not None and not parts:
                        on_first_text()
                    parts.append(choice.delta.content)
        return "".join(parts)


class AnthropicSDK:
    """``anthropic.AsyncAnthropic`` with ``base_url`` at the mock (the server's root).

    Streams use ``messages.create(stream=True)``, the SDK's raw event stream; its
    ``messages.stream()`` helper also accumulates a snapshot per event and costs more.
    """

    def __init__(self, base_url: str) -> None:
        import anthropic

        self._client = anthropic.AsyncAnthropic(base_url=base_url, api_key=API_KEY, max_retries=0)
        self._kw: dict[str, Any] = {
            "model": ANTHROPIC_MODEL,
            "max_tokens": MAX_TOKENS,
            "system": MESSAGES[0]["content"],
            "messages": MESSAGES[1:],
        }

    async def __aenter__(self) -> AnthropicSDK:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def chat(self) -> str:
        """One ``messages.create``; returns its text blocks joined."""
        r = await self._client.messages.create(**self._kw)
        return "".join(b.text for b in r.content if b.type == "text")

    async def stream(self, on_first_text: OnFirstText = None) -> str:
        """``messages.create(stream=True)``, iterating every event; returns the joined text."""
        parts: list[str] = []
        s = await self._client.messages.create(**self._kw, stream=True)
        async for event in s:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                if on_first_text is not None and not parts:
                    on_first_text()
                parts.append(event.delta.text)
        return "".join(parts)


class LiteLLM:
    """``litellm.acompletion`` against the mock as an OpenAI endpoint (default settings)."""

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
        """One ``acompletion``; returns the message content."""
        r = await self._litellm.acompletion(**self._kw)
        return str(r.choices[0].message.content)

    async def stream(self, on_first_text: OnFirstText = None) -> str:
        """``acompletion(stream=True)``, iterating every chunk; returns the joined text."""
        parts: list[str] = []
        s = await self._litellm.acompletion(**self._kw, stream=True)
        async for chunk in s:
            for choice in chunk.choices:
                if choice.delta.content:
                    if on_first_text is not None and not parts:
                        on_first_text()
                    parts.append(choice.delta.content)
        return "".join(parts)


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except PackageNotFoundError:
        return False
    return True


def client_makers(root: str) -> dict[str, Callable[[], BenchClient]]:
    """Every client, by name, for the server at ``root`` (``http://host:port``, no ``/v1``).

    relaykit is built through ``client_overhead.Relaykit`` (public API, default
    settings, storage off), with ``[http] transport`` pinned to each transport.
    """
    v1 = f"{root}/v1"
    out: dict[str, Callable[[], BenchClient]] = {
        "raw aiohttp": lambda: RawAiohttp(v1),
        "raw httpx": lambda: RawHttpx(v1),
        "relaykit (aiohttp)": lambda: Relaykit(v1, "auto"),
        "relaykit (httpx)": lambda: Relaykit(v1, "httpx"),
        "openai SDK": lambda: OpenAISDK(v1),
        "raw aiohttp (anthropic wire)": lambda: RawAiohttpAnthropic(root),
        "relaykit anthropic (aiohttp)": lambda: Relaykit(
            root, "auto", "anthropic", ANTHROPIC_MODEL
        ),
        "relaykit anthropic (httpx)": lambda: Relaykit(root, "httpx", "anthropic", ANTHROPIC_MODEL),
        "anthropic SDK": lambda: AnthropicSDK(root),
    }
    if _installed("litellm"):
        out["LiteLLM"] = lambda: LiteLLM(v1)
    return out


#: Clients on Anthropic's wire and their floor there (the table's ratio is to raw aiohttp
#: on OpenAI's wire, which reads fewer and smaller events).
SAME_WIRE = {
    "relaykit anthropic (aiohttp)": "raw aiohttp (anthropic wire)",
    "relaykit anthropic (httpx)": "raw aiohttp (anthropic wire)",
    "anthropic SDK": "raw aiohttp (anthropic wire)",
}

#: For time to first token: the raw client on the same transport as each client.
SAME_TRANSPORT = {
    "relaykit (aiohttp)": "raw aiohttp",
    "relaykit anthropic (aiohttp)": "raw aiohttp",
    "relaykit (httpx)": "raw httpx",
    "relaykit anthropic (httpx)": "raw httpx",
    "openai SDK": "raw httpx",
    "anthropic SDK": "raw httpx",
    # LiteLLM hands the openai SDK an httpx client over its own aiohttp transport
    # (LiteLLMAiohttpTransport, unless DISABLE_AIOHTTP_TRANSPORT), as relaykit-aiohttp does.
    "LiteLLM": "raw aiohttp",
}


# -- 1. client CPU per call ---------------------------------------------------------


def _ordered(items: list[Any], r: int) -> list[Any]:
    # Alternate the order of the clients each round: a drift in the machine's load
    # then hits the first and the last client alike.
    return items if r % 2 == 0 else items[::-1]


async def measure_cell(
    makers: dict[str, Callable[[], BenchClient]], mode: str, conc: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One (mode, concurrency) cell: warm-up, then alternating rounds of every client."""
    load_before = os.getloadavg()[0]
    opened: dict[str, BenchClient] = {}
    try:
        for name, make in makers.items():
            opened[name] = await make().__aenter__()
        calls: dict[str, Callable[[], Awaitable[str]]] = {
            name: getattr(c, mode) for name, c in opened.items()
        }
        for name, call in calls.items():
            answer = await call()
            assert answer == EXPECTED_TEXT, f"{name}: unexpected answer {answer!r}"
            await run_batch(call, max(args.warmup, conc), conc)
        n = max(args.calls, conc)
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for r in range(args.rounds):
            for name, call in _ordered(list(calls.items()), r):
                cpu, wall = await run_batch(call, n, conc)
                rounds[name].append((cpu / n * 1e6, n / wall))
    finally:
        for c in reversed(opened.values()):  # relaykit clients hold task groups: LIFO
            await c.__aexit__(None, None, None)
    base = rounds.get(BASELINE) or next(iter(rounds.values()))
    clients: dict[str, dict[str, Any]] = {
        name: {
            "cpu_us": statistics.median(cpu for cpu, _ in rs),
            "rps": statistics.median(rps for _, rps in rs),
            # Each round ran next to the baseline's: the median of per-round ratios.
            "ratio": statistics.median(c / b for (c, _), (b, _) in zip(rs, base, strict=True)),
            "rounds_cpu_us": [cpu for cpu, _ in rs],
        }
        for name, rs in rounds.items()
    }
    for name, floor in SAME_WIRE.items():  # the per-round ratio to the floor on its own wire
        if name in rounds and floor in rounds:
            clients[name]["ratio_same_wire"] = statistics.median(
                c / b for (c, _), (b, _) in zip(rounds[name], rounds[floor], strict=True)
            )
    for name, row in clients.items():
        print(
            f"  {mode:6} c={conc:<3} {name:30} {row['cpu_us']:8.0f} µs/call  "
            f"x{row['ratio']:5.2f}  {row['rps']:7.0f} calls/s",
            file=sys.stderr,
            flush=True,
        )
    return {
        "mode": mode,
        "concurrency": conc,
        "calls_per_round": n,
        "load_average": [load_before, os.getloadavg()[0]],
        "clients": clients,
    }


# -- 2. time to first token ---------------------------------------------------------


async def _time_to_first_text(client: BenchClient) -> tuple[float, float]:
    """Wall and client CPU seconds from the call to its first text (then read to the end)."""
    first: list[tuple[float, float]] = []
    t, cpu = time.perf_counter(), time.process_time()
    await client.stream(lambda: first.append((time.perf_counter(), time.process_time())))
    return first[0][0] - t, first[0][1] - cpu


async def measure_ttft(
    makers: dict[str, Callable[[], BenchClient]], n: int, delay: float
) -> dict[str, Any]:
    """Median time to the first text per client, and its overhead over the raw client.

    One stream at a time; each sample takes every client in turn (order alternating),
    so a paired difference compares calls made within milliseconds of each other.
    The client CPU spent until the first text is measured too: while the server
    holds the events the client is idle, so that is what the client adds, and unlike
    wall time it does not stretch when other processes compete for the core.
    """
    opened: dict[str, BenchClient] = {}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in makers}
    try:
        for name, make in makers.items():
            opened[name] = await make().__aenter__()
            for _ in range(5):  # warm-up: connections, lazy imports
                await _time_to_first_text(opened[name])
        for i in range(n):
            for name, c in _ordered(list(opened.items()), i):
                samples[name].append(await _time_to_first_text(c))
    finally:
        for c in reversed(opened.values()):
            await c.__aexit__(None, None, None)
    out: dict[str, Any] = {"server_delay_ms": delay * 1e3, "samples": n, "clients": {}}
    for name, ts in samples.items():
        row: dict[str, Any] = {
            "median_ms": statistics.median(wall for wall, _ in ts) * 1e3,
            "cpu_us": statistics.median(cpu for _, cpu in ts) * 1e6,
        }
        raw = SAME_TRANSPORT.get(name)
        if raw in samples:
            pairs = list(zip(ts, samples[raw], strict=True))
            row["vs"] = raw
            row["overhead_us"] = statistics.median(t[0] - b[0] for t, b in pairs) * 1e6
            row["cpu_overhead_us"] = statistics.median(t[1] - b[1] for t, b in pairs) * 1e6
        out["clients"][name] = row
        print(
            f"  ttft {name:30} {row['median_ms']:7.2f} ms, CPU {row['cpu_us']:6.0f} µs",
            file=sys.stderr,
            flush=True,
        )
    return out


# -- 3. RSS over many calls, a fresh process per client -----------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def leak_child(name: str, root: str, calls: int) -> dict[str, Any]:
    """In this (fresh) process: RSS after setup, after a warm-up, then ten times over ``calls``."""
    client = client_makers(root)[name]()
    async with client:
        await client.chat()
        rss_setup = _rss_mb()
        warmup = min(250, max(20, calls // 40))  # 250 + 250 for 10,000 calls
        await run_batch(client.chat, warmup, 20)
        await run_batch(client.stream, warmup, 20)
        gc.collect()
        samples = [_rss_mb()]
        for _ in range(10):
            await run_batch(client.chat, calls // 20, 20)
            await run_batch(client.stream, calls // 20, 20)
            gc.collect()
            samples.append(_rss_mb())
    return {
        "client": name,
        "calls": calls // 20 * 20,
        "rss_setup_mb": rss_setup,
        "rss_warm_mb": samples[0],
        "rss_after_mb": samples[-1],
        "growth_mb": samples[-1] - samples[0],
        "samples_mb": samples,
    }


def measure_leaks(names: Sequence[str], root: str, calls: int) -> list[dict[str, Any]]:
    """:func:`leak_child` for each client, each in a fresh interpreter, one after another."""
    rows = []
    for name in names:
        cmd = [sys.executable, __file__, "--leak-child", name, "--server-root", root]
        out = subprocess.run(
            [*cmd, "--leak-calls", str(calls)], capture_output=True, text=True, env=_env()
        )
        if out.returncode:
            print(f"  rss {name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"  rss {name:30} {r['rss_warm_mb']:6.1f} -> {r['rss_after_mb']:6.1f} MB "
            f"over {r['calls']} calls",
            file=sys.stderr,
            flush=True,
        )
    return rows


# -- 4. import cost -----------------------------------------------------------------

IMPORTS = {
    "raw aiohttp": "import aiohttp",
    "raw httpx": "import httpx",
    # The provider class, not the package: plugin packages export their names lazily
    # (session 24), and a bare `import relaykit_openai` would measure almost nothing.
    "relaykit + openai plugin": "import relaykit; from relaykit_openai import OpenAIProvider",
    "relaykit + anthropic plugin": (
        "import relaykit; from relaykit_anthropic import AnthropicProvider"
    ),
    "openai SDK": "import openai",
    "anthropic SDK": "import anthropic",
    "LiteLLM": "import litellm",
}
_PROBE = (
    "import os, time, json\nt = time.perf_counter()\n{stmt}\nt = time.perf_counter() - t\n"
    "with open('/proc/self/statm') as f:\n"
    "    rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
    "print(json.dumps([t, rss]))"
)


def _env() -> dict[str, str]:
    # Bytecode may be written and read, as after a pip install (see client_overhead);
    # LiteLLM must not fetch its cost map from the network.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


def measure_imports(runs: int) -> list[dict[str, Any]]:
    """Median in-process import ms and RSS after it, one fresh interpreter per run."""
    rows = []
    for name, stmt in IMPORTS.items():
        samples = []
        for _ in range(runs + 1):  # the first run writes bytecode and warms the page cache
            out = subprocess.run(
                [sys.executable, "-c", _PROBE.format(stmt=stmt)],
                capture_output=True,
                text=True,
                env=_env(),
            )
            if out.returncode:
                break  # not installed
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if len(samples) > 1:
            rows.append(
                {
                    "library": name,
                    "import_ms": statistics.median(s[0] for s in samples[1:]) * 1e3,
                    "rss_mb": statistics.median(s[1] for s in samples[1:]) / 2**20,
                }
            )
    return rows


# -- reporting ----------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    """The results as markdown tables."""
    lines: list[str] = []
    cells = result.get("cells") or []
    if cells:
        names = list(cells[0]["clients"])
        lines += [
            f"Client CPU µs per call (x = median per-round ratio to {BASELINE}):",
            "",
            "| mode | c | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for cell in cells:
            row = [f"{c['cpu_us']:.0f} (x{c['ratio']:.1f})" for c in cell["clients"].values()]
            lines.append(f"| {cell['mode']} | {cell['concurrency']} | " + " | ".join(row) + " |")
        same_wire = [n for n in names if "ratio_same_wire" in cells[0]["clients"][n]]
        if same_wire:
            floors = sorted({SAME_WIRE[n] for n in same_wire})
            lines += [
                "",
                f"Median per-round ratio to the floor on the same wire ({', '.join(floors)}):",
                "",
            ]
            lines += [
                "| mode | c | " + " | ".join(same_wire) + " |",
                "|---|---|" + "---|" * len(same_wire),
            ]
            for cell in cells:
                row = [f"x{cell['clients'][n]['ratio_same_wire']:.2f}" for n in same_wire]
                lines.append(
                    f"| {cell['mode']} | {cell['concurrency']} | " + " | ".join(row) + " |"
                )
        lines += ["", "Calls per second (wall):", ""]
        lines += ["| mode | c | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for cell in cells:
            row = [f"{c['rps']:.0f}" for c in cell["clients"].values()]
            lines.append(f"| {cell['mode']} | {cell['concurrency']} | " + " | ".join(row) + " |")
    if ttft := result.get("ttft"):
        lines += [
            "",
            f"Time to first text, server delay {ttft['server_delay_ms']:.0f} ms, "
            f"{ttft['samples']} streams each:",
            "",
            "| client | median ms | client CPU µs | over | added ms | added CPU µs |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in ttft["clients"].items():
            added = (
                f"{row['overhead_us'] / 1e3:.2f} | {row['cpu_overhead_us']:.0f}"
                if "overhead_us" in row
                else " | "
            )
            lines.append(
                f"| {name} | {row['median_ms']:.2f} | {row['cpu_us']:.0f} "
                f"| {row.get('vs', '')} | {added} |"
            )
    if leaks := result.get("leaks"):
        lines += [
            "",
            "| client | RSS after setup MB | after warm-up | after the calls | growth MB | calls |",
            "|---|---|---|---|---|---|",
        ]
        for r in leaks:
            lines.append(
                f"| {r['client']} | {r['rss_setup_mb']:.1f} | {r['rss_warm_mb']:.1f} "
                f"| {r['rss_after_mb']:.1f} | {r['growth_mb']:+.1f} | {r['calls']} |"
            )
    if imports := result.get("imports"):
        lines += ["", "| import | ms | RSS MB |", "|---|---|---|"]
        for r in imports:
            lines.append(f"| {r['library']} | {r['import_ms']:.0f} | {r['rss_mb']:.1f} |")
    return "\n".join(lines)


def chart(cells: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    """Grouped bars of client CPU µs per call: one panel per mode, a group per concurrency."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(c["mode"] for c in cells))
    concs = sorted({c["concurrency"] for c in cells})
    names = list(dict.fromkeys(n for c in cells for n in c["clients"]))
    colors = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 5), squeeze=False)
    width = 0.84 / len(names)
    for ax, mode in zip(axes[0], modes, strict=True):
        for i, name in enumerate(names):
            ys = [
                next(
                    (
                        c["clients"][name]["cpu_us"]
                        for c in cells
                        if c["mode"] == mode and c["concurrency"] == conc and name in c["clients"]
                    ),
                    0.0,
                )
                for conc in concs
            ]
            xs = [x - 0.42 + (i + 0.5) * width for x in range(len(concs))]
            ax.bar(xs, ys, width, label=name, color=colors[i % len(colors)])
        ax.set_xticks(range(len(concs)), [f"concurrency {c}" for c in concs])
        ax.set_yscale("log")
        ax.set_title(mode)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("client CPU µs per call (log scale; lower is better)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"Client CPU per call against a loopback mock server (asyncio)\n{subtitle}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Laps:
    """Minutes spent in each part of the run, to keep the full run's length in check."""

    def __init__(self) -> None:
        self.minutes: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, part: str) -> None:
        """Record the time since the last lap as ``part``."""
        now = time.perf_counter()
        self.minutes[part] = round((now - self._t) / 60, 2)
        self._t = now


# -- command line -------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; the defaults are the full run."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a smoke run: few calls, small numbers")
    p.add_argument("--clients", nargs="+", help="a subset of the clients, by name")
    p.add_argument("--modes", nargs="*", default=["chat", "stream"], help="none: skip the cells")
    p.add_argument("--concurrency", nargs="+", type=int, help="default 1 20 100 (--quick: 1 20)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per cell")
    p.add_argument("--calls", type=int, default=100, help="calls per client per round (>= c)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up calls per client per cell")
    p.add_argument("--ttft-samples", type=int, default=100, help="streams per client (0: skip)")
    p.add_argument("--ttft-delay", type=float, default=0.02, help="server delay, seconds")
    p.add_argument("--leak-calls", type=int, default=10_000, help="per client (0: skip)")
    p.add_argument("--import-runs", type=int, default=3, help="fresh interpreters (0: skip)")
    p.add_argument("--chart", type=Path, help="write a PNG chart of the CPU cells here")
    p.add_argument("--out", type=Path, default=HERE / "results")
    # Internal: run one client's RSS check in this process (see measure_leaks).
    p.add_argument("--leak-child", help=argparse.SUPPRESS)
    p.add_argument("--server-root", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.warmup = 2, 20, 10
        args.ttft_samples, args.leak_calls, args.import_runs = 5, 200, 1
    args.concurrency = args.concurrency or ([1, 20] if args.quick else [1, 20, 100])
    return args


async def _run_clients(
    args: argparse.Namespace, makers: dict[str, Callable[[], BenchClient]]
) -> list[dict[str, Any]]:
    cells = []
    for mode in args.modes:
        for conc in args.concurrency:
            cells.append(await measure_cell(makers, mode, conc, args))
    return cells


def main(argv: Sequence[str] | None = None) -> None:
    """Run every part, print markdown, write JSON (and the chart, with ``--chart``)."""
    args = parse_args(argv)
    if args.leak_child:
        print(
            json.dumps(asyncio.run(leak_child(args.leak_child, args.server_root, args.leak_calls)))
        )
        return
    os.environ.update(_env())
    info = machine()
    info["versions"] |= {
        d: version(d) for d in ("aiohttp", "openai", "anthropic", "litellm") if _installed(d)
    }
    result: dict[str, Any] = {"benchmark": "compare", "date": datetime.now(UTC).isoformat()}
    result |= {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    started = time.perf_counter()
    laps = Laps()
    lap = laps.lap
    result["minutes"] = laps.minutes
    server = Server(None, event_writes=False, pin=True)
    root = server.base_url.removesuffix("/v1")
    try:
        makers = client_makers(root)
        if args.clients:
            makers = {name: makers[name] for name in args.clients}
        print(f"clients: {', '.join(makers)}", file=sys.stderr)
        result["cells"] = asyncio.run(_run_clients(args, makers))
        lap("cells")
        if args.ttft_samples:
            delayed = Server(
                None,
                event_writes=False,
                pin=True,
                options=["--first-event-delay", str(args.ttft_delay)],
            )
            try:
                late = client_makers(delayed.base_url.removesuffix("/v1"))
                late = {name: late[name] for name in makers}
                result["ttft"] = asyncio.run(measure_ttft(late, args.ttft_samples, args.ttft_delay))
            finally:
                delayed.close()
            lap("ttft")
        if args.leak_calls:
            result["leaks"] = measure_leaks(list(makers), root, args.leak_calls)
            lap("leaks")
    finally:
        server.close()
    if args.import_runs:
        result["imports"] = measure_imports(args.import_runs)
        lap("imports")
    info["load_average_after"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - started
    print(f"minutes per part: {json.dumps(laps.minutes)}", file=sys.stderr)
    print(markdown(result))
    args.out.mkdir(parents=True, exist_ok=True)
    path = (
        args.out
        / f"compare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.json"
    )
    path.write_text(json.dumps(result, indent=2) + "\n")
    if args.chart and result["cells"]:
        load = info["load_average_before"][0], info["load_average_after"][0]
        subtitle = (
            f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, "
            f"{info['git']}, load average {load[0]:.1f} -> {load[1]:.1f}"
        )
        chart(result["cells"], args.chart, subtitle)
        print(f"chart: {args.chart}", file=sys.stderr)
    print(f"\nresults: {path} ({result['seconds'] / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
