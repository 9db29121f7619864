"""Call records as flat table rows, for SQL storage backends.

Every SQL backend stores a :class:`~relaykit.protocols.CallRecord` as one row
of the same columns, so they agree on what is searchable and what round-trips.
Structured fields (messages, params, tool calls, route) travel as JSON text;
the cost as a decimal string, so no backend rounds money through a float.
Two derived columns serve queries: ``ok`` (the status filter) and ``prompt``
(the messages' text, for full-text search next to ``response``).
"""

from __future__ import annotations

import functools
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


# One encoder for every call: json.dumps with options builds a new one each time.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@functools.lru_cache(maxsize=256)
def _cached_message_json(message: Message) -> str:
    return _message_json(message)


def _message_json(message: Message) -> str:
    # Plain text turns are by far the most common; skip cattrs for them.
    content = message.content
    if len(content) == 1 and type(content[0]) is TextPart:
        part = {"text": content[0].text, "type": "text"}
        return _dumps({"role": message.role, "content": [part]})
    return _dumps(converter.unstructure(message))


def _messages_json(messages: Sequence[Message]) -> str:
    parts = []
    for m in messages:
        # The same system prompt starts most calls: encode it once. Messages
        # holding tool-call arguments (dicts) are unhashable and skip the cache.
        try:
            parts.append(_cached_message_json(m))
        except TypeError:
            parts.append(_message_json(m))
    return "[" + ",".join(parts) + "]"


@functools.lru_cache(maxsize=256)
def _route_json(route: tuple[str, ...]) -> str:
    return _dumps(list(route))


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
        _route_json(record.route),
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
