"""Events exporters receive besides call records: a gauge's new value, or one failure to count.

:meth:`relaykit.protocols.Exporter.record` receives a
:class:`~relaykit.protocols.CallRecord` after every call, and these whenever
the client knows a new value (or something failed outside a call). Exporters
should ignore event types they do not know, so new ones can be added without
breaking them.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = [
    "BreakerState",
    "CacheStoreError",
    "GaugeEvent",
    "QueueDepth",
    "RecordsLost",
    "RecordsReplayed",
    "RecordsSpilled",
    "StorageEvent",
    "StorageFailing",
    "StorageWriteFailed",
]


@attrs.frozen
class QueueDepth:
    """Call records waiting for storage, sent after each record is queued."""

    depth: int


@attrs.frozen
class BreakerState:
    """A deployment's circuit breaker changed state.

    Sent when a deployment's breaker is first used and each time its state
    changes: ``state`` is ``"closed"``, ``"half_open"`` or ``"open"``; metrics
    report it as 0, 1, 2.
    """

    provider: str
    model: str
    state: Literal["closed", "half_open", "open"]


@attrs.frozen
class CacheStoreError:
    """A lookup (``"get"``) or write (``"put"``) of the response cache's store failed,
    or was skipped while the store rests after a failure.

    Sent once per such lookup or write (the embeddings cache's too), which was
    a miss or an unsaved answer, never a failed call: the events add up to
    ``Client.cache_errors`` (see :mod:`relaykit.cache_store`).
    """

    operation: Literal["get", "put"]


@attrs.frozen
class StorageWriteFailed:
    """A ``write_batch`` of call records failed; ``error_type`` is the exception's class name.

    Sent once per failed attempt (each is retried, taken apart or spilled, see
    :mod:`relaykit.storage_outage`): the events add up to ``CallLog.failed_writes``.
    """

    error_type: str


@attrs.frozen
class StorageFailing:
    """Storage began failing (``True``: a write failed) or works again (``False``: one succeeded).

    Sent once when the call log starts (its state then, ``False`` unless a
    write before it already failed), then on each change only; metrics report
    it as 1 or 0.
    """

    failing: bool


@attrs.frozen
class RecordsSpilled:
    """``count`` call records went to the spill file instead of storage.

    ``reason`` is ``"unavailable"`` (storage failed for ``retry_for``,
    ``close_timeout`` ran out, or the record came after the call log closed)
    or ``"refused"`` (storage refused that record alone). The events add up to
    ``CallLog.spilled``.
    """

    count: int
    reason: Literal["unavailable", "refused"]


@attrs.frozen
class RecordsLost:
    """``count`` call records were neither stored nor spilled.

    The spill file could not be written, or a record could not be written as
    JSON. The events add up to ``CallLog.lost``.
    """

    count: int


@attrs.frozen
class RecordsReplayed:
    """``count`` spilled call records were read back from the spill file and stored.

    Sent after each step of a replay (see :mod:`relaykit.spill_replay`): the events
    add up to ``CallLog.replayed``.
    """

    count: int


#: the events the call log sends when storage fails (see :mod:`relaykit.call_log`)
StorageEvent: TypeAlias = (
    StorageWriteFailed | StorageFailing | RecordsSpilled | RecordsLost | RecordsReplayed
)

GaugeEvent: TypeAlias = QueueDepth | BreakerState | CacheStoreError | StorageEvent
