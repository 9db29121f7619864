"""A :class:`RecordingExporter` that brings an OpenTelemetry SDK tracer provider, for tests.

An exporter plugin with a ``tracer_provider`` attribute is where a client gets its
tracer from (relaykit-otlp brings one the same way), so registering this one
traces every call into memory::

    tracing = TracingExporter()
    async with relaykit.Client(config, plugins=[FakePlugin(), tracing]) as client:
        await client.chat("fake/m", "hi")
    [span] = tracing.finished()
    assert span.name == "chat m"

It needs ``opentelemetry-sdk`` (in the ``relaykit[testing]`` extra); the core itself
imports only the API, so this module is the one place in the package that loads the SDK,
and only when a test asks for it.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .recording_exporter import RecordingExporter


class TracingExporter(RecordingExporter):
    """Keeps events as :class:`RecordingExporter` does, and every span that ends in :attr:`spans`.

    Spans are exported as they end (a simple processor, no batching), so a test reads
    them as soon as its call returns. Add a processor of your own with
    ``tracing.tracer_provider.add_span_processor(...)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def finished(self) -> list[ReadableSpan]:
        """The spans that ended, in the order they ended."""
        return list(self.spans.get_finished_spans())

    def dumped(self) -> str:
        """Every finished span's name, attributes, events and status, as one text:
        what a test searches for a value that must not be there (a secret, say)."""
        return "\n".join(
            repr(
                (
                    s.name,
                    dict(s.attributes or {}),
                    [(e.name, dict(e.attributes or {})) for e in s.events],
                    s.status.description,
                )
            )
            for s in self.spans.get_finished_spans()
        )

    async def aclose(self) -> None:
        """Note the close and shut the provider down (its spans stay readable)."""
        await super().aclose()
        self.tracer_provider.shutdown()
