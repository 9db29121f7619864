"""What relaykit-otlp's metrics cost per call: ``OtlpExporter.record`` in process.

    uv run python bench/otlp_metrics.py            # ~20 seconds
    uv run python bench/otlp_metrics.py --quick    # a smoke run

To measure another version (say, before a change), put its sources first::

    git archive <commit> plugins/otlp/src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/plugins/otlp/src uv run python bench/otlp_metrics.py

Two measurements, each the median of alternating rounds:

- ``record``: µs of CPU per ``exporter.record(record)`` over a mix of call
  records (successes, failures, a retry, a fallback, a cache hit, streams with
  a time to first chunk, costs) across a few models, the way a client hands them
  over. No spans (``traces = false``); the periodic export never fires during a
  round (``export_interval`` of an hour).
- ``client``: µs of CPU added per ``client.chat`` (fake provider, in process)
  by ``[exporters.otlp]`` with metrics only, over the same calls without it.

Both end with an export to an in-process OTLP/HTTP receiver, not timed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel

import relaykit
from relaykit import Usage
from relaykit.testing import FakePlugin, LoopbackServer
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse
from relaykit_otlp import OtlpExporter


async def accept(request: HttpRequest) -> HttpResponse:
    """An OTLP/HTTP receiver that takes everything and keeps nothing."""
    return HttpResponse(200, {"content-type": "application/x-protobuf"}, b"")


def call_records() -> list[relaykit.CallRecord]:
    """A mix of what a busy client hands its exporters: mostly successes, some not."""
    records = []
    for i, model in enumerate(("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "llama3")):
        provider = "anthropic" if model.startswith("claude") else "openai"
        common: dict[str, Any] = {
            "id": f"r{i}",
            "started_at": 0.0,
            "operation": "chat",
            "provider": provider,
            "model_requested": f"{provider}/{model}",
            "model": model,
        }
        usage = Usage(input_tokens=120 + i, output_tokens=40 + i)
        records += [
            relaykit.CallRecord(
                **common, streamed=False, usage=usage, latency=0.31, cost=Decimal("0.0004")
            ),
            relaykit.CallRecord(
                **common,
                streamed=True,
                usage=usage,
                latency=1.7,
                time_to_first_token=0.22,
                cost=Decimal("0.0004"),
            ),
            relaykit.CallRecord(
                **common, streamed=False, usage=usage, latency=0.05, cache_hit=True
            ),
            relaykit.CallRecord(
                **common,
                streamed=False,
                usage=usage,
                latency=2.9,
                attempts=2,
                cost=Decimal("0.0004"),
            ),
            relaykit.CallRecord(
                **common, streamed=False, latency=0.4, error_type="RateLimitError", attempts=3
            ),
            relaykit.CallRecord(
                **common,
                streamed=False,
                usage=usage,
                latency=0.9,
                fallbacks=1,
                cost=Decimal("0.001"),
            ),
        ]
    return records


def record_round(exporter: Any, records: list[relaykit.CallRecord], n: int) -> float:
    """CPU µs per ``exporter.record`` over ``n`` calls."""
    record = exporter.record
    todo = (records * (n // len(records) + 1))[:n]
    start = time.thread_time()
    for r in todo:
        record(r)
    return (time.thread_time() - start) / n * 1e6


def bench_record(url: str, n: int, rounds: int) -> list[float]:
    records = call_records()
    exporter = OtlpExporter(endpoint=url, traces=False, export_interval=3600)
    record_round(exporter, records, 1000)  # warm-up: every attribute set seen once
    samples = []
    for _ in range(rounds):
        samples.append(record_round(exporter, records, n))
    anyio.run(exporter.aclose)
    return samples


async def client_round(config: dict[str, Any], n: int) -> float:
    """CPU µs per ``client.chat`` of the event loop's thread over ``n`` calls."""
    fake = FakePlugin()
    async with relaykit.Client(config, plugins=[fake]) as client:
        for i in range(50):
            await client.chat("fake/m", f"warm-up {i}", max_tokens=64)
        gc.collect()
        gc.freeze()
        try:
            start = time.thread_time()
            for i in range(n):
                await client.chat("fake/m", f"request {i}", max_tokens=64)
                await anyio.lowlevel.checkpoint()
            return (time.thread_time() - start) / n * 1e6
        finally:
            gc.unfreeze()


def bench_client(url: str, n: int, rounds: int) -> tuple[list[float], list[float]]:
    plain: dict[str, Any] = {"storage": {"backend": "none"}}
    otlp = {
        **plain,
        "exporters": {"otlp": {"endpoint": url, "traces": False, "export_interval": 3600}},
    }
    without, with_ = [], []
    for _ in range(rounds):  # alternating, so a change of load hits both alike
        without.append(anyio.run(client_round, plain, n))
        with_.append(anyio.run(client_round, otlp, n))
    return without, with_


def show(label: str, samples: Sequence[float]) -> str:
    return (
        f"  {label:<22} {statistics.median(samples):7.2f} µs"
        f"  [{min(samples):.2f}..{max(samples):.2f}]"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args(argv)
    n, rounds = (2_000, 3) if args.quick else (20_000, 7)
    with LoopbackServer(accept) as server:
        record = bench_record(server.url, n, rounds)
        without, with_ = bench_client(server.url, n // 4, rounds)
    added = [w - p for w, p in zip(with_, without, strict=True)]
    print(f"relaykit-otlp metrics, CPU per call, median [lowest..highest] of {rounds} rounds")
    print(show("exporter.record", record))
    print(show("client.chat, plain", without))
    print(show("client.chat, + otlp", with_))
    print(show("added by otlp metrics", added))
    return 0


if __name__ == "__main__":
    sys.exit(main())
