"""An :class:`~relaykit.protocols.Exporter` that keeps what it is given, for tests.

It is its own plugin, so a test hands it to the client and reads what arrived::

    exporter = RecordingExporter()
    async with relaykit.Client(config, plugins=[FakePlugin(), exporter]) as client:
        await client.chat("fake/m", "hi")
    [record] = exporter.records
    assert record.ok

Subclass it to add what a test needs (a ``tracer_provider``, say, as
relaykit-otlp has).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._hookimpl import hookimpl
from ..protocols import CallRecord


class RecordingExporter:
    """Keeps every event (call records and gauge events) in :attr:`events`, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.flushes = 0
        self.closed = False

    @property
    def records(self) -> list[CallRecord]:
        """The call records among :attr:`events`."""
        return [event for event in self.events if isinstance(event, CallRecord)]

    def record(self, event: Any) -> None:
        """Keep ``event``."""
        self.events.append(event)

    async def flush(self) -> None:
        """Count the flush; there is nothing to send."""
        self.flushes += 1

    async def aclose(self) -> None:
        """Note that the client closed it."""
        self.closed = True

    @hookimpl
    def relaykit_exporters(self, config: Any) -> Sequence[Any]:
        """Contribute this exporter to the client that registered it as a plugin."""
        return [self]

    @hookimpl
    def relaykit_config_tables(self, config: Any) -> Sequence[str]:
        """None: it records whatever the configuration, so a misspelt table is still refused."""
        return ()
