"""The least call record there is, for exporter tests that feed records in by hand."""

from __future__ import annotations

from typing import Any

from ..protocols import CallRecord


def bare_record(**fields: Any) -> CallRecord:
    """A chat call to ``p/m`` started at 0 that says nothing more; ``fields`` add to it.

    For a full, plausible record (messages, usage, cost) use
    :func:`relaykit.testing.storage_contract.make_record`.
    """
    values: dict[str, Any] = {
        "id": "r",
        "started_at": 0,
        "operation": "chat",
        "provider": "p",
        "model_requested": "p/m",
        "model": "m",
        "streamed": False,
    }
    values.update(fields)
    return CallRecord(**values)
