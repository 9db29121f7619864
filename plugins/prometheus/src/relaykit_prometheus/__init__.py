"""relaykit-prometheus: relaykit's metrics in the Prometheus exposition format.

``[exporters.prometheus] port = 9464`` serves ``/metrics`` on that port (``host``
defaults to 127.0.0.1); without a port, mount :func:`make_asgi_app` in your app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "PrometheusExporter": "exporter",
    "make_asgi_app": "exporter",
    "prometheus_name": "exporter",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .exporter import PrometheusExporter as PrometheusExporter
    from .exporter import make_asgi_app as make_asgi_app
    from .exporter import prometheus_name as prometheus_name
