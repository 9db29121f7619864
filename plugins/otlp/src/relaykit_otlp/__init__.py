"""relaykit-otlp: traces and metrics to an OpenTelemetry collector over OTLP/HTTP (protobuf).

``[exporters.otlp] endpoint = "http://127.0.0.1:4318"`` sends spans to
``/v1/traces`` and metrics to ``/v1/metrics``. The exporter brings its own SDK
tracer and meter providers, so it neither needs nor touches the global ones.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "OtlpExporter": "exporter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


if TYPE_CHECKING:
    from .exporter import OtlpExporter as OtlpExporter
