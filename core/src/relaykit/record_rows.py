"""Call records as flat table rows, for SQL storage backends.

Every SQL backend stores a :class:`~relaykit.protocols.CallRecord` as one row
of the same columns, so they agree on what is searchable and what round-trips.
Structured fields (messages, params, tool calls, route) travel as JSON text;
the cost as a decimal string, so no backend rounds money through a float.
Two derived columns serve queries: ``ok`` (the status filter) and ``prompt``
(the messages' text, for full-text search next to ``response``). Columns are
only ever appended (``reasoning`` came with the backends' migration 4,
``reasoning_parts`` with migration 5, ``cache_write_input_tokens`` with
migration 6, ``cache_write_1h_input_tokens`` with migration 7).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from .messages import Message, ReasoningPart, TextPart, ToolCall
from .protocols import CallRecord
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
    "reasoning",
    "reasoning_parts",
    "cache_write_input_tokens",
    "cache_write_1h_input_tokens",
)

#: columns holding JSON text
JSON_COLUMNS = frozenset({"route", "messages", "params", "tool_calls", "reasoning_parts"})


# One encoder for every call: json.dumps with options builds a new one each time.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _message_json(message: Message, dumps: Callable[[Any], str]) -> str:
    # Plain text turns are by far the most common; skip cattrs for them.
    content = message.content
    if len(content) == 1 and type(content[0]) is TextPart:
        part = {"text": content[0].text, "type": "text"}
        return dumps({"role": message.role, "content": [part]})
    return dumps(converter.unstructure(message))


class RowEncoder:
    """Turns call records into rows of :data:`COLUMNS`; a callable.

    :param dumps: encodes plain values (dicts, lists, str, numbers, bool,
        None) as compact JSON text. The default is the standard library's;
        a backend may pass a faster one (the SQLite plugin passes orjson) as
        long as it encodes the same values.
    :param cache_size: messages whose JSON and text are kept: the same system
        prompt starts most calls, so it is encoded once.

    Safe to share between threads (``functools.lru_cache`` is).
    """

    def __init__(self, dumps: Callable[[Any], str] = _dumps, *, cache_size: int = 256) -> None:
        self._dumps = dumps
        self._message_cached = functools.lru_cache(maxsize=cache_size)(self._message)
        self._route = functools.lru_cache(maxsize=cache_size)(self._route_json)

    def _message(self, message: Message) -> tuple[str, str]:
        return message.text, _message_json(message, self._dumps)

    def _route_json(self, route: tuple[str, ...]) -> str:
        return self._dumps(list(route))

    def _prompt_and_messages(self, messages: Sequence[Message]) -> tuple[str, str]:
        texts, parts = [], []
        for m in messages:
            # Messages holding tool-call arguments (dicts) are unhashable: no cache.
            try:
                text, encoded = self._message_cached(m)
            except TypeError:
                text, encoded = self._message(m)
            if text:
                texts.append(text)
            parts.append(encoded)
        return "\n".join(texts), "[" + ",".join(parts) + "]"

    def __call__(self, record: CallRecord) -> tuple[Any, ...]:
        """``record`` as plain values (str, int, float, bool, None) in :data:`COLUMNS` order."""
        usage = record.usage
        dumps = self._dumps
        prompt, messages = self._prompt_and_messages(record.messages)
        return (
            record.id,
            record.started_at,
            record.finished_at,
            record.operation,
            record.provider,
            record.model_requested,
            record.model,
            record.model_served,
            self._route(record.route),
            record.streamed,
            record.error_type is None,  # ok
            prompt,
            messages,
            dumps(record.params),
            record.text,
            dumps(converter.unstructure(record.tool_calls)) if record.tool_calls else "[]",
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
            record.reasoning,
            dumps(converter.unstructure(record.reasoning_parts))
            if record.reasoning_parts
            else "[]",
            usage.cache_write_input_tokens,
            usage.cache_write_1h_input_tokens,
        )


#: ``record`` as plain values in :data:`COLUMNS` order, JSON by the standard library
record_to_row = RowEncoder()


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
            r["input_tokens"],
            r["output_tokens"],
            r["cached_input_tokens"],
            r["reasoning_tokens"],
            r["cache_write_input_tokens"],
            r["cache_write_1h_input_tokens"],
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
        reasoning=r["reasoning"] or "",
        reasoning_parts=converter.structure(
            _json(r["reasoning_parts"] or "[]"), tuple[ReasoningPart, ...]
        ),
    )


__all__ = ["COLUMNS", "JSON_COLUMNS", "RowEncoder", "record_to_row", "row_to_record"]
