"""Record relaykit's metric observations in a prometheus_client registry and serve it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import make_asgi_app as _asgi_app
from prometheus_client.exposition import start_http_server

from relaykit import ConfigError, metrics

_UNITS = {"s": "seconds", "USD": "usd", "1": ""}
# Label names per instrument: Prometheus fixes them when a metric is created, so
# each instrument gets the union of the attributes relaykit.metrics gives it.
_BASE = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
_LABELS: dict[str, tuple[str, ...]] = {
    metrics.OPERATION_DURATION.name: (*_BASE, "error.type"),
    metrics.TOKEN_USAGE.name: (*_BASE, "gen_ai.token.type"),
    metrics.ERRORS.name: (*_BASE, "error.type"),
    metrics.QUEUE_DEPTH.name: (),
    metrics.BREAKER_STATE.name: ("gen_ai.provider.name", "gen_ai.request.model"),
}
MODEL_LABEL = "gen_ai.request.model"
OTHER = "other"


def prometheus_name(instrument: metrics.Instrument) -> str:
    """The Prometheus name of an instrument, as OpenTelemetry's Prometheus exporter spells it.

    Dots become underscores and the unit is appended (``_seconds``); annotations
    in braces (``{token}``) are dropped. prometheus_client adds ``_total`` to counters.
    """
    name = instrument.name.replace(".", "_")
    unit = _UNITS.get(instrument.unit, "" if instrument.unit.startswith("{") else instrument.unit)
    return f"{name}_{unit}" if unit and not name.endswith(unit) else name


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


class ModelCap:
    """Keeps the model label's cardinality bounded: the first ``limit`` models, then "other".

    Model names come from callers (and from providers' dated snapshots), so
    without a cap one busy gateway could create thousands of time series.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str) -> str:
        if model in self._seen:
            return model
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(model)
                return model
        return OTHER


class PrometheusExporter:
    """A relaykit exporter keeping metrics in its own Prometheus registry.

    ``record`` only updates in-memory metrics (prometheus_client's counters are
    lock-protected and fast), so it never blocks the request path.
    """

    def __init__(
        self, *, port: int | None = None, host: str = "127.0.0.1", max_models: int = 50
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._cap = ModelCap(max_models)
        self._metrics: dict[str, tuple[Any, tuple[str, ...], Callable[..., None]]] = {}
        self._children: dict[tuple[str, metrics.Attributes], tuple[Callable[..., None], Any]] = {}
        for instrument in metrics.INSTRUMENTS:
            self._metrics[instrument.name] = self._create(instrument)
        self._server: Any = None
        self.port: int | None = None
        if port is not None:
            try:
                self._server, _ = start_http_server(port, addr=host, registry=self.registry)
            except OSError as e:
                raise ConfigError(
                    f"cannot serve Prometheus metrics on {host}:{port}: {e.strerror}",
                    hint="pick a free [exporters.prometheus] port,"
                    " or leave it out and mount make_asgi_app()",
                ) from None
            self.port = self._server.server_port

    def _create(
        self, instrument: metrics.Instrument
    ) -> tuple[Any, tuple[str, ...], Callable[..., None]]:
        attributes = _LABELS.get(instrument.name, _BASE)
        labels = [_label(a) for a in attributes]
        name, doc = prometheus_name(instrument), instrument.description
        metric: Any
        if instrument.kind == "histogram":
            metric = Histogram(
                name, doc, labels, registry=self.registry, buckets=instrument.buckets
            )
            return metric, attributes, lambda m, v: m.observe(v)
        if instrument.kind == "counter":
            metric = Counter(name, doc, labels, registry=self.registry)
            return metric, attributes, lambda m, v: m.inc(v)
        metric = Gauge(name, doc, labels, registry=self.registry)
        return metric, attributes, lambda m, v: m.set(v)

    def record(self, event: object) -> None:
        """Update the metrics for one call record or gauge event."""
        for obs in metrics.observe(event):
            key = (obs.instrument.name, obs.attributes)
            child = self._children.get(key)
            if child is None:
                child = self._child(obs)
                if child is None:
                    continue
            apply, metric = child
            apply(metric, obs.value)

    def _child(self, obs: metrics.Observation) -> tuple[Callable[..., None], Any] | None:
        # labels() parses and validates on every call; children are cached per
        # attribute set instead (the model cap keeps that set bounded).
        entry = self._metrics.get(obs.instrument.name)
        if entry is None:
            return None
        metric, attributes, apply = entry
        if attributes:
            values = dict(obs.attributes)
            if MODEL_LABEL in values:
                values[MODEL_LABEL] = self._cap(values[MODEL_LABEL])
            metric = metric.labels(*(values.get(a, "") for a in attributes))
        child = (apply, metric)
        self._children[(obs.instrument.name, obs.attributes)] = child
        return child

    def asgi_app(self) -> Any:
        """An ASGI app serving this exporter's metrics (mount it at ``/metrics``)."""
        return _asgi_app(self.registry)

    async def flush(self) -> None:
        """Nothing to send: Prometheus scrapes."""

    async def aclose(self) -> None:
        """Stop the metrics server, if this exporter started one."""
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()


def from_config(conf: Mapping[str, Any]) -> PrometheusExporter:
    """Build the exporter from ``[exporters.prometheus]``; unknown keys are errors."""
    valid = ("port", "host", "max_models")
    for key in conf:
        if key not in valid:
            raise ConfigError(
                f"unknown config key exporters.prometheus.{key!r}",
                hint=f"valid keys: {', '.join(valid)}",
            )
    port = conf.get("port")
    return PrometheusExporter(
        port=int(port) if port is not None else None,
        host=str(conf.get("host", "127.0.0.1")),
        max_models=int(conf.get("max_models", 50)),
    )


def make_asgi_app(client: Any) -> Any:
    """The ASGI app serving the Prometheus metrics of ``client`` (a :class:`relaykit.Client`)."""
    for exporter in getattr(client, "exporters", ()):
        if isinstance(exporter, PrometheusExporter):
            return exporter.asgi_app()
    raise ConfigError(
        "this client has no Prometheus exporter",
        hint="add an [exporters.prometheus] table to the config",
    )
