"""What tracing (and everything of issue #6 together) adds to a call, in instructions.

``observability.py``'s scenarios over the in-process fake provider (plain,
tracing, all: tracing + metrics + redaction + the memory limiter), each run
under valgrind's cachegrind twice, with ``--calls`` more calls the second
time; the difference over ``--calls`` is the cost of one call, without
start-up, imports or warm-up. Instruction counts barely move with the load of
a shared machine, so they show what timed rounds cannot; they are not time (a
cache miss costs more than an add), so read them next to ``observability.py``.

Tracers (``--tracers``):

- ``memory``: the OpenTelemetry SDK's provider with a ``SimpleSpanProcessor``
  into an in-memory exporter, as ``observability.py``'s default.
- ``lean``: relaykit-otlp's ``LeanTracerProvider`` over a ``SpanQueue`` that
  never exports while the calls run (its batch size and delay are out of
  reach; the queue is emptied every 500 calls, as the in-memory exporter is):
  what the calling thread does per span, without the export thread's encoding,
  which would otherwise be counted too (cachegrind counts every thread).

The ``no_pii`` scenario is ``all`` without relaykit-pii (opt-in): the records
are redacted by the built-in secret redactor alone.

The ``untraced`` scenario (``--scenarios plain,untraced``) keeps the tracing
scenario's exporter and turns tracing off. Its exporters take no call records
(``needs_records = False``, as relaykit-otlp's with metrics off), so it should
add nothing; before that it measured the record built per call (~28 k).

    uv run python bench/observability_instructions.py              # ~2 min
    uv run python bench/observability_instructions.py --tracers lean --scenarios tracing
    uv run python bench/observability_instructions.py --realistic --tracers lean \
        --scenarios plain,tracing,metrics,redaction,limiter,all

``--realistic`` sends ``observability.py``'s realistic turn instead of the short
prompt: the ~1.3 KB system prompt that repeats every call, the ~0.7 KB user message
and a ~1 KB answer (scripted on the fake provider) that are new every call, as
``observability.py --realistic`` does over HTTP, so the counts follow issue #6's
realistic reading (fresh text to redact in both directions).

``--realistic --history N`` resends the last N exchanges on every turn, as a chat
application does (``observability.Conversation``): the history repeats, and only
the newest user message and answer are new text.

``--realistic --http`` makes the same calls over relaykit-aiohttp and TLS to
``observability.py``'s ``RealisticMock`` on loopback (``max_tokens=512``, as its
realistic reading): the call path issue #6's target is read on, with the HTTP
client, TLS and the ``traceparent`` header. The mock runs in a process of its
own, outside valgrind, so that only the client's instructions are counted, as
``observability.py`` times only the calling thread (until session 28 it was a
thread of the counted process: its ~0.77 M instructions a call, the server's
TLS and JSON, were in the plain count, which made every overhead look smaller).

The children run with ``PYTHONHASHSEED=0`` (both runs of a pair do the same
work), which would make the redaction memo key texts by SHA-256, as it does when
a deployment fixes the hash seed; the child sets the memo back to the default
process's SipHash keys, so the counts are those of a default install.

``--free-scans`` makes both redactors' scans free (the built-in secret
redactor returns its text, relaykit-pii finds nothing) while the redaction
chain, its memo and the records still run: what the features would cost with
a scanner that took no time, the floor under any faster (compiled) scanner.

Valgrind hides the CPU's SHA extensions, so OpenSSL's SHA-256 runs its portable
code under it: the redaction memo's digest of each text it has not yet seen twice
counts ~33 k instructions a KB here, where it takes ~1.1-1.4 µs a KB timed.

To count another version, put its sources first (as for ``observability.py``)::

    git archive <commit> core/src plugins | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/core/src:/tmp/before/plugins/otlp/src:/tmp/before/plugins/pii/src:\
/tmp/before/plugins/prometheus/src uv run python bench/observability_instructions.py

Needs ``valgrind`` on the PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from instructions import cachegrind
from observability import (
    ANSWER,
    KEY,
    MAIN_FEATURES,
    PROMPT,
    Conversation,
    InMemoryTracing,
    NoOpExporter,
    RealisticMock,
    scenario,
)

import relaykit
from relaykit import hookimpl
from relaykit.config import Config
from relaykit.testing import FakePlugin, loopback_tls

WARMUP = 300
#: set in the children's environment by ``--free-scans``
FREE_SCANS = "RELAYKIT_BENCH_FREE_SCANS"
#: plain, each feature alone, all of them (as observability.py's scenarios), and
#: "untraced": the tracing scenario's exporter with ``[telemetry] tracing = false``
#: (what the call pays for having a traces-only exporter and no span: nothing
#: since ``needs_records``; a record per call, ~28 k instructions, before it)
SCENARIOS = {
    "plain": [],
    **{name: [name] for name in MAIN_FEATURES},
    "all": list(MAIN_FEATURES),
    "untraced": ["tracing"],
    # everything but relaykit-pii: the records redacted by the built-in secret
    # redactor alone (PII detection is opt-in)
    "no_pii": ["tracing", "metrics", "records", "limiter"],
}
#: the scenarios a span is part of: counted with each tracer
TRACED = ("tracing", "all", "no_pii")


class LeanTracing:
    """An exporter plugin bringing relaykit-otlp's lean provider over a queue that holds
    its spans until :meth:`flush` drops them (no export thread work is counted).
    Traces only: no call records (``needs_records``), as relaykit-otlp with
    ``metrics = false``."""

    needs_content = False
    needs_records = False

    def __init__(self) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from relaykit_otlp.lean_spans import LeanTracerProvider, sampler_from_env
        from relaykit_otlp.span_queue import SpanQueue

        big = 10**9
        self.queue = SpanQueue(
            InMemorySpanExporter(),
            Resource.create({}),
            max_queue_size=big,
            schedule_delay_millis=big,
            max_export_batch_size=big,
        )
        sampler = sampler_from_env()
        assert sampler is not None
        self.tracer_provider = LeanTracerProvider(self.queue, sampler)

    def record(self, event: object) -> None:
        pass

    async def flush(self) -> None:
        self.queue._queue.clear()  # a bench's shortcut: these spans are never exported

    async def aclose(self) -> None:
        self.queue._queue.clear()
        self.tracer_provider.shutdown()

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        return [self] if "tracing" in config.exporters else []

    # optional: older sources measured first (see above) have no such hook
    @hookimpl(optionalhook=True)
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ("exporters.tracing",)


def free_scans() -> None:
    """Make the secret redactor and relaykit-pii's detection find nothing, at no cost."""
    from relaykit.builtins import SecretRedactor
    from relaykit_pii import redactor

    # a static method, as the built-in's own (scrub) is: right whichever sources run
    SecretRedactor.redact = staticmethod(lambda text, extra=(): text)
    redactor.spans = lambda text, kinds: []  # type: ignore[attr-defined]  # its import of detectors.spans


async def child(
    name: str,
    tracer: str,
    calls: int,
    realistic: bool = False,
    history: int = 0,
    mock_dir: str | None = None,
    mock_url: str | None = None,
) -> None:
    """What the measured process runs: a warm-up, then ``calls`` calls (as observability.run);
    ``realistic``: each call sends the realistic turn and gets a new ~1 KB answer;
    ``history``: each turn resends that many earlier exchanges (a chat's later turns);
    ``mock_url``: to :class:`observability.RealisticMock` over TLS (relaykit-aiohttp),
    as ``observability.py --realistic`` calls, the mock in a process of its own
    (:func:`mock_process`; its CA in ``mock_dir``), so that its work is not counted."""
    from relaykit import redaction

    # PYTHONHASHSEED=0 (see instructions()) would make the memo use SHA-256; a
    # default process hashes under a random key, and so keys the memo by SipHash
    redaction._KEYED_HASH = sys.hash_info.algorithm.startswith("siphash")
    if os.environ.get(FREE_SCANS):
        free_scans()
    if mock_url is not None and mock_dir is not None:
        base: dict[str, Any] = {
            "storage": {"backend": "none"},
            "http": {"ca_file": str(Path(mock_dir) / "ca.pem")},
            "providers": {"openai": {"base_url": mock_url, "api_key": KEY}},
        }
        await _calls(name, tracer, calls, base, history, http=True)
        return
    await _calls(
        name, tracer, calls, {"storage": {"backend": "none"}}, history if realistic else None
    )


async def _calls(
    name: str,
    tracer: str,
    calls: int,
    base: dict[str, Any],
    history: int | None,
    http: bool = False,
) -> None:
    """The warm-up and the counted calls of :func:`child` (``history`` None: the short
    prompt; ``http``: over HTTP to the mock ``base`` names, else to the fake provider)."""
    config = scenario(SCENARIOS[name], base)
    if name == "untraced":
        config["telemetry"] = {"tracing": False}
    tracing: Any = InMemoryTracing() if tracer == "memory" else LeanTracing()
    fake = FakePlugin()
    conversation = Conversation(history or 0)
    # as observability.py's realistic reading over HTTP (512), or its in-process one
    model, max_tokens = ("openai/gpt-4o-mini", 512) if http else ("fake/m", 64)

    def turn(label: str) -> Any:
        if history is None:
            return f"{PROMPT} ({label})"
        if not http:
            fake.script.reply(f"{ANSWER} ({label})")  # new every call, as RealisticMock's
        return conversation(label)

    async with relaykit.Client(config, plugins=[fake, NoOpExporter(), tracing]) as client:
        for i in range(WARMUP):
            await client.chat(model, turn(f"warm-up {i}"), max_tokens=max_tokens)
            await anyio.lowlevel.checkpoint()
        await tracing.flush()
        gc.collect()
        gc.freeze()
        for i in range(calls):
            await client.chat(model, turn(f"request {i}"), max_tokens=max_tokens)
            await anyio.lowlevel.checkpoint()
            if i % 500 == 499:
                await tracing.flush()
                fake.calls.clear()


@contextlib.contextmanager
def mock_process(directory: str) -> Iterator[str]:
    """A process running :func:`serve_mock` (outside valgrind, which follows no
    children): its base URL, its CA in ``directory``; stopped on exit."""
    with subprocess.Popen(
        [sys.executable, __file__, "--serve-mock", directory],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdin is not None and server.stdout is not None
        url = server.stdout.readline().strip()
        if not url:
            raise RuntimeError("the mock process did not start (its error is above)")
        try:
            yield url
        finally:
            server.stdin.close()  # the mock's signal to stop


def serve_mock(directory: str) -> None:
    """:class:`observability.RealisticMock` over TLS until stdin closes, for :func:`child`
    (``--serve-mock DIR``): writes the CA that signed its certificate to ``DIR/ca.pem``,
    then its base URL as one line on stdout."""
    certs = loopback_tls()
    certs.write_ca(Path(directory) / "ca.pem")
    with RealisticMock(KEY, tls=certs.server_context) as mock:
        print(mock.base_url, flush=True)
        while sys.stdin.readline():  # EOF: the client is done
            pass


def instructions(
    name: str,
    tracer: str,
    calls: int,
    realistic: bool = False,
    history: int = 0,
    http: bool = False,
) -> int:
    """Instructions the whole child process executed for ``calls`` measured calls."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # both runs of a pair do the same work
    argv = [str(Path(__file__)), "--child", name, tracer, str(calls), "--history", str(history)]
    if realistic:
        argv.append("--realistic")
    if http:
        argv.append("--http")
    return cachegrind(argv, env)


def main() -> None:
    """Count each scenario's instructions per call and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default="plain,tracing,all", help=f"of {', '.join(SCENARIOS)}")
    p.add_argument("--tracers", default="memory,lean")
    p.add_argument("--calls", type=int, default=1000, help="calls in the difference")
    p.add_argument(
        "--realistic", action="store_true", help="the realistic turn (new ~1 KB answer each call)"
    )
    p.add_argument(
        "--history",
        type=int,
        default=0,
        help="with --realistic: each turn resends this many earlier exchanges, as a chat does",
    )
    p.add_argument(
        "--free-scans",
        action="store_true",
        help="the redactors' scans find nothing at no cost (the chain and records still run)",
    )
    p.add_argument(
        "--http",
        action="store_true",
        help="with --realistic: over relaykit-aiohttp and TLS to a loopback mock (in a"
        " process of its own, not counted), not the fake provider",
    )
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # SCENARIO TRACER CALLS
    p.add_argument("--serve-mock", metavar="DIR", help=argparse.SUPPRESS)  # see serve_mock
    args = p.parse_args()
    if args.serve_mock:
        serve_mock(args.serve_mock)
        return
    if args.free_scans:
        os.environ[FREE_SCANS] = "1"  # the children inherit it
    if args.history and not args.realistic:
        p.error("--history goes with --realistic: add --realistic")
    if args.http and not args.realistic:
        p.error("--http goes with --realistic: add --realistic")
    if args.child:
        name, tracer, calls = args.child
        if not args.http:
            anyio.run(child, name, tracer, int(calls), args.realistic, args.history)
            return
        with tempfile.TemporaryDirectory() as tmp, mock_process(tmp) as url:
            anyio.run(child, name, tracer, int(calls), True, args.history, tmp, url)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print("| scenario | tracer | instructions/call | added to plain |")
    print("|---|---|---|---|")
    plain: float | None = None
    for name in args.scenarios.split(","):
        for tracer in args.tracers.split(",") if name in TRACED else ["-"]:
            traced = tracer if tracer != "-" else "memory"
            low = instructions(name, traced, 200, args.realistic, args.history, args.http)
            high = instructions(
                name, traced, 200 + args.calls, args.realistic, args.history, args.http
            )
            n = (high - low) / args.calls
            if name == "plain":
                plain = n
            added = f"{(n - plain) / 1e3:+.1f} k" if plain is not None and name != "plain" else ""
            print(f"| {name} | {tracer} | {n / 1e3:.1f} k | {added} |", flush=True)


if __name__ == "__main__":
    main()
