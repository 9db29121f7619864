"""Call metrics summed in plain Python, handed to the SDK's reader only when it collects.

``record`` runs on the request path of every call. Through the SDK's
instruments a call cost five measurements, each building an attribute dict,
looking up the SDK's attribute-keyed storage and taking its locks (~31 µs).
Here a call updates a few numbers per instrument and attribute set (a
histogram is its bucket counts, sum, min and max), and :meth:`CallMetrics.collect`
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

from relaykit import metrics

# A sampled span's ids and when its value was measured: (time, span id, trace id).
_Sample = tuple[int, int, int]


class _Histogram:
    """Bucket counts (the last is +Inf), sum, min, max, and an exemplar per bucket."""

    __slots__ = ("bounds", "counts", "exemplars", "max", "min", "start", "sum")

    def __init__(self, bounds: tuple[float, ...], start: int) -> None:
        self.bounds = bounds
        self.start = start
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.exemplars: dict[int, tuple[float, _Sample]] = {}

    def add(self, value: float, sample: _Sample | None) -> None:
        index = bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if sample is not None:
            self.exemplars[index] = (value, sample)

    def point(self, attributes: dict[str, str], now: int, reset: bool) -> HistogramDataPoint:
        exemplars = [_exemplar(*self.exemplars[i]) for i in sorted(self.exemplars)]
        self.exemplars = {}
        point = HistogramDataPoint(
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
        if reset:
            self.__init__(self.bounds, now)  # type: ignore[misc]
        return point

    @property
    def changed(self) -> bool:
        return self.min != float("inf")


class _Total:
    """A counter's total, and the one exemplar a fixed-size reservoir of one keeps."""

    __slots__ = ("changed", "exemplar", "sampled", "start", "value")

    def __init__(self, start: int) -> None:
        self.start = start
        self.value = 0.0
        self.sampled = 0
        self.exemplar: tuple[float, _Sample] | None = None
        self.changed = False

    def add(self, value: float, sample: _Sample | None) -> None:
        self.value += value
        self.changed = True
        if sample is not None:
            # reservoir sampling: each sampled measurement is kept with chance 1/n
            self.sampled += 1
            if self.sampled == 1 or randrange(self.sampled) == 0:
                self.exemplar = (value, sample)

    def point(self, attributes: dict[str, str], now: int, reset: bool) -> NumberDataPoint:
        exemplars = [_exemplar(*self.exemplar)] if self.exemplar is not None else []
        self.exemplar, self.sampled = None, 0
        point = NumberDataPoint(
            attributes=attributes,
            start_time_unix_nano=self.start,
            time_unix_nano=now,
            value=self.value,
            exemplars=exemplars,
        )
        if reset:
            self.__init__(now)  # type: ignore[misc]
        return point


def _exemplar(value: float, sample: _Sample) -> Exemplar:
    time_unix_nano, span_id, trace_id = sample
    return Exemplar({}, value, time_unix_nano, span_id, trace_id)


_Series = _Histogram | _Total
_KINDS = ("histogram", "counter")


class CallMetrics:
    """The histograms and counters of relaykit's call records, per attribute set.

    :meth:`record` runs on the event loop's thread, :meth:`collect` on the
    reader's; a lock keeps each call's updates and each collection whole (it is
    never contended for long: a collection copies a few numbers per series).
    """

    def __init__(self, exemplars: str = "trace_based") -> None:
        #: (instrument name, attributes) -> its series, in first-seen order
        self._series: dict[tuple[str, metrics.Attributes], _Series] = {}
        self._lock = threading.Lock()
        self._exemplars = exemplars

    def record(self, record: object) -> None:
        """Add one call record's observations."""
        sample = self._sample()
        series = self._series
        with self._lock:
            for obs in metrics.observe(record):
                found = series.get((obs.instrument.name, obs.attributes))
                if found is None:
                    found = self._new(obs)
                found.add(obs.value, sample)

    def _sample(self) -> _Sample | None:
        """The current span's ids when the exemplar filter keeps this measurement."""
        if self._exemplars == "trace_based":
            context = trace.get_current_span().get_span_context()
            if not context.trace_flags.sampled:
                return None
            return (time_ns(), context.span_id, context.trace_id)
        if self._exemplars == "always_on":
            context = trace.get_current_span().get_span_context()
            ids = (context.span_id, context.trace_id) if context.is_valid else (None, None)
            return (time_ns(), *ids)  # type: ignore[return-value]
        return None

    def _new(self, obs: metrics.Observation) -> _Series:
        instrument = obs.instrument
        if instrument.kind not in _KINDS:
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a call metric")
        now = time_ns()
        series: _Series = (
            _Histogram(instrument.buckets, now) if instrument.kind == "histogram" else _Total(now)
        )
        self._series[(instrument.name, obs.attributes)] = series
        return series

    def collect(self, temporality: dict[type, AggregationTemporality], now: int) -> list[Metric]:
        """The SDK's metrics for what was recorded, as the reader's ``temporality`` asks.

        Cumulative: every series, from its start. Delta: the series that changed
        since the last collection, which then start again from zero.
        """
        by_name: dict[str, list[Any]] = {}
        histograms = _temporality_of(Histogram, temporality)
        counters = _temporality_of(Counter, temporality)
        with self._lock:
            for (name, attributes), series in self._series.items():
                delta = (
                    histograms if isinstance(series, _Histogram) else counters
                ) == AggregationTemporality.DELTA
                if delta and not series.changed:
                    continue
                point = series.point(dict(attributes), now, reset=delta)
                by_name.setdefault(name, []).append(point)
        out = []
        for instrument in metrics.INSTRUMENTS:
            points = by_name.get(instrument.name)
            if not points:
                continue
            data: Any
            if instrument.kind == "histogram":
                data = HistogramData(data_points=points, aggregation_temporality=histograms)
            else:
                data = Sum(data_points=points, aggregation_temporality=counters, is_monotonic=True)
            out.append(Metric(instrument.name, instrument.description, instrument.unit, data))
        return out


def _temporality_of(
    kind: type, temporality: dict[type, AggregationTemporality]
) -> AggregationTemporality:
    # The reader keys its table by the SDK's concrete instrument classes.
    for cls, chosen in temporality.items():
        if issubclass(cls, kind):
            return chosen
    return AggregationTemporality.CUMULATIVE
