"""relaykit-otlp: traces and metrics to an OpenTelemetry collector over OTLP/HTTP (protobuf).

``[exporters.otlp] endpoint = "http://127.0.0.1:4318"`` sends spans to
``/v1/traces`` and metrics to ``/v1/metrics``. The exporter brings its own
tracer and meter providers, so it neither needs nor touches the global ones.

Spans come from one of two tracer providers, chosen by ``tracer``:

- ``"lean"`` (the default): :class:`~relaykit_otlp.lean_spans.LeanTracerProvider`.
  Its spans implement the OpenTelemetry API and keep what is set on them in
  plain Python; ``end`` queues them. A thread of its own turns each batch into
  the SDK's spans (the SDK's attribute cleaning and limits applied there) and
  sends them with the SDK's OTLP exporter, on the SDK's batch schedule and
  ``OTEL_BSP_*`` settings. The collector receives what the SDK's provider would
  have sent for the same calls; a call's span costs about a fifth as much on
  the calling thread. A full queue drops its oldest span, as the SDK's does, and
  here every drop is counted (``tracer_provider.dropped_spans``) and logged.
  Sampling is the SDK's (``OTEL_TRACES_SAMPLER``, by default following the
  parent and sampling roots).
- ``"sdk"``: the SDK's own ``TracerProvider`` with a ``BatchSpanProcessor``, for
  what the lean provider does not do: span processors added by the
  application, the SDK's internal metrics, its tracer configurator.

``relaykit_otlp.testing.Collector`` is an in-process OTLP/HTTP collector for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "OtlpExporter": "exporter",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .exporter import OtlpExporter as OtlpExporter
