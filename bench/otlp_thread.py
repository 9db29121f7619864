"""What one relaykit span costs relaykit-otlp's lean tracer, on the call path and on its thread.

    uv run python bench/otlp_thread.py                   # instructions per span, ~1 min
    uv run python bench/otlp_thread.py --cpu             # the thread's CPU per span over HTTP

The spans are those of a successful realistic call (``bench/observability.py
--realistic``): the request attributes at ``start_span`` (operation, provider,
model, server address and port, max tokens), the response ones in one
``set_attributes`` (response model, finish reasons, token counts, attempts,
a response id new every call, the cost), then ``end``.

Instructions (valgrind's cachegrind, the default): a child process makes
``--spans`` such spans into a ``SpanQueue`` whose thread never runs (its batch
size and delay are out of reach), in rounds of 512; after each round it either
encodes the queued spans as the thread would (``SpanEncoder.encode``, into a
sender that drops the bytes) or just empties the queue. Each child runs twice,
with and without the spans; so:

- **call path**: (spans, queue emptied) less (no spans), per span: ``start_span``,
  ``set_attributes`` and ``end`` (the span's start, not ``CallTracer``'s glue);
- **encoding**: (spans, encoded) less (spans, queue emptied), per span: what the
  thread does with a batch, less the HTTP request.

``--cpu``: the lean provider of relaykit-otlp's ``OtlpExporter``, sending over
OTLP/HTTP (the SDK exporter's own client) to a loopback sink, as in
``observability.py``; ``--spans`` spans a round, then a flush from a thread of
its own; the exporter thread's CPU (``pthread_getcpuclockid``) plus the
flush's, per span, with the part in ``encode`` and the part in the sender
(the HTTP request). A timing: noisy on a shared machine.

To count another version, put its sources first on ``PYTHONPATH`` (as for
``observability.py``). Needs ``valgrind`` on the PATH for the default mode.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import threading
import time
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

ROUND = 512


def make_spans(tracer: Any, n: int, first: int = 0) -> None:
    """``n`` spans of a successful realistic call, ended."""
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": 44321,
    }
    for i in range(first, first + n):
        attributes: dict[str, Any] = base.copy()
        attributes["gen_ai.request.max_tokens"] = 512
        span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes)
        span.set_attributes(
            {
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": 480 + i % 40,
                "gen_ai.usage.output_tokens": 250 + i % 10,
                "relaykit.attempts": 1,
                "gen_ai.response.id": f"chatcmpl-{i:024d}",
                "relaykit.cost_usd": 0.0002235 + (i % 40) * 1e-7,
            }
        )
        span.end()


def child(spans: int, encode: bool) -> None:
    """What a counted process runs (see the module's docstring)."""
    from relaykit_otlp.lean_spans import LeanTracerProvider, sampler_from_env
    from relaykit_otlp.span_queue import SpanQueue

    sent: list[int] = []
    queue = SpanQueue(
        InMemorySpanExporter(),
        Resource.create({"service.name": "relaykit"}),
        max_queue_size=1 << 30,
        max_export_batch_size=1 << 30,
        schedule_delay_millis=1e9,
        send=lambda data: sent.append(len(data)),
    )
    provider = LeanTracerProvider(queue, sampler_from_env() or sampling.DEFAULT_ON)
    tracer = provider.get_tracer("relaykit", "0.1")
    make_spans(tracer, 2 * ROUND)  # warm-up: the encoder's caches fill
    queue.encoder.encode(list(queue._queue))
    queue._queue.clear()
    assert queue.send is not None
    gc.collect()
    gc.freeze()
    for first in range(0, spans, ROUND):
        make_spans(tracer, min(ROUND, spans - first), first)
        batch = list(queue._queue)
        queue._queue.clear()
        if encode:
            queue.send(queue.encoder.encode(batch))


def instructions(spans: int) -> None:
    """Instructions per span, call path and encoding (see the module's docstring)."""
    from instructions import cachegrind

    def count(n: int, encode: bool) -> int:
        argv = [__file__, "--child", str(n), "encode" if encode else "drop"]
        # One hash seed for all three: dict probing moves counts by ~1 k a span.
        return cachegrind(argv, env={**os.environ, "PYTHONHASHSEED": "0"})

    none = count(0, False)
    dropped = count(spans, False)
    encoded = count(spans, True)
    print(f"{spans} spans; instructions per span:")
    print(f"  call path (start_span, set_attributes, end): {(dropped - none) / spans:,.0f}")
    print(f"  encoding (SpanEncoder.encode, a batch, per span): {(encoded - dropped) / spans:,.0f}")


def cpu(spans: int, rounds: int) -> None:
    """The exporter thread's CPU per span over OTLP/HTTP (see the module's docstring)."""
    from relaykit.testing import LoopbackServer
    from relaykit.testing import Request as HttpRequest
    from relaykit.testing import Response as HttpResponse
    from relaykit_otlp import OtlpExporter

    async def sink(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {"content-type": "application/x-protobuf"}, b"")

    def clock(thread: threading.Thread) -> float:
        assert thread.ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))

    with LoopbackServer(sink) as server:
        before = set(threading.enumerate())
        exporter = OtlpExporter(endpoint=server.url, metrics_enabled=False, tracer="lean")
        threads = list(set(threading.enumerate()) - before)
        provider: Any = exporter.tracer_provider
        queue = provider._queue
        spent = {"encode": 0.0, "send": 0.0}
        encode, send = queue.encoder.encode, queue.send

        def timed_encode(batch: Any) -> bytes:
            start = time.thread_time()
            try:
                return encode(batch)  # type: ignore[no-any-return]
            finally:
                spent["encode"] += time.thread_time() - start

        def timed_send(data: bytes) -> object:
            start = time.thread_time()
            try:
                return send(data)
            finally:
                spent["send"] += time.thread_time() - start

        queue.encoder.encode, queue.send = timed_encode, timed_send
        tracer = provider.get_tracer("relaykit", "0.1")
        make_spans(tracer, 2 * ROUND)
        provider.force_flush()
        gc.collect()
        gc.freeze()
        totals = []
        print(f"{spans} spans a round; exporter thread CPU µs per span:")
        for r in range(rounds):
            spent.update(encode=0.0, send=0.0)
            start = sum(map(clock, threads))
            for first in range(0, spans, 64):
                make_spans(tracer, 64, r * spans + first)
                time.sleep(0.0005)  # the thread gets to run, as beside an event loop
            total = sum(map(clock, threads)) - start + flush(provider)
            totals.append(total / spans * 1e6)
            print(
                f"  round {r + 1}: {totals[-1]:.1f} (encode {spent['encode'] / spans * 1e6:.1f},"
                f" send {spent['send'] / spans * 1e6:.1f}); dropped {queue.dropped}"
            )
        print(f"  median {statistics.median(totals):.1f}")
        exporter.tracer_provider.shutdown()  # type: ignore[union-attr]


def flush(provider: Any) -> float:
    """Export what is queued, in a thread of its own; the CPU seconds that took."""
    flushed: list[float] = []

    def run() -> None:
        provider.force_flush()
        flushed.append(time.thread_time())

    helper = threading.Thread(target=run)
    helper.start()
    helper.join()
    return flushed[0]


def main() -> None:
    """Count or time (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=4096)
    parser.add_argument("--cpu", action="store_true", help="time the thread over HTTP")
    parser.add_argument("--rounds", type=int, default=5, help="--cpu's rounds")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # SPANS encode|drop
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1] == "encode")
    elif args.cpu:
        cpu(args.spans, args.rounds)
    else:
        instructions(args.spans)


if __name__ == "__main__":
    main()
