"""How much client CPU relaykit spends per request, next to raw httpx doing the same call.

Both clients talk to ``bench/mock_server.py``, which runs as a separate process
(pinned to its own core when there are two), so ``time.process_time()`` in this
process counts only client work: building the request, HTTP, parsing the JSON
or the SSE stream, and, for relaykit, everything around that (validation,
routing, retries, timeouts, cost, response assembly).

For each mode (``chat``, ``stream``) and concurrency (1, 20, 100 by default) the
clients run the same number of requests in alternating rounds, after a warm-up,
and we report the median over rounds of client CPU microseconds per request and
of requests per second (wall). The first client is the baseline of the ratio,
which is the median of the per-round ratios (adjacent rounds see the same load
from other processes). ``instructions.py`` counts instructions, for busy machines.

It also measures, in fresh subprocesses, what ``import relaykit, relaykit_openai``
costs in wall time and RSS (next to ``python -c pass``), and what constructing a
``relaykit.Client`` and building its first provider cost (they import pluggy,
then httpx, lazily).

Examples::

    uv run python bench/client_overhead.py                  # everything, ~3 min
    uv run python bench/client_overhead.py --backend trio
    uv run python bench/client_overhead.py --modes stream --concurrency 20 --seconds 2
    uv run python bench/client_overhead.py --profile /tmp/prof  # cProfile each round

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

import relaykit
from relaykit.config import HttpConfig

HERE = Path(__file__).resolve().parent
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"
MAX_TOKENS = 64
# A typical small call: a system prompt and a question, in the OpenAI dict shape
# most code already has (relaykit turns the dicts into Messages on every call).
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France, and why is it famous?"},
]
EXPECTED_TEXT = " ".join(f"word{i}" for i in range(20))  # what mock_server.py answers


# -- the clients under test ---------------------------------------------------------


class RawHttpx:
    """The baseline: what a careful user writes with httpx alone.

    Same pool limits and timeouts as relaykit's defaults, compact JSON body,
    ``json.loads`` of the response; streams are read with ``aiter_bytes`` to the
    end of the body, split into lines by hand (a little cheaper than
    ``aiter_lines``), and each ``data:`` line is JSON-decoded and its text kept.
    """

    name = "raw httpx"

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/chat/completions"
        self._headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
        self._payload = {"model": MODEL, "messages": MESSAGES, "max_completion_tokens": MAX_TOKENS}
        streamed = {"stream": True, "stream_options": {"include_usage": True}}
        self._stream_payload = self._payload | streamed
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> RawHttpx:
        pool = HttpConfig()
        limits = httpx.Limits(
            max_connections=pool.max_connections,
            max_keepalive_connections=pool.max_keepalive_connections,
            keepalive_expiry=pool.keepalive_expiry,
        )
        self._http = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(10.0, read=None))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def chat(self) -> str:
        """One non-streamed call; returns the answer text."""
        assert self._http is not None
        body = json.dumps(self._payload, separators=(",", ":")).encode()
        r = await self._http.post(self._url, content=body, headers=self._headers)
        r.raise_for_status()
        data = json.loads(r.content)
        return str(data["choices"][0]["message"]["content"])

    async def stream(self, on_first_text: Callable[[], object] | None = None) -> str:
        """One streamed call; returns the answer text joined from the chunks.

        ``on_first_text`` is called once, when the first text arrives (for time to first token).
        """
        assert self._http is not None
        body = json.dumps(self._stream_payload, separators=(",", ":")).encode()
        parts: list[str] = []
        async with self._http.stream("POST", self._url, content=body, headers=self._headers) as r:
            r.raise_for_status()
            buf = b""
            async for raw in r.aiter_bytes():
                *lines, buf = (buf + raw).split(b"\n")
                for line in lines:
                    # Not stopping at [DONE]: reading on to the end of the body (just
                    # after it) lets httpx put the connection back in its pool; leaving
                    # early closes it, and the next call pays for a new connection.
                    if not line.startswith(b"data: ") or line == b"data: [DONE]":
                        continue
                    for choice in json.loads(line[6:])["choices"]:
                        if content := choice["delta"].get("content"):
                            if on_first_text is not None and not parts:
                                on_first_text()
                            parts.append(content)
        return "".join(parts)


class RawHttpxLines(RawHttpx):
    """The baseline as most code writes a stream: ``aiter_lines()`` (only ``stream`` differs)."""

    name = "raw httpx (aiter_lines)"

    async def stream(self, on_first_text: Callable[[], object] | None = None) -> str:
        """One streamed call read line by line; returns the answer text."""
        assert self._http is not None
        body = json.dumps(self._stream_payload, separators=(",", ":")).encode()
        parts: list[str] = []
        async with self._http.stream("POST", self._url, content=body, headers=self._headers) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue  # read to the end: see RawHttpx.stream
                for choice in json.loads(line[6:])["choices"]:
                    if content := choice["delta"].get("content"):
                        if on_first_text is not None and not parts:
                            on_first_text()
                        parts.append(content)
        return "".join(parts)


class Relaykit:
    """relaykit's public API: ``Client.chat`` and ``Client.stream`` with default settings.

    Except the transport: httpx, pinned so that this stays a comparison with raw
    httpx when relaykit-aiohttp (which would otherwise take over) is installed.
    ``provider`` and ``model`` let ``compare.py`` call the Anthropic plugin too
    (``base_url`` is then the server's root, without ``/v1``, as Anthropic's SDK takes it).
    """

    name = "relaykit"

    def __init__(
        self, base_url: str, transport: str = "httpx", provider: str = "openai", model: str = MODEL
    ) -> None:
        self._config = {
            "storage": {"backend": "none"},
            "http": {"transport": transport},
            "providers": {provider: {"base_url": base_url, "api_key": API_KEY}},
        }
        self._model = f"{provider}/{model}"
        self._client: relaykit.Client | None = None

    async def __aenter__(self) -> Relaykit:
        self._client = relaykit.Client(self._config)
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._client is not None
        await self._client.__aexit__(None, None, None)

    async def chat(self) -> str:
        """One ``client.chat`` call; returns ``response.text``."""
        assert self._client is not None
        r = await self._client.chat(self._model, MESSAGES, max_tokens=MAX_TOKENS)
        return str(r.text)

    async def stream(self, on_first_text: Callable[[], object] | None = None) -> str:
        """One ``client.stream`` call, iterating every event; returns ``s.response.text``.

        ``on_first_text`` is called once, at the first ``TextDelta`` (for time to first token).
        """
        assert self._client is not None
        async with self._client.stream(self._model, MESSAGES, max_tokens=MAX_TOKENS) as s:
            async for event in s:
                if on_first_text is not None and isinstance(event, relaykit.TextDelta):
                    on_first_text()
                    on_first_text = None
        return str(s.response.text)


class RelaykitAiohttp(Relaykit):
    """:class:`Relaykit` on the client its plugins offer (``[http] transport = "auto"``):
    relaykit-aiohttp's under asyncio, httpx under trio."""

    name = "relaykit (aiohttp)"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, transport="auto")


CLIENTS: dict[str, type[RawHttpx] | type[Relaykit]] = {
    "raw": RawHttpx,
    "raw-lines": RawHttpxLines,
    "relaykit": Relaykit,
    "relaykit-aiohttp": RelaykitAiohttp,
}


# -- measuring ----------------------------------------------------------------------


async def run_batch(
    call: Callable[[], Awaitable[str]], n: int, concurrency: int
) -> tuple[float, float]:
    """Run ``n`` calls with ``concurrency`` workers; return (client CPU seconds, wall seconds)."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    gc.collect()  # start each batch with no garbage left over from the last one
    cpu, wall = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, n)):
            tg.start_soon(worker)
    return time.process_time() - cpu, time.perf_counter() - wall


class Server:
    """The mock server process (or one already running at ``url``) and its counters.

    ``options`` go to ``mock_server.py`` (e.g. ``--first-event-delay``).
    """

    def __init__(
        self, url: str | None, *, event_writes: bool, pin: bool, options: Sequence[str] = ()
    ) -> None:
        self.proc: subprocess.Popen[str] | None = None
        if url is None:
            cmd = [sys.executable, str(HERE / "mock_server.py"), "--port", "0", *options]
            if event_writes:
                cmd.append("--event-writes")
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert self.proc.stdout is not None
            url = self.proc.stdout.readline().split()[-1]  # "listening on http://host:port/v1"
        self.base_url = url.rstrip("/")
        self.pinned = False
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if pin and self.proc is not None and len(cpus) >= 2:
            # Client on one core, server on another: neither steals the other's time.
            os.sched_setaffinity(self.proc.pid, {cpus[-1]})
            os.sched_setaffinity(0, {cpus[0]})
            self.pinned = True

    async def stats(self) -> dict[str, float]:
        """The server's request and connection counts and its CPU seconds so far."""
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{self.base_url.removesuffix('/v1')}/__stats")
        return dict(r.json())

    def close(self) -> None:
        """Stop the server if we started it."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


async def measure_cell(
    args: argparse.Namespace, server: Server, mode: str, concurrency: int
) -> dict[str, Any]:
    """Warm up, size the rounds, then run alternating rounds of every client."""
    clients = [CLIENTS[name](server.base_url) for name in args.clients]
    for c in clients:
        await c.__aenter__()
    try:
        calls = [getattr(c, mode) for c in clients]
        # Warm-up: opens the connections, fills caches, triggers lazy imports, and
        # checks every client gets the right answer before we time anything.
        warmup = max(args.warmup, 3 * concurrency)
        slowest = 0.0
        for call in calls:
            assert await call() == EXPECTED_TEXT, "unexpected answer from the mock server"
            _, wall = await run_batch(call, warmup, concurrency)
            slowest = max(slowest, wall / warmup)
        n = args.requests or max(
            5 * concurrency, math.ceil(args.seconds / args.rounds / max(slowest, 1e-6))
        )
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in args.clients}
        for r in range(args.rounds):
            # Alternate the order so a slow drift of the machine hits both clients alike.
            order = list(zip(args.clients, calls, strict=True))
            for name, call in order if r % 2 == 0 else order[::-1]:
                before = await server.stats()
                profiler = _profiler(args)
                if profiler:
                    profiler.enable()
                cpu, wall = await run_batch(call, n, concurrency)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile / f"{name}-{mode}-c{concurrency}-{r}.pstats")
                after = await server.stats()
                rounds[name].append(_round_result(n, cpu, wall, before, after))
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    results = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} | {"rounds": rs}
        for name, rs in rounds.items()
    }
    return {"mode": mode, "concurrency": concurrency, "requests": n, "clients": results}


def _round_result(
    n: int, cpu: float, wall: float, before: dict[str, float], after: dict[str, float]
) -> dict[str, float]:
    served = {k: after[k] - before[k] for k in ("cpu_seconds", "connections")}
    return {
        "cpu_us_per_request": cpu / n * 1e6,
        "requests_per_second": n / wall,
        # Server-side numbers: to check the mock is cheap and connections are reused.
        "server_cpu_us_per_request": served["cpu_seconds"] / n * 1e6,
        "connections_per_request": served["connections"] / n,
    }


def _profiler(args: argparse.Namespace) -> cProfile.Profile | None:
    if args.profile is None:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    # CPU time, not wall time: waiting for the server (epoll) is not client work,
    # and other processes on the machine should not inflate the numbers.
    return cProfile.Profile(time.process_time)


async def measure_clients(args: argparse.Namespace, server: Server) -> list[dict[str, Any]]:
    """Every (mode, concurrency) cell, printed as it finishes."""
    cells = []
    for mode in args.modes:
        for concurrency in args.concurrency:
            cell = await measure_cell(args, server, mode, concurrency)
            base = cell["clients"][args.clients[0]]["rounds"]
            for name, result in cell["clients"].items():
                # The median of per-round ratios: each round of a client ran right
                # next to the baseline's, so load from other processes mostly cancels.
                result["ratio"] = statistics.median(
                    r["cpu_us_per_request"] / b["cpu_us_per_request"]
                    for r, b in zip(result["rounds"], base, strict=True)
                )
                print(
                    f"  {mode:6} c={concurrency:<3} {name:24} "
                    f"{result['cpu_us_per_request']:8.1f} us/req  x{result['ratio']:.2f}  "
                    f"{result['requests_per_second']:8.0f} req/s  "
                    f"(server {result['server_cpu_us_per_request']:.0f} us/req)",
                    file=sys.stderr,
                    flush=True,
                )
            cells.append(cell)
    return cells


# -- import cost --------------------------------------------------------------------

_PROBE = """
import json, os, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
out = {}
t = time.perf_counter()
STAGES
print(json.dumps(out))
"""
_OPENAI = "import relaykit; from relaykit_openai import OpenAIProvider"
_STAGES = {
    "pass": ["pass"],
    "import relaykit": ["import relaykit"],
    # The provider class, not the package: plugin packages export their names lazily
    # (session 24), and a bare `import relaykit_openai` would measure almost nothing.
    "import relaykit + relaykit_openai": [_OPENAI],
    "relaykit.Client(config)": [
        _OPENAI,
        f"client = relaykit.Client({{'storage': {{'backend': 'none'}}, "
        f"'providers': {{'openai': {{'api_key': '{API_KEY}'}}}}}})",
        "client.provider('openai')",
    ],
}


def _probe_source(statements: list[str]) -> str:
    lines = []
    for i, stmt in enumerate(statements):
        lines += [stmt, f"out[{i}] = (time.perf_counter() - t, rss()); t = time.perf_counter()"]
    return _PROBE.replace("STAGES", "\n".join(lines))


def measure_imports(runs: int) -> list[dict[str, Any]]:
    """Median wall time and RSS of each probe, each run in a fresh interpreter.

    ``process_ms`` is the whole ``python -c`` run as the parent sees it
    (interpreter start-up included); ``stageN_ms`` is statement N alone, timed inside.
    """
    # Bytecode is allowed to be written and read, as in a normal install (pip
    # compiles it): with PYTHONDONTWRITEBYTECODE every run would compile every
    # module from source, which roughly doubles the numbers.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RELAYKIT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    samples: dict[str, list[tuple[float, dict[str, list[float]]]]] = {k: [] for k in _STAGES}
    for _ in range(runs + 1):  # the first run only writes the bytecode and warms caches
        for name, statements in _STAGES.items():
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", _probe_source(statements)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            samples[name].append((time.perf_counter() - t, json.loads(out.stdout)))
    rows = []
    for name, all_runs in samples.items():
        runs_ = all_runs[1:]
        row: dict[str, Any] = {"probe": name}
        row["process_ms"] = statistics.median(wall for wall, _ in runs_) * 1e3
        for i in range(len(_STAGES[name])):
            row[f"stage{i}_ms"] = statistics.median(out[str(i)][0] for _, out in runs_) * 1e3
            row[f"stage{i}_rss_mb"] = statistics.median(out[str(i)][1] for _, out in runs_) / 2**20
        rows.append(row)
    return rows


# -- reporting ----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What ran the benchmark: CPU, cores, Python, library versions, git commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    from importlib.metadata import version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {d: version(d) for d in ("relaykit", "httpx", "httpcore", "anyio", "trio")},
        "git": git,
        "load_average_before": os.getloadavg(),
    }


def markdown(result: dict[str, Any]) -> str:
    """The results as markdown tables: per-request cost, then import cost."""
    keys = result["args"]["clients"]
    labels = [CLIENTS[k].name for k in keys]
    head = ["mode", "concurrency", "requests/round"]
    head += [f"{label} CPU µs/req" for label in labels]
    head += [f"{label} / {labels[0]}" for label in labels[1:]]
    head += [f"{label} req/s" for label in labels]
    head.append("new connections/req")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] if result["cells"] else []
    for cell in result["cells"]:
        rs = [cell["clients"][k] for k in keys]
        row = [cell["mode"], str(cell["concurrency"]), str(cell["requests"])]
        row += [f"{r['cpu_us_per_request']:.0f}" for r in rs]
        row += [f"{r['ratio']:.2f}x" for r in rs[1:]]
        row += [f"{r['requests_per_second']:.0f}" for r in rs]
        row.append(" / ".join(f"{r['connections_per_request']:.2f}" for r in rs))
        lines.append("| " + " | ".join(row) + " |")
    if result.get("imports"):
        if lines:
            lines.append("")
        lines += ["| probe | in-process ms | RSS MB | whole process ms |", "|---|---|---|---|"]
        for row in result["imports"]:
            name = row["probe"]
            if name == "relaykit.Client(config)":
                lines.append(
                    f"| `relaykit.Client(config)` (after the imports) | {row['stage1_ms']:.1f} "
                    f"| {row['stage1_rss_mb']:.1f} | |"
                )
                lines.append(
                    f"| `client.provider('openai')` (first use: httpx client) "
                    f"| {row['stage2_ms']:.1f} | {row['stage2_rss_mb']:.1f} "
                    f"| {row['process_ms']:.0f} |"
                )
                continue
            ms = f"{row['stage0_ms']:.1f}" if name != "pass" else ""
            lines.append(
                f"| `{'python -c pass' if name == 'pass' else name}` | {ms} "
                f"| {row['stage0_rss_mb']:.1f} | {row['process_ms']:.0f} |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; every default is what ``nox -s bench`` runs."""

    def ints(s: str) -> list[int]:
        return [int(x) for x in s.split(",")]

    def names(s: str) -> list[str]:
        return [x.strip() for x in s.split(",") if x.strip()]

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--modes", type=names, default=["chat", "stream"], help="chat,stream")
    p.add_argument("--concurrency", type=ints, default=[1, 20, 100], help="e.g. 1,20,100")
    p.add_argument(
        "--clients",
        type=names,
        default=["raw", "relaykit"],
        help=f"from {','.join(CLIENTS)}; the first is the baseline of the ratio",
    )
    p.add_argument("--seconds", type=float, default=6.0, help="target time per client per cell")
    p.add_argument("--rounds", type=int, default=9, help="alternating rounds per cell (median)")
    p.add_argument("--requests", type=int, default=0, help="requests per round (0: from --seconds)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up requests per client per cell")
    p.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import probe")
    p.add_argument("--no-imports", action="store_true", help="skip the import measurements")
    p.add_argument("--only-imports", action="store_true", help="measure the import cost only")
    p.add_argument("--server-url", help="use a running mock_server.py instead of starting one")
    p.add_argument("--event-writes", action="store_true", help="server writes each SSE event alone")
    p.add_argument("--no-pin", action="store_true", help="do not pin client and server to cores")
    p.add_argument("--profile", type=Path, help="write cProfile stats of every round here")
    p.add_argument("--label", default="", help="added to the results file name")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        p.error(f"unknown client(s) {sorted(unknown)}; choose from {sorted(CLIENTS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print markdown, write JSON to ``bench/results/``."""
    args = parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "client_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "args": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"
        },
    }
    if os.getloadavg()[0] > 0.5:
        print(
            f"warning: load average {os.getloadavg()[0]:.1f}: other processes will add noise",
            file=sys.stderr,
        )
    if not args.no_imports:
        print("measuring import cost ...", file=sys.stderr, flush=True)
        result["imports"] = measure_imports(args.import_runs)
    result["cells"] = []
    if not args.only_imports:
        server = Server(args.server_url, event_writes=args.event_writes, pin=not args.no_pin)
        result["machine"]["pinned"] = server.pinned
        try:
            print(f"measuring clients against {server.base_url} ...", file=sys.stderr, flush=True)
            result["cells"] = anyio.run(measure_clients, args, server, backend=args.backend)
        finally:
            server.close()
    result["machine"]["load_average_after"] = os.getloadavg()
    print(markdown(result))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = f"-{args.label}" if args.label else ""
    path = args.out / f"client_overhead-{stamp}-{args.backend}{label}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
