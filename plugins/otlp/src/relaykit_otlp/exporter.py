"""An exporter owning a tracer provider and an OpenTelemetry SDK meter provider.

The client traces calls with :attr:`OtlpExporter.tracer_provider` (see
:mod:`relaykit.tracing`): by default a
:class:`~relaykit_otlp.lean_spans.LeanTracerProvider`, whose spans are plain
Python until a thread encodes a batch of them as OTLP protobuf itself and
sends it with the SDK's OTLP exporter's client; with ``tracer="sdk"`` the SDK's own
``TracerProvider`` and ``BatchSpanProcessor``. ``record`` adds a call
record's metrics to plain Python sums (:mod:`relaykit_otlp.call_metrics`),
which the SDK's reader collects along with its own instruments' data, and
gives gauge events to the SDK's own instruments (gauges, and the cache-error
and storage counters), in memory, never I/O. Sending happens on threads (the span
queue's or the SDK's batch span processor's, the periodic metric reader's);
the blocking ``force_flush`` and ``shutdown`` run in a worker thread so the
event loop never waits on the network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import suppress
from time import time_ns
from typing import Any

import anyio
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

import relaykit
from relaykit import CallRecord, ConfigError, metrics
from relaykit.fork_safety import after_fork_in_child, leave_to_parent
from relaykit.http import api_url
from relaykit.known_secrets import KnownSecrets
from relaykit.plugin_options import seconds
from relaykit.secrets import scrub

from .call_metrics import CallMetrics
from .lean_spans import LeanTracerProvider, sampler_from_env
from .partial_success import PartialSuccess, watch
from .span_queue import SpanQueue, sdk_sender

#: ``[exporters.otlp] tracer``: which tracer provider makes the spans.
TRACERS = ("lean", "sdk")


class OtlpExporter:
    """Sends relaykit's spans and metrics to ``endpoint`` over OTLP/HTTP.

    What is left ``None`` comes from the standard variables, as for the SDK's own
    exporters (``OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`` and ``_TIMEOUT``,
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_METRIC_EXPORT_INTERVAL``),
    else relaykit's defaults: ``http://127.0.0.1:4318``, service ``relaykit``, 10 s.

    ``tracer`` picks the tracer provider: ``"lean"`` (the default, see
    :mod:`relaykit_otlp.lean_spans`) or ``"sdk"`` (the SDK's own).
    """

    #: Only metrics are taken from records: the client leaves messages and
    #: answers out of them (and so does not spend time redacting them).
    needs_content = False

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        service_name: str | None = None,
        traces: bool = True,
        metrics_enabled: bool = True,
        export_interval: float | None = None,
        timeout: float | None = None,
        tracer: str = "lean",
    ) -> None:
        if tracer not in TRACERS:
            raise ConfigError(
                f"unknown exporters.otlp.tracer {tracer!r}",
                hint=f"valid values: {', '.join(map(repr, TRACERS))}",
            )
        resource = _resource(service_name)
        #: the resource of every span and metric (its ``service.name`` and the rest)
        self.resource = resource
        headers = dict(headers or {})
        traces_url, metrics_url = _endpoints(endpoint)
        self._log_filter = _masking_filter((traces_url, metrics_url), headers)
        self.tracer_provider: TracerProvider | LeanTracerProvider | None = None
        #: the SDK exporters, whose pooled connections a forked child must not share
        self._senders: list[Any] = []
        #: Call records feed metrics only: traces alone need none (the client then
        #: builds no record per call, unless something else takes them).
        self.needs_records = metrics_enabled
        self.meter_provider: MeterProvider | None = None
        self._instruments: dict[str, Any] = {}
        self._calls: CallMetrics | None = None
        self._provider_names: metrics.ProviderNames | None = None
        #: what the collector rejected of exports it took (OTLP's partial_success)
        self._partial: list[PartialSuccess] = []
        #: the metric reader's export thread, once started (and until its provider has it)
        started: PeriodicExportingMetricReader | None = None
        try:
            if traces:
                spans = OTLPSpanExporter(endpoint=traces_url, headers=headers, timeout=timeout)
                self._senders.append(spans)
                self.tracer_provider = _tracer_provider(tracer, spans, resource)
                lean = self.tracer_provider
                count = lean._queue.count_rejected if isinstance(lean, LeanTracerProvider) else None
                self._watch(spans, "spans", count)
            if metrics_enabled:
                metric_sender = OTLPMetricExporter(
                    endpoint=metrics_url, headers=headers, timeout=timeout
                )
                self._senders.append(metric_sender)
                self._watch(metric_sender, "data points")
                reader = started = PeriodicExportingMetricReader(
                    metric_sender, export_interval_millis=_interval_millis(export_interval)
                )
                self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
                meter = self.meter_provider.get_meter("relaykit", relaykit.__version__)
                # Call metrics summed here need the reader's protected collect hook; an
                # SDK without it gets every measurement through its own instruments
                # (the same data, at about ten times the cost per call).
                summed = _can_extend(reader)
                for instrument in metrics.INSTRUMENTS:
                    if instrument in metrics.EVENT_INSTRUMENTS or not summed:
                        self._instruments[instrument.name] = _create(meter, instrument)
                if summed:
                    # The SDK's own default (OTEL_METRICS_EXEMPLAR_FILTER), for the same exemplars.
                    filter_ = (
                        os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based")
                        .strip()
                        .lower()
                    )
                    self._calls = CallMetrics(exemplars=filter_)
                    _collect_calls_too(reader, self._calls, resource)
        except BaseException:
            # The span and metric export threads run from their construction:
            # nothing else could stop them (the client never got this exporter).
            self._abandon(started)
            raise
        after_fork_in_child(self, OtlpExporter._forget_parent)

    def _watch(self, sender: Any, kind: str, count: Any = None) -> None:
        """Count what the collector rejects of ``sender``'s exports (see
        :mod:`relaykit_otlp.partial_success`)."""
        partial = PartialSuccess(kind, self._mask, count)
        if watch(sender, partial):
            self._partial.append(partial)

    def _mask(self, text: str) -> str:
        """``text`` (a collector's message) without this exporter's credentials."""
        if self._log_filter is not None:
            text = self._log_filter.secrets.redact(text)
        return scrub(text)

    @property
    def rejected_spans(self) -> int:
        """Spans the collector rejected in answers accepting the rest of their export
        (OTLP's ``partial_success``: not retried, as the specification has it); the
        lean tracer's ``failed_spans`` counts them too."""
        return sum(p.rejected for p in self._partial if p.kind == "spans")

    @property
    def rejected_data_points(self) -> int:
        """Metric data points the collector rejected likewise (``partial_success``)."""
        return sum(p.rejected for p in self._partial if p.kind == "data points")

    def _forget_parent(self) -> None:
        """In a forked child: send on connections of our own, not the parent's pooled ones.

        The export threads restart themselves (the span queue here, the SDK's
        metric reader there), but the SDK exporters' HTTP session keeps the
        parent's keep-alive sockets: a child exporting while its parent does
        would interleave two requests on one connection.
        """
        for sender in self._senders:
            _drop_pooled_connections(sender)

    def use_provider_names(self, names: metrics.ProviderNames) -> None:
        """Name providers as the client does (``[providers.work] type = "anthropic"``:
        ``gen_ai.provider.name`` ``anthropic``, ``relaykit.provider`` ``work``);
        called once by the client as it is built."""
        self._provider_names = names
        if self._calls is not None:
            self._calls.use_provider_names(names)

    def record(self, event: object) -> None:
        """Add one call record's or gauge event's measurements (in memory)."""
        calls = self._calls
        if calls is not None and isinstance(event, CallRecord):
            calls.record(event)
            return
        instruments = self._instruments
        if not instruments:
            return
        for obs in metrics.observe(event, self._provider_names):
            instrument = instruments[obs.instrument.name]
            attributes = dict(obs.attributes)
            kind = obs.instrument.kind
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

    def _abandon(self, reader: PeriodicExportingMetricReader | None) -> None:
        """Stop what a failed construction had started; its errors are not the one to report."""
        with suppress(Exception):
            if self.tracer_provider is not None:
                self.tracer_provider.shutdown()
        with suppress(Exception):
            if self.meter_provider is not None:
                self.meter_provider.shutdown()
            elif reader is not None:
                reader.shutdown()
        self._unfilter()

    def _shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        for partial in self._partial:
            # the lean tracer's shutdown told its spans in failed_spans' total
            if not (
                partial.kind == "spans" and isinstance(self.tracer_provider, LeanTracerProvider)
            ):
                partial.told()
        self._unfilter()

    def _unfilter(self) -> None:
        """Take this exporter's masking filter off the SDK's loggers."""
        if self._log_filter is not None:
            for name in _SDK_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)


#: the loggers the SDK's OTLP/HTTP exporters log their failed exports on
_SDK_LOGGERS = (OTLPSpanExporter.__module__, OTLPMetricExporter.__module__)


class _MaskSecrets(logging.Filter):
    """Masks an exporter's endpoint credentials and header values in the SDK's log lines.

    The SDK logs each failed export attempt with its HTTP client's error, which
    quotes the URL, query and all (``?api_key=...``): on every export while the
    collector is down, outside relaykit's redaction.
    """

    def __init__(self, secrets: KnownSecrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = scrub(self.secrets.redact(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _masking_filter(urls: tuple[str, ...], headers: Mapping[str, str]) -> _MaskSecrets | None:
    """A filter on the SDK's exporter loggers masking the credentials of ``urls``
    and the values of ``headers``; None when there are none."""
    secrets = KnownSecrets()
    for url in urls:
        secrets.add_url(url)
    for name, value in headers.items():
        secrets.add_header(name, value)
    if not any("?" in url for url in urls) and not secrets.version:
        return None
    found = _MaskSecrets(secrets)
    for name in _SDK_LOGGERS:
        logging.getLogger(name).addFilter(found)
    return found


_SCOPE = InstrumentationScope("relaykit", relaykit.__version__)


#: where spans and metrics go when neither the config nor the variables say
_DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
#: seconds between metric exports when neither the config nor the variable says
#: (the SDK's own default is 60)
_DEFAULT_EXPORT_INTERVAL = 10.0


def _endpoints(endpoint: str | None) -> tuple[str, str]:
    """The traces and metrics URLs: under ``endpoint``, else as the OTLP exporter
    specification has the variables say (a signal's own ``_ENDPOINT`` as it is, the
    shared one with the signal's path added), else under :data:`_DEFAULT_ENDPOINT`."""
    if endpoint is not None:
        return api_url(endpoint, "v1/traces"), api_url(endpoint, "v1/metrics")
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or _DEFAULT_ENDPOINT
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    metrics_ = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    return traces or api_url(base, "v1/traces"), metrics_ or api_url(base, "v1/metrics")


def _resource(service_name: str | None) -> Resource:
    """The resource: ``service_name``, else what ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` name, else ``relaykit`` (not the SDK's
    ``unknown_service``)."""
    if service_name is not None:
        return Resource.create({"service.name": service_name})
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        return Resource.create({"service.name": "relaykit"})
    return resource


def _interval_millis(export_interval: float | None) -> float | None:
    """``export_interval`` in ms; None (the SDK reads ``OTEL_METRIC_EXPORT_INTERVAL``)
    when that variable is set, else :data:`_DEFAULT_EXPORT_INTERVAL`."""
    if export_interval is not None:
        return export_interval * 1000
    if os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip():
        return None
    return _DEFAULT_EXPORT_INTERVAL * 1000


def _tracer_provider(
    tracer: str, spans: OTLPSpanExporter, resource: Resource
) -> TracerProvider | LeanTracerProvider:
    """The lean provider, unless ``tracer`` is ``"sdk"`` or this SDK cannot tell the
    lean one which sampler ``OTEL_TRACES_SAMPLER`` names."""
    sampler = sampler_from_env() if tracer == "lean" else None
    if sampler is not None:
        return LeanTracerProvider(SpanQueue(spans, resource, send=sdk_sender(spans)), sampler)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(spans))
    return provider


def _can_extend(reader: MetricReader) -> bool:
    """Whether this SDK's reader has the protected members :func:`_collect_calls_too`
    wraps (every release from 1.27 to 1.45 has them; a later one may not)."""
    return (
        callable(getattr(reader, "_set_collect_callback", None))
        and hasattr(reader, "_collect")
        and hasattr(reader, "_instrument_class_temporality")
    )


def _create(meter: Any, instrument: metrics.Instrument) -> Any:
    """The SDK instrument for ``instrument``: those gauge events feed always
    (``metrics.EVENT_INSTRUMENTS``), those call records feed only when the SDK's
    reader cannot take our sums (see :func:`_can_extend`)."""
    name, unit, doc = instrument.name, instrument.unit, instrument.description
    if instrument.kind == "histogram":
        return meter.create_histogram(
            name,
            unit=unit,
            description=doc,
            explicit_bucket_boundaries_advisory=list(instrument.buckets),
        )
    if instrument.kind == "counter":
        return meter.create_counter(name, unit=unit, description=doc)
    return meter.create_gauge(name, unit=unit, description=doc)


def _collect_calls_too(reader: MetricReader, calls: CallMetrics, resource: Resource) -> None:
    """Make ``reader``'s collections hold the call metrics along with the SDK's own.

    The meter provider hands its reader a collect callback; this wraps it, so
    periodic exports, ``force_flush`` and ``shutdown`` all send both, in the
    temporality the exporter asked the reader for. (The callback and the
    temporality are the reader's protected attributes: the SDK offers no public
    hook to add data points a reader collects.)
    """
    # Typed loosely: the SDK's annotations of both differ from what it passes.
    sdk_collect: Any = reader._collect

    def collect(reader: MetricReader, timeout_millis: float = 10_000) -> Any:
        data: Any = sdk_collect(reader, timeout_millis=timeout_millis) if sdk_collect else None
        ours = calls.collect(reader._instrument_class_temporality, time_ns())
        if not ours:
            return data
        if data is None:
            scope = ScopeMetrics(scope=_SCOPE, metrics=ours, schema_url=_SCOPE.schema_url or "")
            return MetricsData(
                resource_metrics=[
                    ResourceMetrics(
                        resource=resource, scope_metrics=[scope], schema_url=resource.schema_url
                    )
                ]
            )
        (resource_metrics,) = data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope == _SCOPE:
                scope_metrics.metrics[:0] = ours
                return data
        resource_metrics.scope_metrics.append(
            ScopeMetrics(scope=_SCOPE, metrics=ours, schema_url=_SCOPE.schema_url or "")
        )
        return data

    reader._set_collect_callback(collect)


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
        "tracer",
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
        endpoint=str(conf["endpoint"]) if "endpoint" in conf else None,
        headers={str(k): str(v) for k, v in headers.items()},
        service_name=str(conf["service_name"]) if "service_name" in conf else None,
        traces=bool(conf.get("traces", True)),
        metrics_enabled=bool(conf.get("metrics", True)),
        export_interval=seconds(conf, "export_interval", 10.0, where="exporters.otlp")
        if "export_interval" in conf
        else None,
        timeout=seconds(conf, "timeout", 10.0, where="exporters.otlp")
        if "timeout" in conf
        else None,
        tracer=str(conf.get("tracer", "lean")),
    )


def _drop_pooled_connections(sender: Any) -> None:
    """Give ``sender`` (an SDK OTLP/HTTP exporter) fresh connection pools, keeping their
    settings (TLS files, credentials): the old pools stay the parent's.

    The transport is the SDK's protected ``_client._transport`` (1.45): a
    ``requests`` session's adapters when requests is installed, else a urllib3
    ``PoolManager`` of its own. An SDK that keeps them elsewhere is left as it is.
    """
    transport = getattr(getattr(sender, "_client", None), "_transport", None)
    manager = getattr(transport, "_pool", None)
    if manager is not None and hasattr(manager, "connection_pool_kw"):  # urllib3's
        leave_to_parent(manager)
        transport._pool = type(manager)(headers=manager.headers, **manager.connection_pool_kw)  # type: ignore[union-attr]
    adapters = getattr(getattr(transport, "_session", None), "adapters", None)
    for adapter in getattr(adapters, "values", list)():
        init = getattr(adapter, "init_poolmanager", None)
        pools = getattr(adapter, "poolmanager", None)
        if init is None or pools is None:
            continue
        leave_to_parent(pools)
        # requests' HTTPAdapter keeps what it was built with for exactly this
        init(adapter._pool_connections, adapter._pool_maxsize, block=adapter._pool_block)
