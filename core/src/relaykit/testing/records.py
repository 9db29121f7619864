"""Call records for tests: the least there is (:func:`bare_record`, for exporter
tests that feed records in by hand) and a full, plausible one (:func:`make_record`,
what the storage contract writes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..messages import Message
from ..protocols import CallRecord
from ..response import Usage

#: 2025-03-14 12:00 UTC: records start here, one second apart
T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def make_record(n: int = 0, **fields: Any) -> CallRecord:
    """A plausible successful record, ``n`` seconds after :data:`T0`; ``fields`` override."""
    started = T0.timestamp() + n
    values: dict[str, Any] = {
        "id": f"{n:06d}-{uuid.uuid4().hex[:12]}",
        "started_at": started,
        "finished_at": started + 0.25,
        "operation": "chat",
        "provider": "openai",
        "model_requested": "openai/gpt-4o-mini",
        "model": "gpt-4o-mini",
        "model_served": "gpt-4o-mini-2024-07-18",
        "route": ("openai/gpt-4o-mini",),
        "streamed": False,
        "messages": (Message.system("Be brief."), Message.user(f"question number {n}")),
        "params": {"max_tokens": 100, "temperature": 0.5},
        "text": f"answer number {n}",
        "usage": Usage(10, 5),
        "cost": Decimal("0.0000045"),
        "latency": 0.25,
        "time_to_first_token": 0.125,
        "finish_reason": "stop",
        "response_id": f"chatcmpl-{n}",
    }
    values.update(fields)
    return CallRecord(**values)


#: ids of records started at once, which sort differently by code point (as
#: SQLite does) and by a language's collation (PostgreSQL's default in most databases)
SAME_INSTANT_IDS = (
    *("call-B", "call-a", "call-b", "call-A", "call1", "call-1", "call_1", "call 1"),
    *("call-hedge-openai/gpt", "callx", "call-attempt-2", "call", "Call", "cäll", "calm"),
    *("CALL-2", "call-10", "call-9", "call.1", "zz", "Zz", "éa", "e-b"),
)


def bare_record(**fields: Any) -> CallRecord:
    """A chat call to ``p/m`` started at 0 that says nothing more; ``fields`` add to it.

    For a full, plausible record (messages, usage, cost) use
    :func:`make_record`.
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
