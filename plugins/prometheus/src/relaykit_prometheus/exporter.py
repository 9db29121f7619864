"""Record relaykit's metric observations in memory and expose them to Prometheus.

``record`` runs on the request path of every call, so it keeps plain Python
numbers (a histogram is a list of bucket counts and a sum) instead of
prometheus_client's metric objects, whose ``observe`` takes a lock and walks
the buckets in Python. It does not even add a call's numbers: it queues the
call record, and the queued records are added in one pass
(:class:`relaykit.metrics.CallFold`) when a scrape comes or the queue holds
``_BATCH`` of them. A loop over a batch keeps its code and data in the CPU's
caches, where a call's HTTP round trip evicted them between two calls. A
collector turns the numbers into metric families when Prometheus scrapes, in
prometheus_client's registry and exposition format.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import make_asgi_app as _asgi_app
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from relaykit import CallRecord, ConfigError, metrics
from relaykit.fork_safety import after_fork_in_child
from relaykit.plugin_options import whole_number

#: call records queued before ``record`` adds them up itself: enough for a loop
#: to pay off, few enough that the queue holds little memory (the records are
#: built anyway; storage's queue holds up to 10,000)
_BATCH = 256

_UNITS = {"s": "seconds", "USD": "usd", "1": ""}
# Label names per instrument: each instrument gets the union of the attributes
# relaykit.metrics gives it, so every series of one metric has the same labels.
# relaykit.provider: a [providers.NAME] table not named after its type; empty (which
# Prometheus reads as no label) for the others, whose series keep their identity.
_BASE = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "relaykit.provider",
)
# The gen_ai.client.* histograms add the server (server.address, server.port: one
# per configured provider, from its base URL, so bounded by the config) but not
# gen_ai.response.model: the provider names that one, per answer (dated snapshots,
# a router's pick), and every value would multiply each histogram's ~16 series per
# request model, which the model cap bounds alone. OTLP and DogStatsD carry it.
_GENAI = (*_BASE, "server.address", "server.port")
_LABELS: dict[str, tuple[str, ...]] = {
    metrics.OPERATION_DURATION.name: (*_GENAI, "error.type"),
    metrics.TOKEN_USAGE.name: (*_GENAI, "gen_ai.token.type"),
    metrics.TIME_TO_FIRST_CHUNK.name: _GENAI,
    metrics.TIME_PER_OUTPUT_CHUNK.name: _GENAI,
    metrics.ESTIMATED_TOKENS.name: (*_BASE, "gen_ai.token.type"),
    metrics.ERRORS.name: (*_BASE, "error.type"),
    metrics.QUEUE_DEPTH.name: (),
    metrics.BREAKER_STATE.name: (
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "relaykit.provider",
    ),
    metrics.CACHE_ERRORS.name: ("relaykit.cache.operation",),
    metrics.STORAGE_WRITE_FAILURES.name: ("error.type",),
    metrics.STORAGE_FAILING.name: (),
    metrics.RECORDS_SPILLED.name: ("relaykit.storage.reason",),
    metrics.RECORDS_LOST.name: (),
    metrics.RECORDS_REPLAYED.name: (),
}
MODEL_LABEL = "gen_ai.request.model"
OTHER = "other"

_WHERE = "exporters.prometheus"


log = logging.getLogger("relaykit.prometheus")


def prometheus_name(instrument: metrics.Instrument) -> str:
    """The Prometheus name of an instrument, as OpenTelemetry's Prometheus exporter spells it.

    Dots become underscores and the unit is appended (``_seconds``); annotations
    in braces (``{token}``) are dropped. The exposition adds ``_total`` to counters.
    """
    name = instrument.name.replace(".", "_")
    unit = _UNITS.get(instrument.unit, "" if instrument.unit.startswith("{") else instrument.unit)
    return f"{name}_{unit}" if unit and not name.endswith(unit) else name


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


class ModelCap:
    """Keeps the model label's cardinality bounded: the first ``limit`` models, then "other".

    Model names come from callers (and from providers' dated snapshots), so
    without a cap one busy gateway could create thousands of time series. The
    provider label needs no cap: only configured or installed providers get
    that far (a call naming an unknown one fails with an empty provider).

    Only the overflow is labelled ``other``: a real model of that name (or
    ``\\other``, ``\\\\other``, ...) gets one more backslash in front, so no
    model's calls merge with the overflow's and no two models share a label.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: each model admitted -> its label
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, model: str) -> str:
        """``model``'s label while there is room for it, else ``"other"``."""
        label = self._seen.get(model)
        if label is not None:
            return label
        with self._lock:
            if len(self._seen) < self.limit:
                label = "\\" + model if model.lstrip("\\") == OTHER else model
                self._seen[model] = label
                return label
        return OTHER


class _Histogram:
    """Counts per bucket (the last is +Inf) and the sum; cumulative only when scraped."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def add(self, value: float) -> None:
        # bisect_left finds the first bound >= value: Prometheus buckets are "le".
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class _Total:
    """A counter's total."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, value: float) -> None:
        self.value += value


class _Level:
    """A gauge's current value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, value: float) -> None:
        self.value = value


_Series = _Histogram | _Total | _Level


class PrometheusExporter:
    """A relaykit exporter keeping metrics for a Prometheus registry of its own.

    ``record`` only updates numbers in memory, so it never blocks the request
    path; the registry reads them when scraped (:meth:`collect`).
    """

    #: Only metrics are taken from records: the client leaves messages and
    #: answers out of them (and so does not spend time redacting them).
    needs_content = False

    def __init__(
        self, *, port: int | None = None, host: str = "127.0.0.1", max_models: int = 50
    ) -> None:
        self._max_models = max_models
        self._provider_names: metrics.ProviderNames | None = None
        self._start_counting()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)
        self._server: Any = None
        self.port: int | None = None
        if port is not None:
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]  # an IPv6 address as a URL writes it: [::1]
            try:
                self._server, _ = start_http_server(port, addr=host, registry=self.registry)
            except OSError as e:
                raise ConfigError(
                    f"cannot serve Prometheus metrics on {host}:{port}: {e.strerror}",
                    # a name that does not resolve is the host's fault, not the port's
                    hint="check [exporters.prometheus] host"
                    if isinstance(e, socket.gaierror)
                    else "pick a free [exporters.prometheus] port,"
                    " or leave it out and mount make_asgi_app()",
                ) from None
            self.port = self._server.server_port
        after_fork_in_child(self, PrometheusExporter._forget_parent)

    def _start_counting(self) -> None:
        """Every series at zero, nothing queued."""
        self._cap = ModelCap(self._max_models)
        # instrument name -> label values (in _LABELS order) -> series
        self._series: dict[str, dict[tuple[str, ...], _Series]] = {
            instrument.name: {} for instrument in metrics.INSTRUMENTS
        }
        for instrument in metrics.INSTRUMENTS:
            if not _LABELS.get(instrument.name, _BASE):
                self._series[instrument.name][()] = self._new(instrument)
        # (instrument name, attributes) -> its series, for gauge events (call records
        # have CallFold): attributes repeat, so the labels are worked out once.
        self._bound: dict[tuple[str, metrics.Attributes], _Series] = {}
        #: events not added up yet (appends and pops are thread-safe)
        self._pending: deque[object] = deque()
        # Held while queued records are added and while a scrape reads: the
        # event loop's thread adds (past _BATCH) and so does a scrape's.
        self._adding = threading.Lock()
        self._calls = metrics.CallFold(self._series_of, provider_names=self._provider_names)

    def use_provider_names(self, names: metrics.ProviderNames) -> None:
        """Name providers as the client does (``[providers.work] type = "anthropic"``:
        ``gen_ai.provider.name`` ``anthropic``, ``relaykit.provider`` ``work``);
        called once by the client as it is built."""
        with self._adding:
            self._provider_names = names
            self._calls = metrics.CallFold(self._series_of, provider_names=names)
            self._bound.clear()

    def _forget_parent(self) -> None:
        """In a forked child: count this process's calls alone, and leave the server be.

        The parent's numbers are the parent's (it still serves them): a child
        starting from them would report the parent's calls once more per worker.
        The metrics server's thread does not exist here, and the port is the
        parent's; shutting the server down here would wait forever for that
        thread, so the child only closes its copy of the listening socket.
        """
        self._start_counting()  # also new locks: a parent's thread may have held one
        if self._server is not None:
            server, self._server = self._server, None
            server.socket.close()  # this process's descriptor only: the parent still serves
            log.warning(
                "relaykit-prometheus: this process (pid %d) was forked from the one serving"
                " metrics on port %s, which serves only its own: mount"
                " relaykit_prometheus.make_asgi_app(client) in this process's app,"
                " or create the relaykit.Client after the fork",
                os.getpid(),
                self.port,
            )
            self.port = None

    @staticmethod
    def _new(instrument: metrics.Instrument) -> _Series:
        if instrument.kind == "histogram":
            return _Histogram(instrument.buckets)
        return _Total() if instrument.kind == "counter" else _Level()

    def record(self, event: object) -> None:
        """Take note of one call record or gauge event (queued: see the module's doc)."""
        # Gauge events queue too, so everything is added in the order it came (the
        # model cap admits models in that order).
        pending = self._pending
        pending.append(event)
        if len(pending) >= _BATCH:
            self._add_pending(wait=False)

    def _add_pending(self, *, wait: bool = True) -> None:
        """Add up the queued call records.

        ``wait=False`` (the event loop's thread) never waits for a scrape that
        is adding: that scrape takes what was queued before it began, and the
        next record adds the rest.
        """
        if not self._adding.acquire(blocking=wait):
            return
        try:
            self._add_pending_locked()
        finally:
            self._adding.release()

    def _add_pending_locked(self) -> None:
        pending = self._pending
        # Only as many as are queued now: the event loop may queue more meanwhile.
        events = [pending.popleft() for _ in range(len(pending))]
        calls: list[CallRecord] = []
        for event in events:
            if type(event) is CallRecord:
                calls.append(event)
                continue
            if calls:  # the calls before it first, in one pass
                self._calls.add(calls)
                calls = []
            bound = self._bound
            for obs in metrics.observe(event, self._provider_names):
                series = bound.get((obs.instrument.name, obs.attributes))
                if series is None:
                    series = self._bind(obs)
                series.add(obs.value)
        if calls:
            self._calls.add(calls)

    def _series_of(self, instrument: metrics.Instrument, attributes: metrics.Attributes) -> _Series:
        """The series of ``instrument`` for ``attributes`` (created on first use)."""
        values = dict(attributes)
        if MODEL_LABEL in values:
            values[MODEL_LABEL] = self._cap(values[MODEL_LABEL])
        labels = tuple(values.get(a, "") for a in _LABELS.get(instrument.name, _BASE))
        by_labels = self._series[instrument.name]
        series = by_labels.get(labels)
        if series is None:
            series = by_labels[labels] = self._new(instrument)
        return series

    def _bind(self, obs: metrics.Observation) -> _Series:
        instrument = obs.instrument
        series = self._series_of(instrument, obs.attributes)
        if len(self._bound) >= 4096:
            # Beyond the model cap every new model name maps to "other", but each
            # would still add a lookup entry here: stay bounded however many come.
            self._bound.clear()
        self._bound[(instrument.name, obs.attributes)] = series
        return series

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry learns the names from :meth:`collect`."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The metric families as they stand (called by the registry when scraped).

        Every call recorded before the scrape began is in them.
        """
        with self._adding:
            self._add_pending_locked()
            families = list(self._families())
        yield from families

    def _families(self) -> Iterator[Metric]:
        for instrument in metrics.INSTRUMENTS:
            name, doc = prometheus_name(instrument), instrument.description
            labels = [_label(a) for a in _LABELS.get(instrument.name, _BASE)]
            series = list(self._series[instrument.name].items())
            family: Any
            if instrument.kind == "histogram":
                family = HistogramMetricFamily(name, doc, labels=labels)
                bounds = [*map(floatToGoString, instrument.buckets), "+Inf"]
                for values, hist in series:
                    assert isinstance(hist, _Histogram)
                    counts, hist_sum, running = list(hist.counts), hist.sum, 0
                    buckets = []
                    for bound, count in zip(bounds, counts, strict=True):
                        running += count
                        buckets.append((bound, float(running)))
                    family.add_metric(list(values), buckets, hist_sum)
            else:
                family = (
                    CounterMetricFamily(name, doc, labels=labels)
                    if instrument.kind == "counter"
                    else GaugeMetricFamily(name, doc, labels=labels)
                )
                for values, number in series:
                    assert isinstance(number, _Total | _Level)
                    family.add_metric(list(values), number.value)
            yield family

    def asgi_app(self) -> Any:
        """An ASGI app serving this exporter's metrics (mount it at ``/metrics``)."""
        return _asgi_app(self.registry)

    async def flush(self) -> None:
        """Add up the queued call records; nothing to send: Prometheus scrapes."""
        self._add_pending()

    async def aclose(self) -> None:
        """Add up the queued call records; stop the metrics server, if this exporter
        started one."""
        self._add_pending()
        if self._server is not None:
            server, self._server = self._server, None
            # shutdown() waits for the serving thread's next poll (up to 0.5 s):
            # in a worker thread, so the event loop's other tasks need not wait too
            await anyio.to_thread.run_sync(server.shutdown)
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
    port = (
        whole_number(conf, "port", 0, where=_WHERE, high=65535)
        if conf.get("port") is not None
        else None
    )
    return PrometheusExporter(
        port=port,
        host=str(conf.get("host", "127.0.0.1")),
        max_models=whole_number(conf, "max_models", 50, where=_WHERE, low=1),
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
