"""What a collector accepted only in part: OTLP's ``partial_success``.

A collector that takes an export but rejects some of its items answers 2xx
with an ``ExportTraceServiceResponse`` (or ``ExportMetricsServiceResponse``)
whose ``partial_success`` holds ``rejected_spans`` (``rejected_data_points``)
and an ``error_message``. The OTLP specification has the client not retry such
a request, but say it: the SDK's OTLP/HTTP exporter (1.45) reads only the
status code and drops the body, so rejected spans passed for exported.

Reading it takes no exporter of our own: :func:`watch` wraps the ``request``
of the SDK exporter's HTTP transport (its protected ``_client._transport``, as
:func:`relaykit_otlp.exporter._drop_pooled_connections` uses) to read each 2xx
answer's body; the SDK's retries, TLS and headers stay as they are. An SDK
keeping its transport elsewhere is left alone (partial successes then go
uncounted, as before).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

logger = logging.getLogger(__name__)

#: the longest receiver message logged: it is the receiver's text, of any size
_MAX_MESSAGE = 500


class PartialSuccess:
    """Counts the items a collector rejected in its 2xx answers, and logs its message once.

    ``kind`` is ``"spans"`` or ``"data points"``; ``mask`` hides the exporter's
    credentials (a receiver may quote the request back); ``count`` is also told
    each rejected number (the span queue's failed count).
    """

    def __init__(
        self,
        kind: str,
        mask: Callable[[str], str],
        count: Callable[[int], None] | None = None,
    ) -> None:
        self.kind = kind
        self._mask = mask
        self._count = count
        self._response: Any = (
            ExportTraceServiceResponse if kind == "spans" else ExportMetricsServiceResponse
        )
        self._field = "rejected_spans" if kind == "spans" else "rejected_data_points"
        #: items the collector accepted the request of but rejected
        self.rejected = 0
        self._logged = False
        self._lock = threading.Lock()  # the span queue's thread and the metric reader's

    def read(self, body: bytes, content_type: str) -> None:
        """Note what ``body``, a 2xx answer, says was rejected (nothing when it is empty)."""
        if not body:
            return
        try:
            rejected, message = self._parse(body, content_type)
        except Exception:  # protobuf's DecodeError, JSON's, a field of the wrong type
            # Not an OTLP answer (a proxy's page): it said 2xx, nothing to count.
            logger.debug("an OTLP %s export's 2xx answer could not be decoded", self.kind)
            return
        if not rejected and not message:
            return
        with self._lock:
            self.rejected += rejected
            first = not self._logged
            self._logged = True
        if rejected and self._count is not None:
            self._count(rejected)
        if first:
            # Once: a collector that rejects some items rejects them in every export.
            text = self._mask(message[:_MAX_MESSAGE] + ("…" if len(message) > _MAX_MESSAGE else ""))
            logger.warning(
                "the OTLP collector rejected %d %s of an export (not retried, as the"
                " OTLP specification has it; later rejections are counted, not logged): %s",
                rejected,
                self.kind,
                text or "(no message)",
            )

    def _parse(self, body: bytes, content_type: str) -> tuple[int, str]:
        if "json" in content_type.lower():
            found = json.loads(body).get("partialSuccess") or {}
            key = "rejectedSpans" if self.kind == "spans" else "rejectedDataPoints"
            return int(found.get(key) or 0), str(found.get("errorMessage") or "")
        answer = self._response.FromString(body)
        if not answer.HasField("partial_success"):
            return 0, ""
        partial = answer.partial_success
        return int(getattr(partial, self._field)), str(partial.error_message)

    def told(self) -> None:
        """Log the total at shutdown, when there was one."""
        if self.rejected:
            logger.warning(
                "%d %s were rejected by the OTLP collector (partial success)",
                self.rejected,
                self.kind,
            )


def watch(sender: Any, partial: PartialSuccess) -> bool:
    """Make ``sender`` (an SDK OTLP/HTTP exporter) hand its 2xx answers' bodies to
    ``partial``; False when this SDK keeps no transport where 1.45 does."""
    transport: Any = getattr(getattr(sender, "_client", None), "_transport", None)
    request = getattr(transport, "request", None)
    if not callable(request):
        return False

    def read_answer(*args: Any, **kwargs: Any) -> Any:
        result = request(*args, **kwargs)
        status = getattr(result, "status_code", None)
        if status is not None and 200 <= status < 300:
            try:
                body = result.content()
                content_type = str(result.headers().get("content-type", ""))
            except Exception:  # the answer is the SDK's business: never fail its export
                logger.debug("an OTLP export's answer could not be read", exc_info=True)
            else:
                partial.read(body, content_type)
        return result

    transport.request = read_answer
    return True
