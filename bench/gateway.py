"""What relaykit-gateway costs per request: its process's CPU, throughput and latency.

Three processes, as in production: this one sends requests (httpx, a pool of
``--concurrency`` connections), ``relaykit gateway`` serves them (started as
the CLI starts it, with a relaykit.toml that points its ``openai`` provider
at the upstream), and ``bench/mock_server.py`` answers as OpenAI would. The
gateway's CPU is read from ``/proc/PID/stat`` before and after each round, so
it counts everything the gateway process does (hypercorn's HTTP, the dialect,
the relaykit call, the upstream HTTP, the call log) and nothing of the load.

``floor`` rounds send the same requests straight to the mock server, so the
latency the gateway adds can be read off them.

``--litellm PATH`` measures LiteLLM's proxy the same way (``PATH``: the
``litellm`` command of an environment with ``litellm[proxy]``, which relaykit
does not install: ``uv venv /tmp/llp && uv pip install -p /tmp/llp/bin/python
'litellm[proxy]'``), started with one worker, a master key and the same upstream.

    uv run python bench/gateway.py                      # asyncio and trio, ~2 min
    uv run python bench/gateway.py --backends asyncio --modes chat --storage sqlite
    uv run python bench/gateway.py --litellm /tmp/llp/bin/litellm   # ~5 min more

Linux only (``/proc``). A benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

HERE = Path(__file__).resolve().parent
KEY = "gw-bench-0123456789abcdef"
UPSTREAM_KEY = "sk-bench"
BODY = {
    "model": "openai/gpt-4o-mini",
    "max_tokens": 64,
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Count from one to twenty in words, please."},
    ],
}
EXPECTED = " ".join(f"word{i}" for i in range(20))  # what mock_server.py answers
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Process:
    """A child process serving HTTP: its first line of output names its URL, unless
    ``url`` is given (then it is polled until it answers a chat)."""

    def __init__(
        self, argv: Sequence[str], cwd: Path, env: dict[str, str], url: str | None = None
    ) -> None:
        quiet = subprocess.DEVNULL if url else subprocess.PIPE
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=quiet, stderr=subprocess.DEVNULL, text=True
        )
        if url is not None:
            self.url = url
            self._wait_until_it_answers()
            return
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        urls = [word for word in line.split() if word.startswith("http://")]
        if not urls:
            self.proc.kill()
            raise SystemExit(f"{argv[:4]} did not start: {line!r}")
        self.url = urls[0].rstrip("/").removesuffix("/v1")

    def _wait_until_it_answers(self, seconds: float = 180.0) -> None:
        deadline = time.monotonic() + seconds
        headers = {"authorization": f"Bearer {KEY}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.url}: the server exited with {self.proc.returncode}")
            try:
                r = httpx.post(f"{self.url}/v1/chat/completions", json=BODY, headers=headers)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
        raise SystemExit(f"{self.url}: no answer in {seconds:.0f} s")

    def close(self) -> None:
        """Interrupt (the gateway drains on SIGINT), then wait."""
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def run_round(
    http: httpx.AsyncClient, url: str, mode: str, requests: int, concurrency: int
) -> list[float]:
    """Send ``requests`` requests, ``concurrency`` at a time; their latencies in seconds."""
    body = {**BODY, "stream": mode == "stream"}
    latencies: list[float] = []
    todo = iter(range(requests))

    async def worker() -> None:
        for _ in todo:
            start = time.perf_counter()
            if mode == "stream":
                async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                    assert r.status_code == 200
                    async for _ in r.aiter_bytes():
                        pass
            else:
                r = await http.post(f"{url}/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
            latencies.append(time.perf_counter() - start)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return latencies


async def measure(
    gateway: Process, upstream: Process, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Alternate floor and gateway rounds; medians over rounds."""
    headers = {"authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as http:
        r = await http.post(f"{gateway.url}/v1/chat/completions", json=BODY)
        assert r.json()["choices"][0]["message"]["content"].strip() == EXPECTED, r.text
        await run_round(http, gateway.url, mode, args.warmup, args.concurrency)
        await run_round(http, upstream.url, mode, args.warmup, args.concurrency)
        cpu, rates, p50, floor_p50 = [], [], [], []
        for _ in range(args.rounds):
            floor = await run_round(http, upstream.url, mode, args.requests, args.concurrency)
            floor_p50.append(statistics.median(floor))
            before, start = cpu_seconds(gateway.proc.pid), time.perf_counter()
            lat = await run_round(http, gateway.url, mode, args.requests, args.concurrency)
            wall = time.perf_counter() - start
            cpu.append((cpu_seconds(gateway.proc.pid) - before) / args.requests)
            rates.append(args.requests / wall)
            p50.append(statistics.median(lat))
    return {
        "cpu_us": statistics.median(cpu) * 1e6,
        "rps": statistics.median(rates),
        "p50_ms": statistics.median(p50) * 1e3,
        "floor_p50_ms": statistics.median(floor_p50) * 1e3,
    }


def litellm_rows(
    args: argparse.Namespace, work: Path, upstream: Process
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """LiteLLM's proxy in front of the same upstream, measured as the gateway is."""
    (work / "litellm.yaml").write_text(
        "model_list:\n"
        f"  - model_name: {BODY['model']}\n"
        "    litellm_params:\n"
        f"      model: {BODY['model']}\n"
        f"      api_base: {upstream.url}/v1\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        f"general_settings:\n  master_key: {KEY}\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [args.litellm, "--config", str(work / "litellm.yaml"), "--port", str(port)]
    proxy = Process(
        [*argv, "--host", "127.0.0.1", "--num_workers", "1"],
        work,
        dict(os.environ),
        url=f"http://127.0.0.1:{port}",
    )
    try:
        return [
            ("LiteLLM proxy", "-", mode, anyio.run(measure, proxy, upstream, mode, args))
            for mode in args.modes.split(",")
        ]
    finally:
        proxy.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Run every (backend, storage, mode) cell and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default="asyncio,trio")
    p.add_argument("--modes", default="chat,stream")
    p.add_argument("--storage", default="none,sqlite", help="the gateway's call log backends")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--requests", type=int, default=1000, help="per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--litellm", help="the litellm command of a litellm[proxy] environment")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "RELAYKIT_GATEWAY_KEYS": f"bench={KEY}"}
        upstream = Process([sys.executable, str(HERE / "mock_server.py"), "--port", "0"], work, env)
        try:
            for storage in args.storage.split(","):
                (work / "relaykit.toml").write_text(
                    f'[providers.openai]\nbase_url = "{upstream.url}/v1"\n'
                    f'api_key = "{UPSTREAM_KEY}"\n[storage]\nbackend = "{storage}"\n'
                    f'path = "{work / "logs.db"}"\n'
                )
                for backend in args.backends.split(","):
                    cmd = [sys.executable, "-m", "relaykit", "--backend", backend, "gateway"]
                    gateway = Process([*cmd, "--port", "0"], work, env)
                    try:
                        for mode in args.modes.split(","):
                            cell = anyio.run(measure, gateway, upstream, mode, args)
                            rows.append((f"relaykit gateway, {backend}", storage, mode, cell))
                    finally:
                        gateway.close()
            if args.litellm:
                rows += litellm_rows(args, work, upstream)
        finally:
            upstream.close()
    print(
        f"\nPython {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs;"
        f" {args.concurrency} connections, {args.rounds} rounds of {args.requests} requests\n"
    )
    print("| server | call log | mode | server CPU µs/req | req/s | p50 ms | direct p50 ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    for backend, storage, mode, c in rows:
        print(
            f"| {backend} | {storage} | {mode} | {c['cpu_us']:.0f} | {c['rps']:.0f} |"
            f" {c['p50_ms']:.2f} | {c['floor_p50_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
