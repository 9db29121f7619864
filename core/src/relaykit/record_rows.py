"""Call records as flat table rows, for SQL storage backends.

Every SQL backend stores a :class:`~relaykit.protocols.CallRecord` as one row
of the same columns, so they agree on what is searchable and what round-trips.
Structured fields (messages, params, tool calls, route) travel as JSON text;
the cost as a decimal string, so no backend rounds money through a float.
Two derived columns serve queries: ``ok`` (the status filter) and ``prompt``
(the messages' text, for full-text search next to ``response``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .messages import Message, TextPart, ToolCall
from .protocols import CallRecord, prompt_text
from .response import Usage
from .serialization import converter

#: column names, in the order :func:`record_to_row` fills them
COLUMNS: tuple[str, ...] = (
    "id",
    "started_at",
    "finished_at",
    "operation",
    "provider",
    "model_requested",
    "model",
    "model_served",
    "route",
    "streamed",
    "ok",
    "prompt",
    "messages",
    "params",
    "response",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost",
    "latency",
    "time_to_first_token",
    "finish_reason",
    "attempts",
    "error_type",
    "error_message",
    "http_status",
    "cache_hit",
    "correlation_id",
    "conversation_id",
    "response_id",
)

#: columns holding JSON text
JSON_COLUMNS = frozenset({"route", "messages", "params", "tool_calls"})


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _messages_json(messages: Sequence[Message]) -> str:
    # Plain text turns are by far the most common; skip cattrs for them (it is
    # the writer thread's biggest cost per record).
    out: list[Any] = []
    for m in messages:
        if len(m.content) == 1 and type(m.content[0]) is TextPart:
            out.append({"role": m.role, "content": [{"text": m.content[0].text, "type": "text"}]})
        else:
            out.append(converter.unstructure(m))
    return _dumps(out)


def record_to_row(record: CallRecord) -> tuple[Any, ...]:
    """``record`` as plain values (str, int, float, bool, None) in :data:`COLUMNS` order."""
    usage = record.usage
    return (
        record.id,
        record.started_at,
        record.finished_at,
        record.operation,
        record.provider,
        record.model_requested,
        record.model,
        record.model_served,
        _dumps(list(record.route)),
        record.streamed,
        record.ok,
        prompt_text(record.messages),
        _messages_json(record.messages),
        _dumps(record.params),
        record.text,
        _dumps(converter.unstructure(record.tool_calls)) if record.tool_calls else "[]",
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        usage.reasoning_tokens,
        str(record.cost) if record.cost is not None else None,
        record.latency,
        record.time_to_first_token,
        record.finish_reason,
        record.attempts,
        record.error_type,
        record.error_message,
        record.status,
        record.cache_hit,
        record.correlation_id,
        record.conversation_id,
        record.response_id,
    )


def _json(value: Any) -> Any:
    # SQLite hands back the text; PostgreSQL's jsonb arrives already decoded.
    return json.loads(value) if isinstance(value, str | bytes) else value


def row_to_record(row: Sequence[Any]) -> CallRecord:
    """The inverse of :func:`record_to_row`, for a row selected as ``SELECT <COLUMNS>``."""
    r = dict(zip(COLUMNS, row, strict=True))
    cost = r["cost"]
    return CallRecord(
        id=r["id"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        operation=r["operation"],
        provider=r["provider"],
        model_requested=r["model_requested"],
        model=r["model"],
        model_served=r["model_served"],
        route=tuple(_json(r["route"])),
        streamed=bool(r["streamed"]),
        messages=converter.structure(_json(r["messages"]), tuple[Message, ...]),
        params=_json(r["params"]),
        text=r["response"],
        tool_calls=converter.structure(_json(r["tool_calls"]), tuple[ToolCall, ...]),
        usage=Usage(
            r["input_tokens"], r["output_tokens"], r["cached_input_tokens"], r["reasoning_tokens"]
        ),
        cost=Decimal(str(cost)) if cost is not None else None,
        latency=r["latency"],
        time_to_first_token=r["time_to_first_token"],
        finish_reason=r["finish_reason"],
        attempts=r["attempts"],
        error_type=r["error_type"],
        error_message=r["error_message"],
        status=r["http_status"],
        cache_hit=bool(r["cache_hit"]),
        correlation_id=r["correlation_id"],
        conversation_id=r["conversation_id"],
        response_id=r["response_id"],
    )


__all__ = ["COLUMNS", "JSON_COLUMNS", "record_to_row", "row_to_record"]
