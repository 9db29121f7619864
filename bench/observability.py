"""Client CPU per request with observability on vs off, and Redis limiter decisions/s.

    uv run python bench/observability.py            # everything, ~1 minute
    uv run python bench/observability.py --quick    # fewer requests, for a smoke run
    uv run python bench/observability.py --providers fake,aiohttp --no-redis  # a part of it
    uv run python bench/observability.py --providers fake --no-redis --capture-content
    uv run python bench/observability.py --realistic --no-redis   # aiohttp over TLS, ~2 KB turns
    uv run python bench/observability.py --realistic --stream --no-redis --tracer lean
    uv run python bench/observability.py --backend trio --providers fake,httpx --no-redis

To measure another version (say, before a change), put its sources first::

    git archive <commit> core/src plugins | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/core/src:/tmp/before/plugins/pii/src:/tmp/before/plugins/prometheus/src \
        uv run python bench/observability.py

and run the two one after the other, more than once: the HTTP rounds move by
tens of µs with the load of the machine.

Each scenario runs N sequential ``client.chat`` calls and measures the CPU time
of the thread running the event loop (``time.thread_time``), so the loopback
server's own thread is not counted. Providers:

- ``fake``: relaykit.testing.FakePlugin, in process; the call costs almost
  nothing, so this is the worst case for relative overhead.
- ``httpx`` and ``aiohttp``: the OpenAIMock loopback server over real HTTP,
  through each transport: what a call to a real provider costs the client.

Scenarios: plain (no storage, no exporters), then each feature alone, then all
together: tracing (OpenTelemetry SDK, in-memory span exporter), metrics
(relaykit-prometheus, no scrape), redaction (secret + relaykit-pii, applied to
each record handed to a no-op exporter), limiter (built-in memory limiter with
RPM, TPM and a budget). ``--capture-content`` runs them all with
``[telemetry] capture_content = true``: spans carry the redacted prompt and
answer (only the tracing scenarios change). ``--tracer sdk`` or ``--tracer
lean`` traces through relaykit-otlp's exporter instead of the in-memory one
(``[exporters.otlp] tracer``: the SDK's provider and batch processor, or the
lean provider), sending OTLP/HTTP to a loopback sink that answers 200 and
reads nothing; both encode and send spans on their own threads, whose CPU
(``pthread_getcpuclockid`` over the timed calls, plus a flush at the end in a
thread of its own) is reported per call in the ``thread`` column and added
in ``+thread``; ``dropped`` counts spans a full queue dropped (they were not
encoded, so a run with drops undercounts). ``--scenarios plain,tracing``
runs only those. ``--lighter`` adds three scenarios
for lighter readings of issue #6's target: ``records`` (records handed to a
no-op exporter, redacted by the built-in secret redactor alone), ``lite``
(metrics, those records and the limiter: everything but the SDK's span and
PII detection) and ``no_pii`` (everything but relaykit-pii, which is opt-in:
the features as a default install has them); with ``--realistic`` too.

``--realistic`` runs the same scenarios (plain, each feature, all) only over
relaykit-aiohttp, to the loopback mock over TLS (a CA made at start, trusted
through ``[http] ca_file``), with a realistic turn: a ~1.3 KB system prompt and
a ~0.7 KB user message, answered with ~1 KB, both holding an email address and
a card number. The plain path then costs what a real call costs the client
(the TLS records, bigger JSON both ways), and redaction works on real-sized
text. The system prompt is the same on every call, as in applications (a
client's redaction chain remembers it from its second call on); the user
message and the answer end in the request's number, so they are new each call.
The default run is unchanged.

``--realistic --stream`` streams each answer instead (``client.stream`` read to
its end; the mock sends the answer in 8-character chunks, ~125 of them, where
a real model sends a token, ~4 characters, a chunk): what a chat UI's call
costs the client, the features' per-call work spread over a longer plain path.

``--realistic --history N`` resends the last N exchanges (user message and
answer) on every turn, as a chat application does (:class:`Conversation`): the
plain path carries the whole history each call, while only the newest user
message and answer are new text to redact (the client's redaction chain
remembers what it has redacted).

``--tracer`` and ``--scenarios`` apply to ``--realistic`` too: ``--realistic --tracer
lean`` is the reading closest to a production call with relaykit-otlp's defaults.

``--backend trio`` runs the calls under trio instead of asyncio (relaykit-aiohttp
is asyncio's only: under trio the ``aiohttp`` provider is skipped, and
``--realistic`` goes through httpx).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import relaykit
from relaykit import hookimpl
from relaykit.config import Config
from relaykit.testing import FakePlugin, LoopbackServer, OpenAIMock, Reply
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

KEY = "sk-bench-0123456789abcdef0123"
PROMPT = "Summarise: my email is jane@example.com and my card is 4111 1111 1111 1111. Thanks!"


class NoOpExporter:
    """Receives records (so redaction runs) and does nothing with them."""

    def record(self, event: object) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        return [self] if "noop" in config.exporters else []

    # optional: older sources measured first (see above) have no such hook
    @hookimpl(optionalhook=True)
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ("exporters.noop",)


class InMemoryTracing:
    """An exporter plugin bringing an SDK tracer provider with an in-memory span exporter.

    Like relaykit-otlp with ``metrics = false``, it takes no call records
    (``needs_records``): the tracing scenario measures tracing alone.
    """

    needs_content = False
    needs_records = False

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def record(self, event: object) -> None:
        pass

    async def flush(self) -> None:
        self.spans.clear()

    async def aclose(self) -> None:
        self.tracer_provider.shutdown()

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        return [self] if "tracing" in config.exporters else []

    # optional: older sources measured first (see above) have no such hook
    @hookimpl(optionalhook=True)
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ("exporters.tracing",)


class OtlpTracing:
    """An exporter plugin bringing relaykit-otlp's tracer provider (``tracer``), sending
    to ``endpoint``; it knows its threads, to count their CPU. Traces only, as
    relaykit-otlp with ``metrics = false``: no call records."""

    needs_content = False
    needs_records = False

    def __init__(self, tracer: str, endpoint: str) -> None:
        self.tracer = tracer
        self.endpoint = endpoint
        self.exporter: Any = None
        self.threads: list[threading.Thread] = []
        self.tracer_provider: Any = None

    def record(self, event: object) -> None:
        pass

    async def flush(self) -> None:
        pass  # the exporter's thread sends on its own schedule, as in production

    async def aclose(self) -> None:
        if self.exporter is not None:
            await self.exporter.aclose()

    def thread_cpu(self) -> float:
        """CPU seconds the exporter's threads have spent so far."""
        return sum(
            time.clock_gettime(time.pthread_getcpuclockid(t.ident))
            for t in self.threads
            if t.ident is not None and t.is_alive()
        )

    def drain(self) -> float:
        """Export what is queued, in a thread of its own; the CPU seconds that took."""
        spent: list[float] = []

        def flush() -> None:
            self.tracer_provider.force_flush()
            spent.append(time.thread_time())

        helper = threading.Thread(target=flush)
        helper.start()
        helper.join()
        return spent[0]

    def dropped(self) -> int:
        """Spans dropped by a full queue (the SDK's are counted from its warnings)."""
        if self.tracer == "lean":
            return int(self.tracer_provider.dropped_spans)
        return SDK_DROPS.count

    # optional: older sources measured first (see above) have no such hook
    @hookimpl(optionalhook=True)
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ("exporters.tracing",)

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        if "tracing" not in config.exporters:
            return []
        from relaykit_otlp import OtlpExporter

        before = set(threading.enumerate())
        try:
            self.exporter = OtlpExporter(
                endpoint=self.endpoint, metrics_enabled=False, tracer=self.tracer
            )
        except TypeError:  # sources from before the lean provider: the SDK's only
            assert self.tracer == "sdk", "these sources have no lean tracer provider"
            self.exporter = OtlpExporter(endpoint=self.endpoint, metrics_enabled=False)
        self.threads = list(set(threading.enumerate()) - before)
        self.tracer_provider = self.exporter.tracer_provider
        return [self]


class _Drops(logging.Handler):
    """Counts the SDK batch processor's "Queue full" warnings (one per dropped span)."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Queue full" in record.getMessage():
            self.count += 1


SDK_DROPS = _Drops()


async def _sink(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"content-type": "application/x-protobuf"}, b"")


FEATURES: dict[str, dict[str, Any]] = {
    "tracing": {"exporters": {"tracing": {}}},
    "metrics": {"exporters": {"prometheus": {}}},
    "redaction": {"exporters": {"noop": {}}, "redactors": {"pii": {"enabled": True}}},
    "limiter": {"limits": {"*": {"rpm": 10**9, "tpm": 10**12, "budget_usd": 10**9}}},
    # --lighter only: records redacted by the secret redactor alone
    "records": {"exporters": {"noop": {}}},
}
#: --lighter's scenarios (label, features)
LIGHTER = [
    ("records", ["records"]),
    ("lite", ["metrics", "records", "limiter"]),
    # everything but relaykit-pii (opt-in): issue #6's features as installed by default
    ("no_pii", ["tracing", "metrics", "records", "limiter"]),
]
#: what "all" and "each feature alone" cover: not --lighter's records
MAIN_FEATURES = ("tracing", "metrics", "redaction", "limiter")


def scenario(names: Sequence[str], base: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {**base, "exporters": {}, "redactors": {}}
    for name in names:
        for key, value in FEATURES[name].items():
            config[key] = {**config.get(key, {}), **value}
    return config


def prompt_turn(label: str) -> str:
    """:data:`PROMPT`, made new by ``label``."""
    return f"{PROMPT} ({label})"


async def run(
    config: dict[str, Any],
    model: str,
    n: int,
    otlp: tuple[str, str] | None = None,
    turn: Callable[[str], Any] = prompt_turn,
    max_tokens: int = 64,
    stream: bool = False,
) -> tuple[float, float, int]:
    """CPU seconds of this thread per call, over ``n`` sequential calls (after a warm-up);
    with ``otlp`` (tracer, endpoint), also the exporter's threads' CPU seconds per
    call and the spans a full queue dropped. ``turn(label)`` makes each call's
    messages (:func:`prompt_turn`, or a :class:`Conversation`). ``stream``: each call is
    ``client.stream`` read to its end instead of ``client.chat``.

    Each turn ends in its request's number, so no cache keyed by text can make
    redaction of the prompt look cheaper than it is for fresh text (a realistic
    turn's system prompt repeats on purpose, as in applications). Every call
    also yields to the event loop once, as a real call does: the fake provider
    never suspends, and without a turn of the loop asyncio never sweeps the
    cancelled timers of finished calls, which then pile up and make the garbage
    collector's full passes land on whichever scenario runs long enough.
    """
    tracing: Any = InMemoryTracing() if otlp is None else OtlpTracing(*otlp)
    fake = FakePlugin()
    thread = 0.0
    dropped = SDK_DROPS.count = 0
    async with relaykit.Client(config, plugins=[fake, NoOpExporter(), tracing]) as client:

        async def call(messages: Any) -> None:
            if not stream:
                await client.chat(model, messages, max_tokens=max_tokens)
                return
            async with client.stream(model, messages, max_tokens=max_tokens) as events:
                async for _ in events:
                    pass

        for i in range(50):
            await call(turn(f"warm-up {i}"))
        prompts = [turn(f"request {i}") for i in range(n)]
        # Full collections otherwise walk every object the imports left behind: one
        # takes ~40 ms here and lands in whichever round it falls, swamping what
        # the features cost. Frozen, those objects are skipped (as in servers that
        # freeze after start-up); what the calls allocate is still collected.
        gc.collect()
        gc.freeze()
        counted = otlp is not None and tracing.tracer_provider is not None
        if counted:
            tracing.drain()  # the warm-up's spans are not the timed calls'
            threads_before, dropped_before = tracing.thread_cpu(), tracing.dropped()
        start = time.thread_time()
        for i, prompt in enumerate(prompts):
            await call(prompt)
            await anyio.lowlevel.checkpoint()
            if i % 500 == 499:
                await tracing.flush()  # keep the in-memory exporter from growing
                fake.calls.clear()  # the fake keeps every request for tests to inspect
        elapsed = time.thread_time() - start
        if counted:
            thread = tracing.thread_cpu() - threads_before + tracing.drain()
            dropped = tracing.dropped() - dropped_before
    gc.unfreeze()
    return elapsed / n, thread / n, dropped


PROVIDERS = ("fake", "httpx", "aiohttp")


def client_overhead(
    n: int,
    repeats: int,
    only: Sequence[str] = PROVIDERS,
    *,
    capture: bool = False,
    lighter: bool = False,
    tracer: str = "memory",
    chosen: Sequence[str] = (),
    backend: str = "asyncio",
) -> None:
    scenarios: list[tuple[str, list[str]]] = [
        ("plain", []),
        *((name, [name]) for name in MAIN_FEATURES),
        ("all", list(MAIN_FEATURES)),
    ]
    if lighter:
        scenarios += LIGHTER
    if chosen:
        scenarios = [(label, names) for label, names in scenarios if label in chosen]
    sink = LoopbackServer(_sink) if tracer != "memory" else None
    if sink is not None:
        sink.start()
        logging.getLogger("opentelemetry.sdk._shared_internal").addHandler(SDK_DROPS)
    otlp = (tracer, sink.url) if sink is not None else None
    common: dict[str, Any] = {"storage": {"backend": "none"}}
    if capture:
        common["telemetry"] = {"capture_content": True}
    with OpenAIMock(api_key=KEY) as mock:
        openai = {"openai": {"base_url": mock.base_url, "api_key": KEY}}
        providers: dict[str, dict[str, Any]] = {
            "fake": common,
            "http (httpx)": {**common, "providers": openai, "http": {"transport": "httpx"}},
            "http (aiohttp)": {**common, "providers": openai},
        }
        for provider, base in providers.items():
            if provider.removeprefix("http (").rstrip(")") not in only:
                continue
            if provider == "http (aiohttp)" and backend != "asyncio":
                print(f"\n{provider} provider: asyncio only, skipped under {backend}")
                continue
            model = "fake/m" if provider == "fake" else "openai/gpt-4o-mini"
            calls = n if provider == "fake" else max(200, n // 5)
            # Rounds alternate the scenarios (plain, tracing, ..., all, plain, ...),
            # so load from other work on the machine falls on all of them alike.
            samples: dict[str, list[float]] = {label: [] for label, _ in scenarios}
            threads: dict[str, list[float]] = {label: [] for label, _ in scenarios}
            drops: dict[str, int] = dict.fromkeys(samples, 0)
            for _ in range(repeats):
                for label, names in scenarios:
                    cpu, thread, dropped = anyio.run(
                        run, scenario(names, base), model, calls, otlp, backend=backend
                    )
                    samples[label].append(cpu)
                    threads[label].append(thread)
                    drops[label] += dropped
            print(f"\n{provider} provider, {calls} calls x {repeats} rounds (median), CPU/call:")
            print_table(samples, threads, drops, counted=otlp is not None)
    if sink is not None:
        sink.stop()


def print_table(
    samples: dict[str, list[float]],
    threads: dict[str, list[float]],
    drops: dict[str, int],
    *,
    counted: bool,
) -> None:
    """Each scenario's median CPU per call, what it adds to plain's, and (``counted``:
    tracing through relaykit-otlp) the exporter thread's CPU per call, the sum, drops."""
    results = {label: statistics.median(values) for label, values in samples.items()}
    plain = results.get("plain", 0.0)
    extra = f" {'thread':>7} {'+thread':>8} {'dropped':>7}" if counted else ""
    print(f"  {'scenario':<10} {'us/call':>9} {'added':>8} {'overhead':>9}{extra}")
    for label, value in results.items():
        # without plain among the scenarios (--scenarios all) there is nothing to add to
        relative = label != "plain" and "plain" in results
        added = f"{(value - plain) * 1e6:+.1f}" if relative else ""
        over = f"{(value / plain - 1) * 100:+.1f}%" if relative else ""
        if counted:
            thread = statistics.median(threads[label])
            total = f"{(value + thread - plain) * 1e6:+.1f}" if relative else ""
            extra = f" {thread * 1e6:7.1f} {total:>8} {drops[label]:7d}"
        print(f"  {label:<10} {value * 1e6:9.1f} {added:>8} {over:>9}{extra}")


async def redis_decisions(seconds: float, concurrency: int) -> float:
    from relaykit.config import LimitConfig
    from relaykit_redis import RedisRateLimiter

    limiter = RedisRateLimiter("redis://127.0.0.1:6379/15", prefix=f"bench-{uuid.uuid4().hex[:8]}")
    limit = LimitConfig(rpm=10**9, tpm=10**12, budget_usd=Decimal(10**9))
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await limiter.acquire("bench", limit, 100, cost=Decimal("0.001"))
            count += 1

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    elapsed = time.perf_counter() - start
    await limiter.aclose()
    return count / elapsed


def redis_throughput(seconds: float) -> None:
    from relaykit.testing import service_reachable

    if not service_reachable("127.0.0.1", 6379):
        print("\nredis: not reachable at 127.0.0.1:6379, skipped")
        return
    print(
        f"\nRedis limiter decisions/s from one process ({seconds:g}s each;"
        " rpm+tpm+budget per decision):"
    )
    for backend in ("asyncio", "trio"):
        for concurrency in (1, 16):
            rate = anyio.run(redis_decisions, seconds, concurrency, backend=backend)
            print(f"  {backend:<8} {concurrency:>2} task(s): {rate:9,.0f} /s")


# -- --realistic: a real call's plain cost (TLS, a realistic turn) ----------------------

#: ~1.3 KB: a support assistant's instructions, as applications send on every turn
SYSTEM = (
    "You are the support assistant of Northwind Outfitters, an online shop for outdoor"
    " gear. Answer in the customer's language, in a friendly and concise tone, in at most"
    " three short paragraphs. Use only the order details given in the conversation; never"
    " invent order numbers, prices, delivery dates or tracking links. If the customer asks"
    " about a refund, explain the 30-day return policy: items must be unused and in their"
    " original packaging, the refund goes to the original payment method within 5 to 10"
    " business days of the return being received, and shipping costs are refunded only"
    " for faulty items. If the customer asks about a delivery, give the carrier and the"
    " expected date from the order details, and offer to open a ticket with the carrier"
    " when the parcel is more than three days late. Never repeat a full card number back:"
    " refer to a card by its last four digits. Do not ask for passwords, security codes or"
    " full card numbers. If a request is outside your scope (legal advice, medical"
    " questions, other shops), say so politely and suggest contacting a human agent at"
    " support@northwind.example. Sign every answer as 'Northwind Support'. Current"
    " promotions: 15% off tents with code CAMP15 until the end of the month; free"
    " shipping on orders over 80 EUR within the EU."
)
#: ~0.7 KB, holding an email address and a card number (as PROMPT does)
USER = (
    "Hello, I ordered a two-person tent and a sleeping bag last week (order NW-20931) and"
    " only the sleeping bag arrived. The confirmation went to jane.doe@example.com and I"
    " paid with my Visa card 4111 1111 1111 1111. The tracking page says the second parcel"
    " was handed to the carrier on Monday but it has not moved since. Could you tell me"
    " when it will arrive? If it is lost, I would rather get a refund than wait another"
    " week, since we leave for our trip on Saturday. Also, can I still use the CAMP15 code"
    " on a replacement tent if I reorder today? My phone number is +44 20 7946 0958 if"
    " a call is easier. Thank you!"
)
#: ~1 KB, quoting the email address and the card's last digits back
ANSWER = (
    "Hello Jane, thank you for getting in touch, and I am sorry that your tent has not"
    " arrived yet. I can see order NW-20931: the sleeping bag was delivered on Friday,"
    " and the tent left our warehouse on Monday in a separate parcel with the carrier."
    " Its tracking has not been updated since, which usually means the parcel is waiting"
    " at a regional depot. I have opened a ticket with the carrier and asked them to"
    " locate it; you will hear from us at jane.doe@example.com within 24 hours. If the"
    " parcel has not been found by Thursday, we will refund the tent to your Visa card"
    " ending in 1111 (card 4111 1111 1111 1111 on the order), or send a replacement by"
    " express delivery at no cost, whichever you prefer, so that you have it before"
    " Saturday. The CAMP15 code is valid until the end of the month, so you can also use"
    " it on a new order today; if you do, reply to this message with the new order number"
    " and we will cancel the refund request. Have a wonderful trip! Northwind Support"
)


class RealisticMock(OpenAIMock):
    """OpenAIMock answering every call with :data:`ANSWER` (not an echo of the prompt),
    ending in the user message's label, so each answer is new as each prompt is."""

    def default_reply(self, last_user_text: str) -> Reply:
        return Reply(text=f"{ANSWER} {last_user_text[last_user_text.rfind('(') :]}")


class Conversation:
    """Turns of one chat: each call sends the system prompt, the last ``history``
    exchanges (each user message and the answer :class:`RealisticMock` gave it) and
    a new user message, as chat applications resend their history every turn
    (``history`` 0: the realistic single turn, a system prompt and a user message).

    Call it once per call, in the order the calls are made: each turn's history is
    the turns made before it (what the client has already sent and received).
    """

    def __init__(self, history: int) -> None:
        #: the labels of the last ``history`` turns
        self.past: deque[str] = deque(maxlen=history)

    def __call__(self, label: str) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": SYSTEM}]
        for old in self.past:
            messages.append({"role": "user", "content": f"{USER} ({old})"})
            messages.append({"role": "assistant", "content": f"{ANSWER} ({old})"})
        messages.append({"role": "user", "content": f"{USER} ({label})"})
        if self.past.maxlen:
            self.past.append(label)
        return messages


def realistic_overhead(
    n: int,
    repeats: int,
    *,
    capture: bool = False,
    backend: str = "asyncio",
    tracer: str = "memory",
    chosen: Sequence[str] = (),
    stream: bool = False,
    history: int = 0,
    lighter: bool = False,
) -> None:
    """Each scenario over relaykit-aiohttp (httpx under trio) to a TLS loopback mock
    with a realistic turn; ``stream``: streamed (the answer in 8-character chunks);
    ``history``: each turn resends that many earlier exchanges (:class:`Conversation`)."""
    import tempfile
    from pathlib import Path

    from relaykit.testing import loopback_tls

    scenarios: list[tuple[str, list[str]]] = [
        ("plain", []),
        *((name, [name]) for name in MAIN_FEATURES),
        ("all", list(MAIN_FEATURES)),
    ]
    if lighter:
        scenarios += LIGHTER
    if chosen:
        scenarios = [(label, names) for label, names in scenarios if label in chosen]
    certs = loopback_tls()
    sink = LoopbackServer(_sink) if tracer != "memory" else None
    if sink is not None:
        sink.start()
        logging.getLogger("opentelemetry.sdk._shared_internal").addHandler(SDK_DROPS)
    otlp = (tracer, sink.url) if sink is not None else None
    with tempfile.TemporaryDirectory() as tmp, RealisticMock(KEY, tls=certs.server_context) as mock:
        base: dict[str, Any] = {
            "storage": {"backend": "none"},
            "http": {"ca_file": str(certs.write_ca(Path(tmp) / "ca.pem"))},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }
        if capture:
            base["telemetry"] = {"capture_content": True}
        calls = max(200, n // 5)
        samples: dict[str, list[float]] = {label: [] for label, _ in scenarios}
        threads: dict[str, list[float]] = {label: [] for label, _ in scenarios}
        drops: dict[str, int] = dict.fromkeys(samples, 0)
        for _ in range(repeats):  # alternating, as client_overhead does
            for label, names in scenarios:
                cpu, thread, dropped = anyio.run(
                    run,
                    scenario(names, base),
                    "openai/gpt-4o-mini",
                    calls,
                    otlp,
                    Conversation(history),
                    512,
                    stream,
                    backend=backend,
                )
                samples[label].append(cpu)
                threads[label].append(thread)
                drops[label] += dropped
        assert mock.requests[-1].json()["messages"][0]["content"] == SYSTEM
    if sink is not None:
        sink.stop()
    turn = Conversation(history)
    for i in range(history):
        turn(f"request {i}")
    sent = len(json.dumps(turn(f"request {history}")))
    http = "aiohttp" if backend == "asyncio" else "httpx"
    streamed = f", streamed in {-(-len(ANSWER) // 8)} chunks" if stream else ""
    streamed += f", {history} earlier exchanges resent" if history else ""
    print(
        f"\nrealistic: {http} over TLS, ~{sent} B of messages, {len(ANSWER)} B answer{streamed};"
        f" {calls} calls x {repeats} rounds (median), CPU/call:"
    )
    print_table(samples, threads, drops, counted=otlp is not None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, one run each")
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help=f"which of {', '.join(PROVIDERS)} to measure (comma-separated; default all)",
    )
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis limiter")
    parser.add_argument(
        "--lighter",
        action="store_true",
        help="also: records with secret redaction only, and everything but the SDK span and PII",
    )
    parser.add_argument(
        "--capture-content",
        action="store_true",
        help="spans carry the (redacted) prompt and answer: [telemetry] capture_content = true",
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="instead: relaykit-aiohttp over TLS with a ~2 KB turn and a ~1 KB answer",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="with --realistic: stream each answer (client.stream, 8-character chunks)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="with --realistic: each turn resends this many earlier exchanges, as a chat does",
    )
    parser.add_argument(
        "--tracer",
        choices=("memory", "sdk", "lean"),
        default="memory",
        help="tracing through the SDK with an in-memory exporter (default), or through"
        " relaykit-otlp's exporter with the SDK's or the lean tracer provider",
    )
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop the calls run on (default asyncio; aiohttp is asyncio only)",
    )
    parser.add_argument(
        "--scenarios", default="", help="only these scenarios (comma-separated, e.g. plain,tracing)"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.providers.split(",") if name.strip()]
    unknown = sorted(set(only) - set(PROVIDERS))
    if unknown:
        parser.error(f"unknown provider(s) {', '.join(unknown)}: pick from {', '.join(PROVIDERS)}")
    if (args.stream or args.history) and not args.realistic:
        parser.error("--stream and --history go with --realistic: add --realistic")
    if args.history < 0:
        parser.error("--history counts earlier exchanges: 0 or more")
    n, repeats, seconds = (500, 1, 1.0) if args.quick else (3000, 5, 3.0)
    capture = ", capture_content on" if args.capture_content else ""
    print(
        f"python {sys.version.split()[0]}, relaykit {relaykit.__version__}, {args.backend}{capture}"
    )
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    print(f"tracing: {args.tracer}")
    if args.realistic:
        realistic_overhead(
            n,
            repeats,
            capture=args.capture_content,
            backend=args.backend,
            tracer=args.tracer,
            chosen=chosen,
            stream=args.stream,
            history=args.history,
            lighter=args.lighter,
        )
    else:
        client_overhead(
            n,
            repeats,
            only,
            capture=args.capture_content,
            lighter=args.lighter,
            tracer=args.tracer,
            chosen=chosen,
            backend=args.backend,
        )
    if not args.no_redis:
        redis_throughput(seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
