"""relaykit-prometheus: relaykit's metrics in the Prometheus exposition format.

``[exporters.prometheus] port = 9464`` serves ``/metrics`` on that port (``host``
defaults to 127.0.0.1); without a port, mount :func:`make_asgi_app` in your app.
"""

from .exporter import PrometheusExporter, make_asgi_app, prometheus_name

__all__ = ["PrometheusExporter", "make_asgi_app", "prometheus_name"]
