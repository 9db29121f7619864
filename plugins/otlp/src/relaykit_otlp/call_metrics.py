"""Call metrics summed in plain Python, handed to the SDK's reader only when it collects.

``record`` runs on the request path of every call. Through the SDK's
instruments a call cost five measurements, each building an attribute dict,
looking up the SDK's attribute-keyed storage and taking its locks (~31 µs).
Here a call updates a few numbers per instrument and attribute set (a
histogram is its bucket counts, sum, min and max), straight from the record
through :class:`relaykit.metrics.CallFold` (no observation objects, one
lookup per call rather than per value), and :meth:`CallMetrics.collect`
turns them into the SDK's own data points when the periodic reader collects,
so the OTLP exporter sends what the SDK would have: the same names, units,
descriptions, attributes, buckets ("le": a value on a bound counts in that
bound's bucket), temporality, start times and exemplars (the SDK's defaults:
trace-based, the last sampled value per histogram bucket, one sampled value
per counter and interval).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping
from random import randrange
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import Counter, Exemplar, Histogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData

from relaykit import CallRecord, metrics

# When a value was measured and the sampled span it was measured in:
# (time, span id, trace id); no ids under an always-on filter outside a span.
_Sample = tuple[int, int | None, int | None]

# What the SDK does past its default cardinality limit (2000 attribute sets per
# instrument, counted per collection cycle under delta): one overflow series.
CARDINALITY_LIMIT = 2000
_OVERFLOW: Any = (("otel.metric.overflow", True),)


def _otel_attributes(attributes: metrics.Attributes) -> dict[str, Any]:
    """``attributes`` as a data point's: ``server.port`` an int, as the conventions
    type it (relaykit's attribute values are all strings)."""
    found: dict[str, Any] = dict(attributes)
    port = found.get("server.port")
    if port is not None:
        found["server.port"] = int(port)
    return found


class _Histogram:
    """Bucket counts (the last is +Inf), sum, min, max, and an exemplar per bucket."""

    __slots__ = ("bounds", "counts", "exemplars", "max", "min", "now", "start", "sum")

    def __init__(self, bounds: tuple[float, ...], start: int, now: _Now) -> None:
        self.bounds = bounds
        self.start = start
        self.now = now
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        # bucket index -> the last sampled value in it (the SDK's aligned reservoir)
        self.exemplars: dict[int, tuple[float, _Sample]] = {}

    def add(self, value: float) -> None:
        sample = self.now.sample
        index = bisect_left(self.bounds, value)  # "le": a value on a bound is in its bucket
        self.counts[index] += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if sample is not None:
            self.exemplars[index] = (value, sample)

    def point(self, attributes: dict[str, Any], now: int) -> HistogramDataPoint:
        """The data point as it stands; exemplars start again (as the SDK's reservoirs do)."""
        exemplars = [_exemplar(*self.exemplars[i]) for i in sorted(self.exemplars)]
        self.exemplars = {}
        return HistogramDataPoint(
            attributes=attributes,
            start_time_unix_nano=self.start,
            time_unix_nano=now,
            count=sum(self.counts),
            sum=self.sum,
            bucket_counts=tuple(self.counts),
            explicit_bounds=self.bounds,
            min=self.min,
            max=self.max,
            exemplars=exemplars,
        )


class _Total:
    """A counter's total, and the one exemplar the SDK's fixed-size reservoir keeps."""

    __slots__ = ("exemplar", "now", "sampled", "start", "value")

    def __init__(self, start: int, now: _Now) -> None:
        self.start = start
        self.now = now
        self.value = 0.0
        self.sampled = 0
        self.exemplar: tuple[float, _Sample] | None = None

    def add(self, value: float) -> None:
        self.value += value
        sample = self.now.sample
        if sample is not None:
            # reservoir sampling: the n-th sampled measurement replaces the kept one
            # with chance 1/n
            self.sampled += 1
            if self.sampled == 1 or randrange(self.sampled) == 0:
                self.exemplar = (value, sample)

    def point(self, attributes: dict[str, Any], now: int) -> NumberDataPoint:
        """The data point as it stands; the exemplar starts again."""
        exemplars = [_exemplar(*self.exemplar)] if self.exemplar is not None else []
        self.exemplar, self.sampled = None, 0
        return NumberDataPoint(
            attributes=attributes,
            start_time_unix_nano=self.start,
            time_unix_nano=now,
            value=self.value,
            exemplars=exemplars,
        )


def _exemplar(value: float, sample: _Sample) -> Exemplar:
    time_unix_nano, span_id, trace_id = sample
    return Exemplar({}, value, time_unix_nano, span_id, trace_id)


_Series = _Histogram | _Total


class _Now:
    """The call being added: when and in which sampled span (see CallMetrics._sample).

    Shared by every series, which read it as they add a value: the values then
    come through :class:`relaykit.metrics.CallFold`, whose series take a value alone.
    """

    __slots__ = ("sample",)

    def __init__(self) -> None:
        self.sample: _Sample | None = None


class CallMetrics:
    """The histograms and counters of relaykit's call records, per attribute set.

    :meth:`record` runs on the event loop's thread, :meth:`collect` on the
    reader's; a lock keeps each call's updates and each collection whole. It
    costs ~0.1 µs a call and is held only briefly by a collection, which
    copies a few numbers per series.
    """

    def __init__(self, exemplars: str = "trace_based") -> None:
        #: (instrument name, attributes) -> its series, in first-seen order
        self._series: dict[tuple[str, metrics.Attributes], _Series] = {}
        #: instrument name -> how many attribute sets it has (for the cardinality limit)
        self._sets: dict[str, int] = {}
        #: instrument kind -> the last delta collection, where its new series start
        self._since: dict[str, int] = {}
        self._lock = threading.Lock()
        self._exemplars = exemplars
        self._now = _Now()
        #: adds a record's values to self._series; a delta collection, which drops
        #: the series, replaces it (it remembers series)
        self._provider_names: metrics.ProviderNames | None = None
        self._fold = metrics.CallFold(self._series_of)

    def use_provider_names(self, names: metrics.ProviderNames) -> None:
        """Name providers as the client does (``[providers.work] type = "anthropic"``:
        ``gen_ai.provider.name`` ``anthropic``, ``relaykit.provider`` ``work``);
        called once by the client as it is built."""
        with self._lock:
            self._provider_names = names
            self._fold = metrics.CallFold(self._series_of, provider_names=names)

    def record(self, record: CallRecord) -> None:
        """Add one call record's observations."""
        sample = self._sample()
        with self._lock:
            self._now.sample = sample
            self._fold.add((record,))

    def _series_of(self, instrument: metrics.Instrument, attributes: metrics.Attributes) -> _Series:
        """The series of ``instrument`` for ``attributes``: CallFold's ``make``."""
        found = self._series.get((instrument.name, attributes))
        if found is None:
            found = self._new(instrument, attributes)
        return found

    def _sample(self) -> _Sample | None:
        """When and in which span a measurement was made, if the exemplar filter keeps it."""
        if self._exemplars == "always_off":
            return None
        context = trace.get_current_span().get_span_context()
        if context.trace_flags.sampled:
            return (time_ns(), context.span_id, context.trace_id)
        if self._exemplars == "always_on":
            return (time_ns(), None, None)
        return None

    def _new(self, instrument: metrics.Instrument, attributes: metrics.Attributes) -> _Series:
        """A new series (or the overflow series, past the cardinality limit)."""
        key = (instrument.name, attributes)
        if self._sets.get(instrument.name, 0) >= CARDINALITY_LIMIT:
            key = (instrument.name, _OVERFLOW)
            found = self._series.get(key)
            if found is not None:
                return found
        start = self._since.get(instrument.kind) or time_ns()
        series: _Series
        if instrument.kind == "histogram":
            series = _Histogram(instrument.buckets, start, self._now)
        elif instrument.kind == "counter":
            series = _Total(start, self._now)
        else:
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a call metric")
        self._series[key] = series
        self._sets[instrument.name] = self._sets.get(instrument.name, 0) + 1
        return series

    def collect(self, temporality: Mapping[Any, AggregationTemporality], now: int) -> list[Metric]:
        """The SDK's metrics for what was recorded, in the reader's ``temporality``.

        Cumulative: every series, from its start. Delta: what each series added
        since the last collection; the series are then dropped, and those that
        come back start from this collection (as the SDK's own do).
        """
        chosen = {
            "histogram": _temporality_of(Histogram, temporality),
            "counter": _temporality_of(Counter, temporality),
        }
        delta = {kind for kind, t in chosen.items() if t == AggregationTemporality.DELTA}
        points: dict[str, list[Any]] = {}
        with self._lock:
            series, kept = self._series, {}
            for key, one in series.items():
                name, attributes = key
                points.setdefault(name, []).append(one.point(_otel_attributes(attributes), now))
                if ("histogram" if isinstance(one, _Histogram) else "counter") not in delta:
                    kept[key] = one
            if delta:
                self._series = kept
                # it knew dropped series
                self._fold = metrics.CallFold(self._series_of, provider_names=self._provider_names)
                self._sets = {}
                for name, _ in kept:
                    self._sets[name] = self._sets.get(name, 0) + 1
                for kind in delta:
                    self._since[kind] = now
        out = []
        for instrument in metrics.INSTRUMENTS:
            found = points.get(instrument.name)
            if not found:
                continue
            data: Any
            of = chosen[instrument.kind]
            if instrument.kind == "histogram":
                data = HistogramData(data_points=found, aggregation_temporality=of)
            else:
                data = Sum(data_points=found, aggregation_temporality=of, is_monotonic=True)
            out.append(Metric(instrument.name, instrument.description, instrument.unit, data))
        return out


def _temporality_of(
    kind: type, temporality: Mapping[Any, AggregationTemporality]
) -> AggregationTemporality:
    # The reader keys its table by the SDK's concrete instrument classes.
    for cls, chosen in temporality.items():
        if issubclass(cls, kind):
            return chosen
    return AggregationTemporality.CUMULATIVE
