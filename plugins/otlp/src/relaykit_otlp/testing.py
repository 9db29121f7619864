"""An in-process OTLP/HTTP collector for tests: it decodes and keeps what exporters send.

    with Collector() as collector:
        exporter = OtlpExporter(endpoint=collector.url)
        ...
        collector.spans()

Payloads are decoded with OpenTelemetry's own protobuf classes, as a
collector does. ``reject()`` makes it answer with a ``partial_success``.
``hold()`` makes trace exports wait until ``release()``, to test what an
exporter does while the collector is slow.
"""

from __future__ import annotations

import gzip
import threading
from typing import Any

import anyio.to_thread
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from relaykit.testing import LoopbackServer
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

__all__ = ["Collector", "attrs_of"]


class Collector:
    """Receives OTLP/HTTP exports the way a collector does, and keeps the decoded requests."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        #: each export's query string, parsed (an endpoint may carry one)
        self.queries: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        #: set when a trace export has arrived and waits for ``release()``
        self.holding = threading.Event()
        #: each path's 2xx answer body (see :meth:`reject`); empty by default
        self._answers: dict[str, bytes] = {}
        self.server = LoopbackServer(self.handle)

    @property
    def url(self) -> str:
        """The endpoint to give an exporter (``http://127.0.0.1:PORT``)."""
        return self.server.url

    def __enter__(self) -> Collector:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.stop()

    def reject(self, *, spans: int = 0, data_points: int = 0, message: str = "") -> None:
        """Answer every later export with a ``partial_success``: ``spans`` of each trace
        export and ``data_points`` of each metric export rejected, with ``message``
        (the rest kept, as a collector does)."""
        self._answers["/v1/traces"] = ExportTraceServiceResponse(
            partial_success=ExportTracePartialSuccess(rejected_spans=spans, error_message=message)
        ).SerializeToString()
        self._answers["/v1/metrics"] = ExportMetricsServiceResponse(
            partial_success=ExportMetricsPartialSuccess(
                rejected_data_points=data_points, error_message=message
            )
        ).SerializeToString()

    def hold(self) -> None:
        """Make trace exports wait (unanswered) until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Answer held trace exports, and the ones after them at once."""
        self._open.set()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Decode one export request and keep it."""
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["content-type"] == "application/x-protobuf"
        if request.path == "/v1/traces" and not self._open.is_set():
            self.holding.set()
            await anyio.to_thread.run_sync(self._open.wait)
        with self._lock:
            self.queries.append(request.query)
            if request.path == "/v1/traces":
                self.traces.append(ExportTraceServiceRequest.FromString(body))
            elif request.path == "/v1/metrics":
                self.metrics.append(ExportMetricsServiceRequest.FromString(body))
            else:
                return HttpResponse(404)
            answer = self._answers.get(request.path, b"")
        return HttpResponse(200, {"content-type": "application/x-protobuf"}, answer)

    def spans(self) -> list[Any]:
        """Every span received so far, in the order they arrived."""
        with self._lock:
            return [
                s
                for r in self.traces
                for rs in r.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            ]

    def metric(self, name: str) -> Any:
        """The last exported metric called ``name``."""
        with self._lock:
            found = [
                m
                for r in self.metrics
                for rm in r.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == name
            ]
        assert found, f"no {name} among the exported metrics"
        return found[-1]


def attrs_of(items: Any) -> dict[str, Any]:
    """Decoded ``KeyValue`` attributes as a dict (array values as lists of their values)."""
    out = {}
    for kv in items:
        assert isinstance(kv, KeyValue)
        out[kv.key] = _value(kv.value)
    return out


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attrs_of(value.kvlist_value.values)
    return getattr(value, kind) if kind else None
