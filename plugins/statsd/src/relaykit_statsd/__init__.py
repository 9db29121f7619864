"""relaykit-statsd: relaykit's metrics as StatsD (or DogStatsD, with tags) over UDP.

``[exporters.statsd] host = "127.0.0.1", port = 8125, prefix = "relaykit",
tags = true`` (DogStatsD tags; without them attributes are appended to names).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "StatsdExporter": "exporter",
    "format_lines": "exporter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


if TYPE_CHECKING:
    from .exporter import StatsdExporter as StatsdExporter
    from .exporter import format_lines as format_lines
