"""relaykit-statsd: relaykit's metrics as StatsD (or DogStatsD, with tags) over UDP.

``[exporters.statsd] host = "127.0.0.1", port = 8125, prefix = "relaykit",
tags = true`` (DogStatsD tags; without them attributes are appended to names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "StatsdExporter": "exporter",
    "format_lines": "exporter",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .exporter import StatsdExporter as StatsdExporter
    from .exporter import format_lines as format_lines
