"""An exporter owning an OpenTelemetry SDK tracer provider and meter provider.

The client traces calls with :attr:`OtlpExporter.tracer_provider` (see
:mod:`relaykit.tracing`); ``record`` turns call records and gauge events into
SDK metric measurements (in-memory aggregation, never I/O). Sending happens on
the SDK's own threads (batch span processor, periodic metric reader); the
blocking ``force_flush`` and ``shutdown`` run in a worker thread so the event
loop never waits on the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import relaykit
from relaykit import ConfigError, metrics


class OtlpExporter:
    """Sends relaykit's spans and metrics to ``endpoint`` over OTLP/HTTP."""

    #: Only metrics are taken from records: the client leaves messages and
    #: answers out of them (and so does not spend time redacting them).
    needs_content = False

    def __init__(
        self,
        *,
        endpoint: str = "http://127.0.0.1:4318",
        headers: Mapping[str, str] | None = None,
        service_name: str = "relaykit",
        traces: bool = True,
        metrics_enabled: bool = True,
        export_interval: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        endpoint = endpoint.rstrip("/")
        resource = Resource.create({"service.name": service_name})
        headers = dict(headers or {})
        self.tracer_provider: TracerProvider | None = None
        if traces:
            self.tracer_provider = TracerProvider(resource=resource)
            spans = OTLPSpanExporter(
                endpoint=f"{endpoint}/v1/traces", headers=headers, timeout=timeout
            )
            self.tracer_provider.add_span_processor(BatchSpanProcessor(spans))
        self.meter_provider: MeterProvider | None = None
        self._instruments: dict[str, tuple[str, Any]] = {}
        if metrics_enabled:
            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(
                    endpoint=f"{endpoint}/v1/metrics", headers=headers, timeout=timeout
                ),
                export_interval_millis=export_interval * 1000,
            )
            self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self.meter_provider.get_meter("relaykit", relaykit.__version__)
            for instrument in metrics.INSTRUMENTS:
                self._instruments[instrument.name] = _create(meter, instrument)

    def record(self, event: object) -> None:
        """Add one call record's or gauge event's measurements (in memory)."""
        if not self._instruments:
            return
        for obs in metrics.observe(event):
            kind, instrument = self._instruments[obs.instrument.name]
            attributes = dict(obs.attributes)
            if kind == "histogram":
                instrument.record(obs.value, attributes)
            elif kind == "counter":
                instrument.add(obs.value, attributes)
            else:
                instrument.set(obs.value, attributes)

    async def flush(self) -> None:
        """Export what is buffered now (in a worker thread: it does network I/O)."""
        await anyio.to_thread.run_sync(self._force_flush)

    def _force_flush(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()
        if self.meter_provider is not None:
            self.meter_provider.force_flush()

    async def aclose(self) -> None:
        """Export what is left and stop the SDK's threads."""
        await anyio.to_thread.run_sync(self._shutdown)

    def _shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _create(meter: Any, instrument: metrics.Instrument) -> tuple[str, Any]:
    name, unit, doc = instrument.name, instrument.unit, instrument.description
    if instrument.kind == "histogram":
        histogram = meter.create_histogram(
            name,
            unit=unit,
            description=doc,
            explicit_bucket_boundaries_advisory=list(instrument.buckets),
        )
        return "histogram", histogram
    if instrument.kind == "counter":
        return "counter", meter.create_counter(name, unit=unit, description=doc)
    return "gauge", meter.create_gauge(name, unit=unit, description=doc)


def from_config(conf: Mapping[str, Any]) -> OtlpExporter:
    """Build the exporter from ``[exporters.otlp]``; unknown keys are errors."""
    valid = (
        "endpoint",
        "headers",
        "service_name",
        "traces",
        "metrics",
        "export_interval",
        "timeout",
    )
    for key in conf:
        if key not in valid:
            raise ConfigError(
                f"unknown config key exporters.otlp.{key!r}", hint=f"valid keys: {', '.join(valid)}"
            )
    headers = conf.get("headers", {})
    if not isinstance(headers, Mapping):
        raise ConfigError("exporters.otlp.headers must be a table of header names to values")
    return OtlpExporter(
        endpoint=str(conf.get("endpoint", "http://127.0.0.1:4318")),
        headers={str(k): str(v) for k, v in headers.items()},
        service_name=str(conf.get("service_name", "relaykit")),
        traces=bool(conf.get("traces", True)),
        metrics_enabled=bool(conf.get("metrics", True)),
        export_interval=float(conf.get("export_interval", 10.0)),
        timeout=float(conf.get("timeout", 10.0)),
    )
