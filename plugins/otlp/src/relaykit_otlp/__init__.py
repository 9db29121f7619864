"""relaykit-otlp: traces and metrics to an OpenTelemetry collector over OTLP/HTTP (protobuf).

``[exporters.otlp] endpoint = "http://127.0.0.1:4318"`` sends spans to
``/v1/traces`` and metrics to ``/v1/metrics``. The exporter brings its own SDK
tracer and meter providers, so it neither needs nor touches the global ones.
"""

from .exporter import OtlpExporter

__all__ = ["OtlpExporter"]
