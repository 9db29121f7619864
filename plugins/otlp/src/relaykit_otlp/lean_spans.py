"""A tracer provider on the OpenTelemetry API whose spans are cheap to make and end.

The SDK's span costs ~16-18 µs in a loop and ~33 µs beside a call
(docs/benchmarks-observability.md): every attribute is cleaned and checked
as it is set, into a ``BoundedAttributes`` behind a lock, and ``end`` builds
a ``ReadableSpan`` for the span processor. A :class:`LeanSpan` keeps what was
set in plain Python (a dict of attributes, a list of events) and ``end``
appends it to a :class:`~relaykit_otlp.span_queue.SpanQueue`; the length
limits and the event and link limits (through the SDK's own classes) and the
OTLP encoding (:mod:`~relaykit_otlp.span_encoding`) happen when the queue's
thread exports a batch, so the collector receives what the SDK path would
have sent.

On the call path only what decides behaviour is checked: a value of a type
the SDK stores as it is (str, bool, int, float, bytes, None) is kept as it
is, a list or tuple of them becomes a tuple (the SDK's copy); any other
value, and any key that is not a non-empty str, goes through the SDK's
``BoundedAttributes`` at once (its warning, its conversion, its count of
dropped keys). The attribute count limit is applied as attributes are set
(one length check), so what a key set again after being pushed out counts
is what the SDK counts.
Sampling is the SDK's: ``OTEL_TRACES_SAMPLER`` is read by the SDK's helper;
its default (parent-based, always on) is decided inline, any other sampler
object is asked for each span.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from random import getrandbits
from time import time_ns
from types import NoneType, TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

if TYPE_CHECKING:
    from .span_queue import SpanQueue

# The SDK's span logs its warnings here; so do these spans.
logger = logging.getLogger("opentelemetry.sdk.trace")
_attributes_logger = logging.getLogger("opentelemetry.attributes")

#: Values the SDK keeps exactly as given (strings only truncated, when a length limit is set).
_PLAIN = frozenset({str, bool, int, float, bytes, NoneType})

# Trace flags by (sampled, random trace id), built once: TraceFlags() is a Python call.
_FLAGS = {
    (sampled, random): TraceFlags(
        (TraceFlags.SAMPLED if sampled else 0) | (TraceFlags.RANDOM_TRACE_ID if random else 0)
    )
    for sampled in (False, True)
    for random in (False, True)
}
_DEFAULT_STATE = INVALID_SPAN_CONTEXT.trace_state  # the API's empty TraceState


def _context_maker() -> Any:
    """``tuple.__new__``, if it builds the SpanContext the API's constructor builds for
    valid ids (trace id, span id, remote, flags, state, valid), else the constructor."""
    flags = TraceFlags(TraceFlags.SAMPLED)
    given = (7, 9, False, flags, _DEFAULT_STATE)
    made = tuple.__new__(SpanContext, (*given, True))
    return tuple.__new__ if made == SpanContext(*given) and made.is_valid else _from_fields


def _from_fields(cls: type[SpanContext], fields: tuple[Any, ...]) -> SpanContext:
    return cls(*fields[:5])


_new_context = _context_maker()
#: The status every span starts with (the encoder knows its bytes).
UNSET = Status(StatusCode.UNSET)
_get_current_span = trace.get_current_span


def sampler_from_env() -> sampling.Sampler | None:
    """The sampler ``OTEL_TRACES_SAMPLER`` names, read as the SDK's provider reads it;
    None if this SDK lacks the (protected) helper, and the exporter then uses the SDK provider."""
    read = getattr(sampling, "_get_from_env_or_default", None)
    return read() if callable(read) else None


#: What :meth:`LeanSpan.fields` returns.
SpanFields = tuple[
    "LeanTracer",
    str,
    SpanContext,
    SpanContext | None,
    SpanKind,
    int,
    int | None,
    dict[str, Any],
    int,
    "list[tuple[str, Any, int]] | None",
    "list[Link] | None",
    Status,
]

_MIXED: Any = object()


def _plain_sequence(value: Any) -> Any:
    """A list or tuple of plain values as the SDK keeps it (a tuple), else ``_MIXED``."""
    if type(value) in (list, tuple) and _PLAIN.issuperset(map(type, value)):
        return tuple(value)
    return _MIXED


def _is_valid_link(context: SpanContext, attributes: types.Attributes) -> bool:
    """What the SDK keeps of a link: one to a valid span, or carrying attributes or a state."""
    return bool(context and (context.is_valid or (attributes or context.trace_state)))


class LeanTracerProvider(trace.TracerProvider):
    """Tracers whose spans end into ``queue``, which exports them in batches off the call path."""

    def __init__(self, queue: SpanQueue, sampler: sampling.Sampler) -> None:
        self._queue = queue
        self.sampler = sampler
        self._tracers: dict[InstrumentationScope, LeanTracer] = {}

    @property
    def dropped_spans(self) -> int:
        """Spans ended while the queue was full (the oldest queued ones were dropped) or after
        shutdown; each drop is also logged (a warning at most every 10 s, with the count)."""
        return self._queue.dropped

    @property
    def failed_spans(self) -> int:
        """Spans whose batch the collector refused (a status not retried, or still
        failing when the export timeout ran out, retries included), or that it
        rejected in an answer accepting the rest (OTLP's ``partial_success``): lost,
        each refused batch logged by the SDK's exporter, the first rejection's
        message logged, the total told at shutdown."""
        return self._queue.failed

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        """The tracer of one instrumentation scope (one per scope, as the SDK's provider)."""
        if self._queue.disabled:
            return trace.NoOpTracer()  # OTEL_SDK_DISABLED, as in the SDK
        if not instrumenting_module_name:
            instrumenting_module_name = ""
            logger.error("get_tracer called with missing module name.")
        scope = InstrumentationScope(
            instrumenting_module_name, instrumenting_library_version or "", schema_url, attributes
        )
        found = self._tracers.get(scope)
        if found is None:
            found = self._tracers[scope] = LeanTracer(self._queue, self.sampler, scope)
        return found

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export every span ended so far (blocking: call it from a worker thread)."""
        return self._queue.force_flush()

    def shutdown(self) -> None:
        """Export what is queued and stop the queue's thread (blocking)."""
        self._queue.shutdown()


class LeanTracer(trace.Tracer):
    """Starts :class:`LeanSpan` objects (or non-recording ones, when not sampled)."""

    def __init__(
        self, queue: SpanQueue, sampler: sampling.Sampler, scope: InstrumentationScope
    ) -> None:
        self.queue = queue
        self.scope = scope
        self.limits = queue.limits
        #: OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT (128): past it the oldest attribute goes, as
        #: in the SDK; applied as attributes are set, so a key set again after it was
        #: pushed out counts as the SDK counts it
        self.max_attributes = (
            sys.maxsize
            if queue.limits.max_span_attributes is None
            else queue.limits.max_span_attributes
        )
        # The SDK's default sampler follows the parent's flag and samples roots:
        # decided here without building a SamplingResult per span.
        self._sampler = None if sampler is sampling.DEFAULT_ON else sampler

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """A span, parented on ``context``'s span (or the current one), as the SDK starts it."""
        parent: SpanContext | None = _get_current_span(context).get_span_context()
        if parent is not None and not isinstance(parent, SpanContext):
            raise TypeError("parent_span_context must be a SpanContext or None.")
        # No current span (most calls): the API's invalid context, known without
        # asking it (is_valid is a Python property).
        if parent is INVALID_SPAN_CONTEXT or parent is None or not parent.is_valid:
            parent = None
            trace_id = getrandbits(128)
            while not trace_id:
                trace_id = getrandbits(128)
            random_id = True  # the SDK's RandomIdGenerator
        else:
            trace_id = parent.trace_id
            random_id = parent.trace_flags.random_trace_id
        sampler = self._sampler
        if sampler is None:
            sampled = recording = parent is None or parent.trace_flags.sampled
            trace_state = None if parent is None else parent.trace_state
        else:
            result = sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision: Any = result.decision  # its methods are not annotated
            sampled = decision.is_sampled()
            recording = decision.is_recording()
            trace_state = result.trace_state
            attributes = result.attributes
        span_id = getrandbits(64)
        while not span_id:
            span_id = getrandbits(64)
        # Both ids valid (a parent's is, and new ones are non-zero and in range):
        # the tuple SpanContext's __new__ would build, without its Python frame.
        span_context = _new_context(
            SpanContext,
            (
                trace_id,
                span_id,
                False,
                _FLAGS[sampled, random_id],
                _DEFAULT_STATE if trace_state is None else trace_state,
                True,
            ),
        )
        if not recording:
            return NonRecordingSpan(span_context)
        return LeanSpan(
            self,
            name,
            span_context,
            parent,
            kind,
            attributes,
            links,
            start_time if start_time is not None else time_ns(),
            record_exception,
            set_status_on_exception,
            sampled,
        )

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        """Start a span and make it current for the block, as the SDK's tracer does."""
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class LeanSpan(trace.Span):
    """A recording span held in plain Python until its batch is exported.

    Unlike the SDK's span it takes no lock: attributes go into a dict (each
    change one operation under the GIL), and the queue's thread reads a span
    only after ``end``, when its methods change nothing any more (it copies
    the dict first, in case a call from another thread raced with ``end``).
    """

    __slots__ = (
        "_attributes",
        "_context",
        "_dropped",
        "_end",
        "_events",
        "_links",
        "_name",
        "_record_exception",
        "_sampled",
        "_set_status_on_exception",
        "_status",
        "_tracer",
        "kind",
        "parent",
        "start_time",
    )

    def __init__(
        self,
        tracer: LeanTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link] | None,
        start_time: int,
        record_exception: bool,
        set_status_on_exception: bool,
        sampled: bool,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self.parent = parent
        self.kind = kind
        self.start_time = start_time
        self._end: int | None = None
        self._status = UNSET
        self._dropped = 0
        #: (name, attributes: dict | BoundedAttributes | None, timestamp)
        self._events: list[tuple[str, Any, int]] | None = None
        self._links: list[Link] | None = None
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception
        self._sampled = sampled
        if attributes and _PLAIN.issuperset(map(type, attributes.values())):
            self._attributes: dict[str, Any] = dict(attributes)
            if len(self._attributes) > tracer.max_attributes:
                self._trim()
        else:
            self._attributes = {}
            if attributes:
                self._set_mixed(attributes)
        if links:
            for link in links:
                if link and _is_valid_link(link.context, link.attributes):
                    self._add_link(link.context, link.attributes)

    # -- read by the queue when it exports ------------------------------------

    @property
    def name(self) -> str:
        """The span's name (the last ``update_name``)."""
        return self._name

    @property
    def end_time(self) -> int | None:
        """When the span ended (ns since the epoch), None while it records."""
        return self._end

    @property
    def scope(self) -> InstrumentationScope:
        """The instrumentation scope of the tracer that started the span."""
        return self._tracer.scope

    @property
    def sampled(self) -> bool:
        """Whether ``end`` queues it for export (a record-only span is not exported)."""
        return self._sampled

    def fields(self) -> SpanFields:
        """All the encoder reads of an ended span, in one call (each property is a call):
        its tracer, name, context, parent, kind, start and end times, attributes,
        attributes dropped when set, events, links and status."""
        return (
            self._tracer,
            self._name,
            self._context,
            self.parent,
            self.kind,
            self.start_time,
            self._end,
            self._attributes,
            self._dropped,
            self._events,
            self._links,
            self._status,
        )

    def parts(self) -> tuple[dict[str, Any], int, list[tuple[str, Any, int]], list[Link], Status]:
        """Attributes, attributes dropped when set, events, links and status, for export."""
        return self._attributes, self._dropped, self._events or [], self._links or [], self._status

    # -- the API --------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        """The span's trace id, span id, flags and trace state."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """Set one attribute; a value of another type than the SDK keeps as it is is
        cleaned now by the SDK's own code (its warning, its conversion)."""
        if self._end is not None:
            logger.warning("Setting attribute on ended span.")
            return
        if type(key) is str and key:
            kept = value if type(value) in _PLAIN else _plain_sequence(value)
            if kept is not _MIXED:
                attributes = self._attributes
                if key in attributes:
                    del attributes[key]  # a set key moves to the end, as in the SDK
                attributes[key] = kept
                if len(attributes) > self._tracer.max_attributes:
                    self._trim()
                return
        cleaned = BoundedAttributes(None, immutable=False)
        cleaned[key] = value
        self._set_cleaned(cleaned)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes (see :meth:`set_attribute`)."""
        if self._end is not None:
            logger.warning("Setting attribute on ended span.")
            return
        if not _PLAIN.issuperset(map(type, attributes.values())):
            self._set_mixed(attributes)
            return
        mine = self._attributes
        if not mine.keys().isdisjoint(attributes):
            for key in attributes:
                mine.pop(key, None)  # a set key moves to the end, as in the SDK
        mine.update(attributes)
        if len(mine) > self._tracer.max_attributes:
            self._trim()

    def _set_mixed(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Attributes with some values of other types: a list or tuple of plain values
        becomes a tuple (the SDK's copy); anything else is cleaned by the SDK's code."""
        mine = self._attributes
        if not mine.keys().isdisjoint(attributes):
            self._set_each(attributes)  # keys set again: one by one, as the SDK
            return
        # New keys (the finish's, most often, one a list of finish reasons): all go
        # in with one update, in C, and the few other values are replaced in place,
        # which leaves what setting them one by one leaves, in the same order.
        mine.update(attributes)
        for key, value in attributes.items():
            if type(value) in _PLAIN:
                continue
            kept = _plain_sequence(value)
            if kept is not _MIXED:
                mine[key] = kept
                continue
            cleaned = BoundedAttributes(None, {key: value}, False)
            self._dropped += cleaned.dropped
            if key in cleaned:
                mine[key] = cleaned[key]
            else:
                del mine[key]  # a key the SDK refuses: it is not set
        if len(mine) > self._tracer.max_attributes:
            self._trim()

    def _set_each(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """:meth:`_set_mixed` one attribute at a time, some cleaned by the SDK's code."""
        mine = self._attributes
        for key, value in attributes.items():
            kept = value if type(value) in _PLAIN else _plain_sequence(value)
            if kept is _MIXED:
                self._set_cleaned(BoundedAttributes(None, {key: value}, False))
                continue
            mine.pop(key, None)
            mine[key] = kept
        if len(mine) > self._tracer.max_attributes:
            self._trim()

    def _set_cleaned(self, cleaned: BoundedAttributes) -> None:
        mine = self._attributes
        for key, value in cleaned.items():
            mine.pop(key, None)
            mine[key] = value
        self._dropped += cleaned.dropped
        if len(mine) > self._tracer.max_attributes:
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest attributes past the count limit, with the SDK's warning."""
        mine = self._attributes
        while len(mine) > self._tracer.max_attributes:
            _attributes_logger.warning(
                "Attributes dict is full. Dropping the oldest key-value pair from attributes"
                " to make space for the new key-value pair."
            )
            del mine[next(iter(mine))]
            self._dropped += 1

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        """Add an event (its attributes copied now, cleaned and bounded at export)."""
        if self._end is not None:
            logger.warning("Tried calling %s on an ended span.", "_add_event")
            return
        kept: Any = None
        if attributes:
            if _PLAIN.issuperset(map(type, attributes.values())):
                kept = dict(attributes)  # a copy, as the SDK's
            else:
                limits = self._tracer.limits
                kept = BoundedAttributes(
                    limits.max_event_attributes,
                    attributes,
                    max_value_len=limits.max_attribute_length,
                )
        event = (name, kept, timestamp if timestamp is not None else time_ns())
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link to another span (ignored, as in the SDK, when the link carries nothing)."""
        if not _is_valid_link(context, attributes):
            return
        if self._end is not None:
            logger.warning("Tried calling %s on an ended span.", "_add_link")
            return
        self._add_link(context, attributes)

    def _add_link(self, context: SpanContext, attributes: types.Attributes) -> None:
        # Rare: the SDK's own cleaning now (links are bounded, not counted, at export).
        limits = self._tracer.limits
        link = Link(
            context,
            BoundedAttributes(
                limits.max_link_attributes, attributes, max_value_len=limits.max_attribute_length
            ),
        )
        if self._links is None:
            self._links = [link]
        else:
            self._links.append(link)

    def update_name(self, name: str) -> None:
        """Rename the span."""
        if self._end is not None:
            logger.warning("Tried calling %s on an ended span.", "update_name")
            return
        self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status; an OK status is final and UNSET is ignored (the SDK's rules)."""
        if self._end is not None:
            logger.warning("Tried calling %s on an ended span.", "set_status")
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                logger.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                    description,
                )
            self._status = status
        elif isinstance(status, StatusCode):
            if status is StatusCode.UNSET:
                return
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Add an ``exception`` event with the type, message and stack trace (as the SDK)."""
        stacktrace = "".join(traceback.format_exception(exception))
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        kind = f"{module}.{qualname}" if module and module != "builtins" else qualname
        recorded: dict[str, types.AnyValue] = {
            "exception.type": kind,
            "exception.message": str(exception),
            "exception.stacktrace": stacktrace,
            "exception.escaped": str(escaped),
        }
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """End the span and queue it for export (if sampled)."""
        if self._end is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end = end_time if end_time is not None else time_ns()
        if self._sampled:
            self._tracer.queue.put(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """End the span; an exception leaving the block is recorded first (as the SDK's)."""
        if exc_val is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exception=exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    def __repr__(self) -> str:
        return f'LeanSpan(name="{self._name}", context={self._context})'
