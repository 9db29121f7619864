"""relaykit-statsd: relaykit's metrics as StatsD (or DogStatsD, with tags) over UDP.

``[exporters.statsd] host = "127.0.0.1", port = 8125, prefix = "relaykit",
tags = true`` (DogStatsD tags; without them attributes are appended to names).
"""

from .exporter import StatsdExporter, format_lines

__all__ = ["StatsdExporter", "format_lines"]
