"""The floors under observability's cost: the libraries' own work per call, without relaykit.

    uv run python bench/observability_floors.py [--calls 20000] [--rounds 5]

``bench/observability.py`` measures what tracing, metrics, redaction and a
limiter add to a ``client.chat`` call. Much of that is not relaykit's client
code: the OpenTelemetry SDK's span, the PII scan of text that holds PII, an
exporter's bookkeeping. This runs those parts by themselves, with the same
inputs as that bench (its tracer provider, its prompt and answer), so that
what is left of the bench's numbers is what the client itself adds:

- **span**: the bench's ``TracerProvider`` (``SimpleSpanProcessor`` into an
  in-memory exporter, cleared every 500 spans as there): ``start_span`` with the
  13 GenAI attributes of a successful call in one dict, make it current, leave
  it, ``end``. Then the same with the request attributes at the start and the
  response attributes in one ``set_attributes`` (what a client must do, since
  the response comes later), and with a ``traceparent`` injected through the
  global propagator while the span is current.
- **lean span**: the same three through relaykit-otlp's ``LeanTracerProvider``
  (its span queue encoding each batch as OTLP protobuf, as in production, and
  handing the bytes to a sender that only counts them). Its spans are encoded
  on the queue's own thread, so that thread's CPU (``pthread_getcpuclockid``;
  a flush at the end of each round runs in a thread of its own and is counted
  too) is shown per span in the ``thread`` column; "alone" and "GC off" are
  the calling thread's CPU only.
- **pii**: relaykit-pii's ``redact`` on the bench's prompt and on the fake
  provider's answer (``"echo: " + prompt``); both hold an email and a card number.
- **secrets**: the built-in secret redactor on the same two texts.
- **prometheus**: relaykit-prometheus's ``record`` of a successful call's record
  (``relaykit.metrics.observe`` included).
- all of span (request + response attributes), pii, secrets and prometheus,
  with the SDK's span and with the lean one.
- the OTLP encoding of such a span, per span in batches of 512 (``--encode-only``
  runs just this): the SDK's ``encode_spans`` of ``ReadableSpan`` objects (what
  the SDK provider's thread does), the lean spans' conversion into those plus
  that (what the lean queue's thread did before it encoded by itself), and the
  lean queue's own encoder (what it does now).

Each is timed three ways, as client CPU µs per call (``time.thread_time``), the
median of alternating rounds: **alone**, back to back with the garbage
collector on (after freezing the warm-up heap, as the bench does); the same
with it off; and **beside** plain ``client.chat`` calls over FakePlugin, the
case run after each call, less what the calls cost by themselves. Beside a
call a library costs more than in a loop of its own (the call's code and data
push the library's out of the CPU caches), so "beside" is the floor to hold the
bench's "added" numbers against. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.types import AnyValue

import relaykit
from relaykit import Usage
from relaykit.builtins import SecretRedactor
from relaykit.protocols import CallRecord
from relaykit.testing import FakePlugin
from relaykit_otlp.lean_spans import LeanTracerProvider, sampler_from_env
from relaykit_otlp.span_queue import SpanQueue
from relaykit_pii import PiiRedactor
from relaykit_prometheus import PrometheusExporter

PROMPT = "Summarise: my email is jane@example.com and my card is 4111 1111 1111 1111. Thanks!"

REQUEST_ATTRIBUTES: dict[str, AnyValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "server.address": "127.0.0.1",
    "server.port": 41234,
    "gen_ai.request.max_tokens": 64,
    "gen_ai.request.temperature": 0.2,
}
RESPONSE_ATTRIBUTES: dict[str, AnyValue] = {
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 25,
    "gen_ai.usage.output_tokens": 27,
    "relaykit.attempts": 1,
    "gen_ai.response.id": "chatcmpl-0123456789",
}
ALL_ATTRIBUTES = {**REQUEST_ATTRIBUTES, **RESPONSE_ATTRIBUTES}
assert len(ALL_ATTRIBUTES) == 13


Case = Callable[[int], None]  # one call's work; the argument is the call's number


class LeanTracing:
    """The lean provider, and the CPU its queue's thread spends exporting its spans."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        #: bytes the queue's thread encoded (and "sent")
        self.sent = 0
        # A queue that never fills: a tight loop ends spans faster than any export.
        self.queue = SpanQueue(
            self.spans, Resource.create({}), max_queue_size=1_000_000, send=self._send
        )
        sampler = sampler_from_env()
        assert sampler is not None
        self.provider = LeanTracerProvider(self.queue, sampler)

    def _send(self, data: bytes) -> None:
        self.sent += len(data)

    def thread_cpu(self) -> float:
        """CPU seconds of the queue's thread so far."""
        ident = self.queue.thread.ident
        assert ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def drain(self) -> float:
        """Export what is queued, in a thread of its own; the CPU seconds that took."""
        spent: list[float] = []

        def flush() -> None:
            self.provider.force_flush()
            spent.append(time.thread_time())

        helper = threading.Thread(target=flush)
        helper.start()
        helper.join()
        self.spans.clear()
        return spent[0]


#: case name -> the lean provider whose thread's CPU counts for it
THREADS: dict[str, LeanTracing] = {}


def span_cases() -> dict[str, Case]:
    found = _span_cases(None)
    lean = LeanTracing()
    for name, case in _span_cases(lean).items():
        found[f"lean {name}"] = case
        THREADS[f"lean {name}"] = lean
    return found


def _span_cases(lean: LeanTracing | None) -> dict[str, Case]:
    spans = lean.spans if lean is not None else InMemorySpanExporter()
    provider: trace.TracerProvider
    if lean is None:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
    else:
        provider = lean.provider
    tracer = provider.get_tracer("relaykit", "0")
    kind = trace.SpanKind.CLIENT
    attach, detach, in_context = context.attach, context.detach, trace.set_span_in_context
    inject = propagate.inject

    def one_dict(i: int) -> None:
        span = tracer.start_span("chat gpt-4o-mini", kind=kind, attributes=ALL_ATTRIBUTES)
        token = attach(in_context(span))
        detach(token)
        span.end()
        if i % 500 == 499 and lean is None:
            spans.clear()

    def split(i: int) -> None:
        span = tracer.start_span("chat gpt-4o-mini", kind=kind, attributes=REQUEST_ATTRIBUTES)
        token = attach(in_context(span))
        detach(token)
        span.set_attributes(RESPONSE_ATTRIBUTES)
        span.end()
        if i % 500 == 499 and lean is None:
            spans.clear()

    def split_inject(i: int) -> None:
        span = tracer.start_span("chat gpt-4o-mini", kind=kind, attributes=REQUEST_ATTRIBUTES)
        token = attach(in_context(span))
        headers: dict[str, str] = {}
        inject(headers)
        detach(token)
        span.set_attributes(RESPONSE_ATTRIBUTES)
        span.end()
        if i % 500 == 499 and lean is None:
            spans.clear()

    return {
        "span, 13 attributes at start": one_dict,
        "span, 7 at start + set_attributes(6)": split,
        "  + propagate.inject(traceparent)": split_inject,
    }


# A different prompt per call, as in the bench: nothing can be cached by text.
PROMPTS = [f"{PROMPT} (request {i})" for i in range(1000)]
ANSWERS = [f"echo: {p}" for p in PROMPTS]


def redaction_cases() -> dict[str, Case]:
    pii = PiiRedactor().redact
    secrets = SecretRedactor().redact

    def pii_two_texts(i: int) -> None:
        pii(PROMPTS[i % 1000])
        pii(ANSWERS[i % 1000])

    def secrets_two_texts(i: int) -> None:
        secrets(PROMPTS[i % 1000])
        secrets(ANSWERS[i % 1000])

    return {"pii, prompt + answer": pii_two_texts, "secrets, prompt + answer": secrets_two_texts}


def prometheus_cases() -> dict[str, Case]:
    exporter = PrometheusExporter()
    record = CallRecord(
        id="0" * 32,
        started_at=time.time(),
        operation="chat",
        provider="openai",
        model_requested="openai/gpt-4o-mini",
        model="gpt-4o-mini",
        streamed=False,
        usage=Usage(input_tokens=25, output_tokens=27),
        cost=Decimal("0.0000213"),
        latency=0.0012,
        finish_reason="stop",
    )

    def record_call(i: int) -> None:
        exporter.record(record)

    return {"prometheus record": record_call}


def cases() -> dict[str, Case]:
    """Every case by name, plus the three a call with everything on would run together."""
    found = {**span_cases(), **redaction_cases(), **prometheus_cases()}
    span = found["span, 7 at start + set_attributes(6)"]
    pii, secrets = found["pii, prompt + answer"], found["secrets, prompt + answer"]
    record = found["prometheus record"]

    def together(i: int) -> None:
        span(i)
        pii(i)
        secrets(i)
        record(i)

    found["span + pii + secrets + prometheus"] = together
    lean_span = found["lean span, 7 at start + set_attributes(6)"]

    def lean_together(i: int) -> None:
        lean_span(i)
        pii(i)
        secrets(i)
        record(i)

    found["lean span + pii + secrets + prometheus"] = lean_together
    THREADS["lean span + pii + secrets + prometheus"] = THREADS[
        "lean span, 7 at start + set_attributes(6)"
    ]
    return found


def alone(case: Case, n: int, *, collect: bool, lean: LeanTracing | None = None) -> float:
    """CPU µs of this thread per call of ``case``, ``n`` calls back to back.

    With ``lean``, what its queue's thread spent on these calls' spans (and the
    flush of what was left) goes to ``THREAD_CPU``.
    """
    if not collect:
        gc.disable()
    try:
        before = lean.thread_cpu() if lean is not None else 0.0
        start = time.thread_time()
        for i in range(n):
            case(i)
        spent = (time.thread_time() - start) / n * 1e6
        if lean is not None:
            thread = lean.thread_cpu() - before + lean.drain()
            THREAD_CPU.append(thread / n * 1e6)
        return spent
    finally:
        gc.enable()


#: µs per span on the lean queue's threads, one value per timed run of a lean case
THREAD_CPU: list[float] = []


async def beside_calls(
    client: relaykit.Client, case: Case | None, n: int, lean: LeanTracing | None = None
) -> float:
    """CPU µs of this thread per plain ``client.chat`` over FakePlugin, each followed by ``case``.

    A library costs more beside a call than in a loop of its own: the call's
    code and data push the library's out of the CPU's caches. Subtracting the
    calls alone gives what the library's work costs where the client runs it.
    """
    start = time.thread_time()
    for i in range(n):
        await client.chat("fake/m", PROMPTS[i % 1000], max_tokens=64)
        if case is not None:
            case(i)
        await anyio.lowlevel.checkpoint()
        if i % 500 == 499:
            FAKE.calls.clear()
    spent = (time.thread_time() - start) / n * 1e6
    if lean is not None:
        lean.drain()
    return spent


FAKE = FakePlugin()


async def beside_rounds(named: dict[str, Case], n: int, rounds: int) -> dict[str, list[float]]:
    """Per round, plain calls alone and then beside each case; µs per call."""
    samples: dict[str, list[float]] = {}
    config = {"storage": {"backend": "none"}}
    async with relaykit.Client(config, plugins=[FAKE]) as client:
        await beside_calls(client, None, 200)  # warm up
        gc.collect()
        gc.freeze()
        try:
            for _ in range(rounds):
                samples.setdefault("", []).append(await beside_calls(client, None, n))
                for name, case in named.items():
                    lean = THREADS.get(name)
                    samples.setdefault(name, []).append(await beside_calls(client, case, n, lean))
        finally:
            gc.unfreeze()
    return samples


def encode_cost(rounds: int) -> dict[str, list[float]]:
    """CPU µs per span of encoding a batch of 512 spans of a successful call as OTLP,
    three ways (see the module's docstring), alternated round by round."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    lean = LeanTracing()
    tracer = lean.provider.get_tracer("relaykit", "0")
    spans: list[Any] = []
    for _ in range(512):
        span = tracer.start_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT)
        span.set_attributes(ALL_ATTRIBUTES)
        span.end()
        spans.append(span)
    lean.provider.shutdown()
    queue = lean.queue
    readable = [queue.readable(span) for span in spans]
    ways: dict[str, Callable[[], object]] = {
        "SDK encode_spans of ReadableSpans": lambda: encode_spans(readable).SerializeToString(),
        "lean spans -> ReadableSpans + SDK encoding": lambda: encode_spans(
            [queue.readable(span) for span in spans]
        ).SerializeToString(),
        "relaykit-otlp's encoder (span_encoding)": lambda: queue.encoder.encode(spans),
    }
    assert ways["SDK encode_spans of ReadableSpans"]() == queue.encoder.encode(spans)
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, encode in ways.items():
            start = time.thread_time()
            for _ in range(10):
                encode()
            out.setdefault(name, []).append((time.thread_time() - start) / (10 * 512) * 1e6)
    return out


def encoding_lines(encoded: dict[str, list[float]]) -> list[str]:
    """One line per way of encoding: the median and every round."""
    return [
        f"  {name:<45} {statistics.median(per_span):7.1f}"
        f"  (rounds: {', '.join(f'{e:.1f}' for e in per_span)})"
        for name, per_span in encoded.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--encode-only", action="store_true", help="only the OTLP encoding of a span"
    )
    args = parser.parse_args()
    encoding = [
        "OTLP encoding, CPU µs per span (batches of 512, median of the rounds):",
        *encoding_lines(encode_cost(args.rounds)),
    ]
    if args.encode_only:
        print("\n".join(encoding))
        return 0
    named = cases()
    for name, case in named.items():  # warm up, then freeze what is left, as the bench does
        alone(case, 1000, collect=True, lean=THREADS.get(name))
    gc.collect()
    gc.freeze()
    samples: dict[tuple[str, bool], list[float]] = {}
    threads: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, case in named.items():
            for collect in (True, False):
                THREAD_CPU.clear()
                samples.setdefault((name, collect), []).append(
                    alone(case, args.calls, collect=collect, lean=THREADS.get(name))
                )
                threads.setdefault(name, []).extend(THREAD_CPU)
    gc.unfreeze()
    beside = anyio.run(beside_rounds, named, args.calls // 4, args.rounds)
    plain = statistics.median(beside[""])
    print(f"{args.calls} calls x {args.rounds} rounds (median), CPU µs per call")
    print("(alone: back to back; beside: after each plain client.chat over FakePlugin,")
    print(f" less the {plain:.1f} µs the calls cost alone, {args.calls // 4} calls a round)")
    print("(thread: the lean queue's thread, per span, median of the alone runs)")
    print(f"  {'':<45} {'alone':>7} {'GC off':>7} {'beside':>7} {'thread':>7}")
    for name in named:
        on = statistics.median(samples[(name, True)])
        off = statistics.median(samples[(name, False)])
        near = statistics.median(beside[name]) - plain
        thread = f"{statistics.median(threads[name]):7.1f}" if threads.get(name) else ""
        print(f"  {name:<45} {on:7.1f} {off:7.1f} {near:7.1f} {thread:>7}")
    print("\n".join(encoding))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
