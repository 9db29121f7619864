"""Call records as flat table rows, for SQL storage backends.

Every SQL backend stores a :class:`~relaykit.protocols.CallRecord` as one row
of the same columns, so they agree on what is searchable and what round-trips.
Structured fields (messages, params, tool calls, route) travel as JSON text;
the cost as a decimal string, so no backend rounds money through a float.
The ``route`` column holds ``route_errors`` too, with no column of its own: each
deployment's name, or ``[name, error]`` for an attempt that failed (a row from
before them holds names alone, and reads back with no errors).
Two derived columns serve queries: ``ok`` (the status filter) and ``prompt``
(the text of the messages the call added to its conversation, see
:func:`~relaykit.protocols.new_messages`, for full-text search next to
``response``).

A chat resends its whole history every call, so a backend that stores each
record's messages whole stores a chat of *n* turns ~n²/2 times. Backends that
can keep a second table use :meth:`RowEncoder.shared`: each long message that
calls repeat (history, system prompts) is stored once, under a key derived
from its JSON, and the row's ``messages`` array holds that key (a JSON string)
in its place; :func:`row_to_record` takes those messages back by key. Columns are
only ever appended (``reasoning`` came with the backends' migration 4,
``reasoning_parts`` with migration 5, ``cache_write_input_tokens`` with
migration 6, ``cache_write_1h_input_tokens`` with migration 7, ``web_searches``
and ``citations`` with migration 10, ``search_queries`` with migration 11,
``fallbacks`` with migration 12, ``usage_estimated`` with migration 13,
``stop_sequence`` with migration 14). The
``prompt`` column holds the model's web search queries and the titles and URLs
of the answer's citations too (:func:`~relaykit.protocols.citations_text`), so
the full-text search finds a call by what it searched for or a source it cited.

Every text in a row is storable by any backend (:mod:`relaykit.storable_text`):
a lone surrogate, NUL or U+FFFF in any field is escaped by the encoder, in
text columns and inside the strings of JSON ones, and :func:`row_to_record`
turns the escapes back. A backend's filters on those columns compare with
:func:`~relaykit.storable_text.encode_text` of the value looked for.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from .errors import RelayError
from .messages import Message, ReasoningPart, TextPart, ToolCall
from .protocols import CallRecord, citations_text, new_messages
from .response import Usage
from .serialization import converter
from .storable_text import (
    ESCAPE,
    decode_json,
    decode_text,
    decode_value,
    encode_json,
    encode_text,
)
from .storable_text import needs_encoding as _needs_encoding
from .web_search import Citation

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
    "web_searches",
    "citations",
    "search_queries",
    "fallbacks",
    "usage_estimated",
    "stop_sequence",
)

#: columns holding JSON text
JSON_COLUMNS = frozenset(
    {"route", "messages", "params", "tool_calls", "reasoning_parts", "citations", "search_queries"}
)


# One encoder for every call: json.dumps with options builds a new one each time.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _message_json(message: Message, dumps: Callable[[Any], str]) -> str:
    # Plain text turns are by far the most common; skip cattrs for them.
    content = message.content
    if len(content) == 1 and type(content[0]) is TextPart and message.name is None:
        part = {"text": content[0].text, "type": "text"}
        return dumps({"role": message.role, "content": [part]})
    return dumps(converter.unstructure(message))


#: Repeated messages whose JSON is at least this many characters are stored
#: once per database by :meth:`RowEncoder.shared`. Shorter ones stay in their
#: row: a key (34 characters in the row, plus the shared message's own row
#: and reference count to keep) saves little on them.
SHARED_MESSAGE_CHARS = 256


def message_key(body: str) -> str:
    """The key a message is stored under by :meth:`RowEncoder.shared`: a digest of its JSON.

    BLAKE2b, 128 bits as 32 hex digits: no two different messages of one
    database will share a key, and it is cheap (~1 µs a KB). A key names the
    redacted message, so it reveals nothing the stored message does not.
    """
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


class _Encoded:
    """One message as a row holds it: its text and JSON, and the key it is shared under."""

    __slots__ = ("_key", "json", "text")

    def __init__(self, text: str, body: str) -> None:
        self.text = text
        self.json = body
        self._key: str | None = None

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = message_key(self.json)
        return self._key


class _Encodings:
    """Messages' encodings, the newest kept up to ``chars`` characters of JSON.

    Bounded by size, not count: a server's chats take turns, and each resends
    its history, so what must stay is every message of every live chat (ten
    chats of 60 turns are ~1,200 messages), while one pasted document can be
    as long as a thousand questions. The oldest go first, used or not: a hit
    is one dict look-up, with no lock and no reordering (the encoder runs once
    per record and message, on every stored call), and what goes while still
    in use is encoded again once.
    """

    def __init__(self, encode: Callable[[Message], _Encoded], chars: int) -> None:
        self._encode = encode
        self._room = chars
        self._entries: dict[Message, _Encoded] = {}
        # The writer of one backend may encode in several threads at once.
        self._lock = threading.Lock()

    def get(self, message: Message) -> _Encoded:
        # TypeError: unhashable (tool-call arguments); the caller encodes those itself
        found = self._entries.get(message)
        if found is not None:
            return found
        encoded = self._encode(message)
        size = len(encoded.json)
        with self._lock:
            # setdefault: another thread may have kept this message meanwhile
            if size <= self._room and self._entries.setdefault(message, encoded) is encoded:
                self._room -= size
            while self._room < 0:
                oldest = next(iter(self._entries))
                self._room += len(self._entries.pop(oldest).json)
        return encoded


class RowEncoder:
    """Turns call records into rows of :data:`COLUMNS`; a callable.

    :param dumps: encodes plain values (dicts, lists, str, numbers, bool,
        None) as compact JSON text. The default is the standard library's;
        a backend may pass a faster one (the SQLite plugin passes orjson) as
        long as it encodes the same values.
    :param cache_chars: characters of messages' JSON kept encoded: the same
        system prompt starts most calls, and a chat resends its history, so
        each message is encoded once while it keeps coming back. The default,
        4 MiB, holds ~20 chats of 60 turns of 1-2 KB messages.

    Safe to share between threads.
    """

    def __init__(
        self, dumps: Callable[[Any], str] = _dumps, *, cache_chars: int = 4 * 2**20
    ) -> None:
        self._dumps = dumps
        self._encodings = _Encodings(self._message, cache_chars)
        self._route = functools.lru_cache(maxsize=256)(self._route_json)

    def _message(self, message: Message) -> _Encoded:
        # Its JSON as stored (and keyed): storable (relaykit.storable_text) already.
        return _Encoded(message.text, encode_json(_message_json(message, self._dumps)))

    def _route_json(self, route: tuple[str, ...], errors: tuple[str, ...] = ()) -> str:
        # Each deployment's name, or [name, error] for an attempt that failed (see
        # _route_of): rows from before route_errors hold names alone, read the same.
        if not errors:
            return self._dumps(list(route))
        pairs = zip(route, errors, strict=False)
        return self._dumps([[name, e] if e else name for name, e in pairs])

    def _prompt_and_messages(
        self, messages: Sequence[Message], shared: dict[str, str] | None
    ) -> tuple[str, str]:
        first_new = len(messages) - len(new_messages(messages))
        texts, parts = [], []
        for i, m in enumerate(messages):
            # Messages holding tool-call arguments (dicts) are unhashable: no cache.
            try:
                encoded = self._encodings.get(m)
            except TypeError:
                encoded = self._message(m)
            if i >= first_new and encoded.text:
                texts.append(encoded.text)
            if (
                shared is not None
                and len(encoded.json) >= SHARED_MESSAGE_CHARS
                and (i < first_new or m.role == "system")
            ):
                shared[encoded.key] = encoded.json
                parts.append(f'"{encoded.key}"')
            else:
                parts.append(encoded.json)
        return "\n".join(texts), "[" + ",".join(parts) + "]"

    def shared(self, record: CallRecord) -> tuple[tuple[Any, ...], dict[str, str]]:
        """``record`` as a row whose long repeated messages are keys, and their JSON by key.

        Shared are the messages :data:`SHARED_MESSAGE_CHARS` long or longer that
        calls repeat: the history a chat resends (everything before
        :func:`~relaykit.protocols.new_messages`) and system prompts. The
        call's new messages stay in its row: most are never sent again, and
        the next turn of a chat shares them once they come back as history.
        The backend stores each shared message once under its key (a second
        table; a message already there is the same message) and the row as
        it is. Pass the stored messages to :func:`row_to_record` to read the
        row back.
        """
        shared: dict[str, str] = {}
        return self._row(record, *self._prompt_and_messages(record.messages, shared)), shared

    def __call__(self, record: CallRecord) -> tuple[Any, ...]:
        """``record`` as plain values (str, int, float, bool, None) in :data:`COLUMNS` order."""
        return self._row(record, *self._prompt_and_messages(record.messages, None))

    def _row(self, record: CallRecord, prompt: str, messages: str) -> tuple[Any, ...]:
        row = self._plain_row(record, prompt, messages)
        # One scan of the row's texts: nearly every row is storable as it is.
        if _needs_encoding("".join([v for v in row if type(v) is str])):
            return _storable(row)
        return row

    def _plain_row(self, record: CallRecord, prompt: str, messages: str) -> tuple[Any, ...]:
        usage = record.usage
        dumps = self._dumps
        citations, queries = record.citations, record.search_queries
        if queries or citations:
            # Searched as the prompt is: the words and the sources of a web search.
            searched = [prompt] if prompt else []
            searched += queries
            if citations:
                searched.append(citations_text(citations))
            prompt = "\n".join(searched)
        return (
            record.id,
            record.started_at,
            record.finished_at,
            record.operation,
            record.provider,
            record.model_requested,
            record.model,
            record.model_served,
            self._route(record.route, record.route_errors),
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
            usage.web_searches,
            dumps([c.to_dict() for c in citations]) if citations else "[]",
            dumps(list(queries)) if queries else "[]",
            record.fallbacks,
            record.usage_estimated,
            record.stop_sequence,
        )


#: where ``messages`` is in a row of :data:`COLUMNS`
MESSAGES = COLUMNS.index("messages")
_JSON_INDEXES = frozenset(i for i, name in enumerate(COLUMNS) if name in JSON_COLUMNS)


def _storable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with every text storable (:mod:`relaykit.storable_text`); its
    messages are already (each message's JSON is encoded once, when cached)."""
    return tuple(
        v
        if type(v) is not str or i == MESSAGES
        else encode_json(v)
        if i in _JSON_INDEXES
        else encode_text(v)
        for i, v in enumerate(row)
    )


#: ``record`` as plain values in :data:`COLUMNS` order, JSON by the standard library
record_to_row = RowEncoder()


def _route_of(stored: Sequence[str | Sequence[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A stored ``route`` column (a JSON array: each deployment's name, or ``[name,
    error]`` for an attempt that failed) as a record's ``route`` and
    ``route_errors``."""
    names = [entry if isinstance(entry, str) else entry[0] for entry in stored]
    errors = [("" if isinstance(entry, str) else entry[1]) for entry in stored]
    return tuple(names), tuple(errors) if any(errors) else ()


def _json(value: Any) -> Any:
    # Stored JSON text (SQLite's; PostgreSQL's selected as text), or values a
    # driver has parsed already: every string in those is decoded.
    if isinstance(value, bytes):
        value = value.decode()
    return decode_json(value) if isinstance(value, str) else decode_value(value)


_NOTHING_SHARED: Mapping[str, str] = MappingProxyType({})


def message_keys(messages: Any) -> list[str]:
    """The keys of the shared messages a row's ``messages`` value refers to (JSON text or list)."""
    return [m for m in _json(messages) if isinstance(m, str)]


def _messages(value: Any, shared: Mapping[str, str]) -> tuple[Message, ...]:
    items = _json(value)
    for i, item in enumerate(items):
        if isinstance(item, str):
            body = shared.get(item)
            if body is None:
                raise RelayError(
                    f"stored message {item} is missing: a record refers to it",
                    hint="the database was changed outside relaykit; restore it from a backup",
                )
            items[i] = decode_json(body)
    return converter.structure(items, tuple[Message, ...])


def row_to_record(row: Sequence[Any], shared: Mapping[str, str] = _NOTHING_SHARED) -> CallRecord:
    """The inverse of :func:`record_to_row` and :meth:`RowEncoder.shared`.

    ``row`` is selected as ``SELECT <COLUMNS>``; ``shared`` maps the keys its
    messages refer to (:func:`message_keys`) to their stored JSON.
    """
    r = dict(zip(COLUMNS, row, strict=True))
    if ESCAPE in "".join([v for v in row if type(v) is str]):  # nearly never: one scan
        r = {
            k: decode_text(v) if type(v) is str and k not in JSON_COLUMNS else v
            for k, v in r.items()
        }
    cost = r["cost"]
    route, route_errors = _route_of(_json(r["route"]))
    return CallRecord(
        id=r["id"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        operation=r["operation"],
        provider=r["provider"],
        model_requested=r["model_requested"],
        model=r["model"],
        model_served=r["model_served"],
        route=route,
        route_errors=route_errors,
        streamed=bool(r["streamed"]),
        messages=_messages(r["messages"], shared),
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
            r["web_searches"] or 0,
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
        citations=tuple([Citation.from_dict(c) for c in _json(r["citations"] or "[]")]),
        search_queries=tuple(_json(r["search_queries"] or "[]")),
        fallbacks=r["fallbacks"] or 0,
        usage_estimated=bool(r["usage_estimated"]),
        stop_sequence=r["stop_sequence"],
    )


__all__ = [
    "COLUMNS",
    "JSON_COLUMNS",
    "MESSAGES",
    "SHARED_MESSAGE_CHARS",
    "RowEncoder",
    "message_key",
    "message_keys",
    "record_to_row",
    "row_to_record",
]
