"""The entry point relaykit loads: a StatsD exporter when ``[exporters.statsd]`` exists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relaykit import hookimpl

if TYPE_CHECKING:
    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.config import Config


@hookimpl
def relaykit_exporters(config: Config) -> Sequence[Any]:
    """One :class:`~relaykit_statsd.StatsdExporter` per client, when configured."""
    conf = config.exporters.get("statsd")
    if conf is None:
        return []
    # Imported only when configured: entry points load for every client, and an
    # installed-but-unused exporter should not cost its dependencies' import time.
    from .exporter import from_config

    return [from_config(conf)]


@hookimpl
def relaykit_config_tables(config: Config) -> Sequence[str]:
    """The table this plugin reads, so that the client refuses a misspelt one."""
    return ("exporters.statsd",)
