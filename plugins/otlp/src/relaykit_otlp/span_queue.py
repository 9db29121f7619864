"""Ended lean spans, queued and exported in batches by a thread, as the SDK's batch processor does.

The schedule is the SDK's ``BatchSpanProcessor``'s, with its environment
variables and defaults: a batch of up to ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``
(512) spans every ``OTEL_BSP_SCHEDULE_DELAY`` (5000 ms), sooner when that
many are waiting; at most ``OTEL_BSP_MAX_QUEUE_SIZE`` (2048) wait. A span
ended while the queue is full pushes out the oldest one, as in the SDK; here
every drop is counted (:attr:`SpanQueue.dropped`) and logged (a warning at
most every 10 s, with the count so far), so no span goes missing unseen.

A batch is encoded here as OTLP protobuf straight from the lean spans
(:mod:`.span_encoding`, with the SDK's ``SpanLimits``: count and length
limits, their warnings, their dropped counts; the exporter's resource and the
tracer's instrumentation scope) and handed to ``send``, the SDK exporter's
own sender (see :func:`sdk_sender`). Without a ``send`` (a ``SpanExporter``
that is not the SDK's OTLP/HTTP one, or an SDK without that sender), a batch
becomes the SDK's ``ReadableSpan`` objects (:meth:`SpanQueue.readable`,
through the SDK's ``BoundedAttributes`` and ``BoundedList``) for the
exporter's ``export``, which the encoder's output matches byte for byte.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList

from .span_encoding import SpanEncoder, needs_bounding, span_attributes

if TYPE_CHECKING:
    from .lean_spans import LeanSpan

logger = logging.getLogger(__name__)

#: The SDK's defaults for its OTEL_BSP_* variables.
DEFAULTS = {
    "OTEL_BSP_MAX_QUEUE_SIZE": 2048,
    "OTEL_BSP_SCHEDULE_DELAY": 5000,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
}
#: Seconds between two warnings about a full queue (each one gives the count so far).
WARN_EVERY = 10.0


def _from_env(name: str) -> int:
    default = DEFAULTS[name]
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        logger.exception(
            "Unable to parse value for %s as integer. Defaulting to %s.", name, default
        )
        return default


def sdk_sender(exporter: SpanExporter) -> Callable[[bytes], object] | None:
    """The function that sends serialized spans for the SDK's ``OTLPSpanExporter``
    (its protected ``_client.export``); None when ``exporter`` has none.

    Reused rather than a sender of our own on ``requests``: that client is
    where the SDK keeps the endpoint, headers, compression, timeout and the
    TLS and mTLS files it resolved from the config and the ``OTEL_EXPORTER_OTLP_*``
    variables, the session a credential provider gives, and its retries (429,
    502, 503, 504 and connection errors, exponential backoff with jitter,
    ``Retry-After``, cut short by shutdown). A copy would lose some of that or
    drift from it. An SDK whose exporter lacks it gets the ``ReadableSpan`` path.
    (Not kept: the SDK exporter's own opt-in metrics,
    ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, and its 64 MiB request cap.)
    """
    client = getattr(exporter, "_client", None)
    send = getattr(client, "export", None)
    return send if callable(send) else None


class SpanQueue:
    """The spans ended and not yet exported, and the thread that exports them."""

    def __init__(
        self,
        exporter: SpanExporter,
        resource: Resource,
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        limits: SpanLimits | None = None,
        send: Callable[[bytes], object] | None = None,
    ) -> None:
        self.max_queue_size = max_queue_size or _from_env("OTEL_BSP_MAX_QUEUE_SIZE")
        delay = schedule_delay_millis or _from_env("OTEL_BSP_SCHEDULE_DELAY")
        self.batch_size = max_export_batch_size or _from_env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
        if self.max_queue_size <= 0 or delay <= 0 or self.batch_size <= 0:
            raise ValueError("span queue size, schedule delay and batch size must be positive")
        if self.batch_size > self.max_queue_size:
            raise ValueError("max_export_batch_size must be less than or equal to max_queue_size.")
        self.exporter = exporter
        self.resource = resource
        self.limits = limits or SpanLimits()
        #: sends an encoded batch (see :func:`sdk_sender`); None: ``exporter.export``
        self.send = send
        self.encoder = SpanEncoder(resource, self.limits)
        #: OTEL_SDK_DISABLED=true: tracers make no spans, as the SDK's provider
        self.disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        #: spans dropped: pushed out of a full queue, or ended after shutdown
        self.dropped = 0
        #: spans whose batch the collector refused, or did not take before the export
        #: timeout (its retries included): each batch also logged by the SDK's exporter
        self.failed = 0
        self._delay = delay / 1000
        # deque appends and pops are atomic: the event loop's thread appends, ours pops.
        self._queue: deque[LeanSpan] = deque(maxlen=self.max_queue_size)
        self._awake = threading.Event()
        self._export_lock = threading.Lock()
        self._shutdown = False
        self._next_warning = 0.0
        self._start_thread()
        atexit.register(self.shutdown)  # as the SDK provider: what is queued goes out at exit
        if hasattr(os, "register_at_fork"):
            # A forked child has no thread and the parent's spans: start afresh.
            weak = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (m := weak()) and m())

    def _start_thread(self) -> None:
        #: the thread that exports (benchmarks read its CPU time)
        self.thread = threading.Thread(
            name="RelaykitOtlpSpanExport", target=self._work, daemon=True
        )
        self.thread.start()

    def _after_fork(self) -> None:
        self._queue.clear()
        self._awake = threading.Event()
        self._export_lock = threading.Lock()
        self._start_thread()

    # -- the call path ----------------------------------------------------------

    def put(self, span: LeanSpan) -> None:
        """Queue an ended span; wake the thread when a batch is ready."""
        queue = self._queue
        if self._shutdown or len(queue) >= self.max_queue_size:
            self._drop()
            if self._shutdown:
                return
        queue.append(span)  # a full deque lets its oldest span go
        if len(queue) >= self.batch_size and not self._awake.is_set():
            self._awake.set()

    def _drop(self) -> None:
        self.dropped += 1
        now = monotonic()
        if now >= self._next_warning:
            self._next_warning = now + WARN_EVERY
            if self._shutdown:
                logger.warning(
                    "span ended after the exporter was closed: not exported (%d dropped so far)",
                    self.dropped,
                )
            else:
                logger.warning(
                    "span queue full (%d spans): dropped the oldest, %d dropped so far;"
                    " the collector takes spans slower than calls end them (raise"
                    " OTEL_BSP_MAX_QUEUE_SIZE, or check that the collector is reachable)",
                    self.max_queue_size,
                    self.dropped,
                )

    # -- the export thread --------------------------------------------------------

    def _work(self) -> None:
        while not self._shutdown:
            # Woken early only when a batch is ready (or at shutdown); otherwise every delay.
            full = self._awake.wait(self._delay)
            if self._shutdown:
                break
            # Cleared before exporting, not after: a batch that fills while this
            # one is sent sets it again. Cleared after, a put between the export's
            # last look at the queue and the clear had its wake-up wiped out, and
            # the queue waited a whole delay (5 s), dropping what overflowed.
            self._awake.clear()
            self._export(everything=False, at_least_one=not full)
        self._export(everything=True)

    def _export(self, *, everything: bool, at_least_one: bool = False) -> None:
        """Export batches: all that is queued, or while a whole batch waits (and one more
        batch, however small, when the delay ran out), as the SDK's processor does."""
        queue = self._queue
        with self._export_lock:
            rounds = 0
            while queue and (
                everything or len(queue) >= self.batch_size or (at_least_one and rounds == 0)
            ):
                rounds += 1
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                # The exporter's own HTTP request is not traced by instrumentation.
                token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
                try:
                    if self.send is not None:
                        result = self.send(self.encoder.encode(batch))
                    else:
                        result = self.exporter.export([self.readable(span) for span in batch])
                    if not _exported(result):
                        self.failed += len(batch)
                except Exception:
                    self.failed += len(batch)
                    logger.exception("Exception while exporting Span.")
                finally:
                    detach(token)

    def readable(self, span: LeanSpan) -> ReadableSpan:
        """The SDK's ``ReadableSpan`` of an ended span, with the SDK's limits applied
        (for an exporter other than the SDK's OTLP one)."""
        limits = self.limits
        attributes, dropped, events, links, status = span.parts()
        kept = span_attributes(attributes, dropped, limits)
        kept_events: Any = BoundedList(limits.max_events)  # untyped in the SDK
        for name, event_attributes, timestamp in events:
            if not isinstance(event_attributes, BoundedAttributes) and needs_bounding(
                event_attributes, limits.max_event_attributes, limits.max_attribute_length
            ):
                event_attributes = BoundedAttributes(
                    limits.max_event_attributes,
                    event_attributes,
                    max_value_len=limits.max_attribute_length,
                )
            kept_events.append(Event(name, event_attributes, timestamp))
        return ReadableSpan(
            name=span.name,
            context=span.get_span_context(),
            parent=span.parent,
            resource=self.resource,
            attributes=kept,
            events=kept_events,
            links=BoundedList.from_seq(limits.max_links, links),
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.scope,
        )

    # -- flush and shutdown (blocking: from a worker thread) --------------------------

    def force_flush(self) -> bool:
        """Export everything queued now; False after shutdown."""
        if self._shutdown:
            return False
        self._export(everything=True)
        return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Export what is queued, stop the thread and shut the exporter down."""
        if self._shutdown:
            return
        self._shutdown = True
        self._awake.set()
        self.thread.join(timeout)
        self.exporter.shutdown()
        atexit.unregister(self.shutdown)
        if self.dropped:
            logger.warning("%d spans were dropped and not exported", self.dropped)
        if self.failed:
            logger.warning(
                "%d spans were not exported: the collector refused them or did not"
                " answer in time (see the exporter's errors logged before)",
                self.failed,
            )

    def count_rejected(self, spans: int) -> None:
        """Count ``spans`` the collector rejected in an answer that accepted the rest
        (OTLP's ``partial_success``; see :mod:`relaykit_otlp.partial_success`): lost as
        a refused batch's are. Called on the export thread, in the batch's export."""
        self.failed += spans


def _exported(result: object) -> bool:
    """Whether an export succeeded: the SDK sender's result has ``success``, an
    exporter's ``export`` returns a ``SpanExportResult``."""
    if isinstance(result, SpanExportResult):
        return result is SpanExportResult.SUCCESS
    return getattr(result, "success", True) is not False
