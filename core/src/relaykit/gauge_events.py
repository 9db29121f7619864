"""Events exporters receive besides call records: the current value of a gauge.

:meth:`relaykit.protocols.Exporter.record` receives a
:class:`~relaykit.protocols.CallRecord` after every call, and these whenever
the client knows a new value. Exporters should ignore event types they do not
know, so new ones can be added without breaking them.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs


@attrs.frozen
class QueueDepth:
    """Call records waiting for storage, sent after each record is queued."""

    depth: int


@attrs.frozen
class BreakerState:
    """A deployment's circuit breaker changed state.

    Reserved for the circuit breaker (not emitted yet): ``state`` is
    ``"closed"``, ``"half_open"`` or ``"open"``; metrics report it as 0, 1, 2.
    """

    provider: str
    model: str
    state: Literal["closed", "half_open", "open"]


GaugeEvent: TypeAlias = QueueDepth | BreakerState
