"""The entry point relaykit loads: a StatsD exporter when ``[exporters.statsd]`` exists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl
from relaykit.config import Config

from .exporter import from_config


@hookimpl
def relaykit_exporters(config: Config) -> Sequence[Any]:
    """One :class:`~relaykit_statsd.StatsdExporter` per client, when configured."""
    conf = config.exporters.get("statsd")
    return [] if conf is None else [from_config(conf)]
