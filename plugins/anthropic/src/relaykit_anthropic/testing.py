"""A loopback server speaking the Anthropic Messages API wire format, for tests and demos.

Built from Anthropic's public API reference:

- ``POST /v1/messages``: a ``message`` object, or with ``"stream": true`` SSE
  framed as ``event: NAME\\ndata: {...}\\n\\n`` in the documented order
  (``message_start``, per block ``content_block_start`` / ``_delta`` / ``_stop``,
  a ``ping`` after the first block starts, ``message_delta``, ``message_stop``),
  with ``text_delta``, ``thinking_delta``, ``signature_delta`` and
  ``input_json_delta`` deltas, ``redacted_thinking`` blocks whole in their
  ``content_block_start``, and for a scripted fault an ``error`` event (of
  ``Reply.error_code``'s type, ``overloaded_error`` by default), a reset, bytes
  that are no event, or (``"truncate"``) no ``message_stop``; ``Reply.vendor_finish``
  is the ``stop_reason`` (``"stop_sequence"`` names the first of the request's
  ``stop_sequences``), ``Reply.stop_sequence`` stops on that sequence
  (``stop_reason: "stop_sequence"``, ``stop_sequence`` in the message and in
  ``message_delta``'s ``delta``), and ``Reply.future_events`` adds an event type and a block
  with its delta of kinds to come.
  Each thinking block gets its own signature (:func:`thinking_signature`).
- ``POST /v1/messages/count_tokens`` -> ``{"input_tokens": N}``.
- The Message Batches API (``/v1/messages/batches``), as
  :mod:`relaykit_anthropic.mock_batches` describes.
- ``GET /v1/models``, paginated with ``limit`` / ``after_id`` / ``has_more`` / ``last_id``.
- Message content checked as the API checks it, in its words: no empty turn but a
  final assistant one, no empty or whitespace-only text block (in the system
  prompt either), no prefill ending in whitespace, each ``tool_use`` answered by
  a ``tool_result`` in the next turn. A prefill (a final assistant turn) sent to
  Claude 4.6 or later, Fable or Mythos is refused in the API's words
  (:func:`prefill_problem`), unless it is a paused turn sent back to continue it.
- Thinking checked as the API checks it: a ``thinking`` block sent back needs
  the signature the mock gave its text, a ``redacted_thinking`` block its
  ``data``; with ``thinking`` enabled, a final assistant turn holding
  ``tool_use`` must start with one of them.
- ``thinking`` and ``output_config.effort`` checked as
  :mod:`relaykit_anthropic.mock_thinking` describes (the budget against
  ``max_tokens``, the models that take each kind, what thinking does not go
  with), and read back by :meth:`AnthropicMock.sent_reasoning`.
- Web search (the ``web_search`` tool checked, ``Reply.web_searches`` and
  ``Reply.citations`` rendered as server blocks and cited text, streamed and
  not) as :mod:`relaykit_anthropic.mock_web_search` describes;
  :attr:`AnthropicMock.pause_turns` pauses answers (``stop_reason:
  "pause_turn"``). :meth:`AnthropicMock.sent_search_tool` reads the tool back.
- ``document`` blocks checked and counted as :mod:`relaykit_anthropic.mock_documents`
  describes (a PDF costs :data:`~relaykit_anthropic.mock_documents.PDF_PAGE_TOKENS`
  input tokens a page).
- Errors as ``{"type": "error", "error": {"type", "message"}, "request_id"}``;
  ``401 authentication_error`` without the right ``x-api-key`` (or bearer
  token), ``400`` without ``anthropic-version`` or ``max_tokens``, and
  ``400 invalid_request_error`` for a body that is not JSON, in the API's words
  (:func:`not_json_refusal`).

Usage from a :class:`~relaykit.testing.Reply` is rendered in Anthropic's own
convention: ``input_tokens`` excludes the ``cache_read_input_tokens`` and
the ``cache_creation_input_tokens`` (``Reply.cache_write_input_tokens``, split
by TTL in ``cache_creation`` as the API does: ``Reply.cache_write_1h_input_tokens``
of them to the one-hour cache, the rest to the five-minute one).
Reasoning-token counts have no field in the API and are not sent.

Prompt caching works as the API's does, unless a reply scripts cache tokens:
``cache_control`` marks (on tools, system blocks, message blocks, or top-level
for automatic caching) are checked as the API checks them (``ephemeral`` with
a ``5m`` or ``1h`` ttl, at most four, one-hour ones first, none on thinking),
and each marked prefix of at least ``min_cache_tokens`` (one per word) is
remembered: the longest one seen before, at a mark or up to 20 blocks before
one, is read back, the rest written.

    with AnthropicMock(api_key="sk-ant-test") as mock:
        mock.script.reply("Hello!")
        ...  # point [providers.anthropic] base_url at mock.base_url
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Collection, Iterator
from typing import Any

from relaykit import Reasoning
from relaykit.testing.claude_schemas import structured_problem
from relaykit.testing.loopback import Drop, Pause, Request, Reset, Response
from relaykit.testing.script import Reply, count_tokens
from relaykit.testing.vendor_mock import VendorMock, scripted_fault
from relaykit_claude_models import missing_thinking_refusal

from . import mock_batches, mock_thinking, mock_web_search
from .mock_batches import MessageBatchStore
from .mock_documents import document_problem, document_tokens, documents
from .mock_thinking import thinking_problem

MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-24T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
)

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# The server's own list; kept apart from the client's so the mock can catch client bugs.
_COUNT_TOKENS_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "output_format",
        "mcp_servers",
        "context_management",
    }
)
_ASSISTANT_BLOCKS = frozenset(
    {"tool_use", "thinking", "redacted_thinking", *mock_web_search.ASSISTANT_BLOCKS}
)
_BLOCK_TYPES = {
    "text",
    "image",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "document",
    *mock_web_search.ASSISTANT_BLOCKS,
}


class AnthropicMock(VendorMock):
    """The Anthropic API at ``base_url`` (``http://127.0.0.1:PORT``, no ``/v1``, like the SDKs)."""

    #: whether the web search tool with dynamic filtering is served (not on Vertex AI)
    dynamic_web_search = True

    def __init__(
        self,
        api_key: str | None = None,
        models: tuple[tuple[str, str, str], ...] = MODELS,
        page_size: int | None = None,
        min_cache_tokens: int = 1024,
    ) -> None:
        super().__init__(api_key)
        #: prefixes shorter than this are not cached (Anthropic's minimum for Sonnet)
        self.min_cache_tokens = min_cache_tokens
        #: the prompt prefixes cached so far, by model and content
        self.cached_prefixes: set[str] = set()
        #: (id, display_name, created_at) rows served by GET /v1/models
        self.models = models
        #: caps the ``limit`` a client asks for, to exercise pagination
        self.page_size = page_size
        self._n = 0
        #: the Message Batches API's batches (:mod:`.mock_batches`)
        self.batches = MessageBatchStore()
        #: an ``error_code`` every web search result carries instead of pages
        #: (``"too_many_requests"``, ``"unavailable"``...)
        self.search_error: str | None = None
        #: how many of the next Messages answers stop with ``pause_turn``
        self.pause_turns = 0
        #: the text of each paused answer: sent back unchanged to continue it, as the
        #: docs ask ("Handling stop reasons"), it may end in whitespace
        self._paused_texts: set[str] = set()

    async def route(self, request: Request) -> Response:
        """Authenticate, check the version header, then dispatch by path."""
        if self.api_key is not None and self.api_key not in (
            request.headers.get("x-api-key"),
            request.headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return error_response(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error_response(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        if request.method == "GET" and request.path == "/v1/models":
            return self._models(request.query)
        if request.method == "POST" and request.path == "/v1/messages":
            refused = not_json_refusal(request)
            return refused or await self._messages(request.json())
        if request.method == "POST" and request.path == "/v1/messages/count_tokens":
            return not_json_refusal(request) or self._count_tokens(request.json())
        if request.path.startswith("/v1/messages/batches"):
            return await self._batch_endpoint(request)
        return error_response(404, "not_found_error", f"Not found: {request.method} {request.path}")

    async def _batch_endpoint(self, request: Request) -> Response:
        """The Message Batches API (:mod:`.mock_batches`); ``batch_script``'s next reply
        may fail the request, delay it, or lose its answer after acting on it
        (``answer_lost``)."""
        return await self.batch_answer(lambda: self._batch_answer(request), _scripted_error)

    async def _batch_answer(self, request: Request) -> Response:
        store = self.batches
        store.hold = self.hold_batches
        method, parts = request.method, request.path.strip("/").split("/")[3:]
        if method == "POST" and not parts:
            if len(request.body) > mock_batches.MAX_BODY_BYTES:
                return error_response(
                    413, "request_too_large", "Request exceeds the maximum allowed number of bytes."
                )
            return not_json_refusal(request) or store.create(request.json(), self.base_url)
        if method == "GET" and not parts:
            return store.list(request.query, self.base_url)
        if method == "GET" and len(parts) == 1:
            return await store.get(parts[0], self.base_url, self._messages)
        if method == "POST" and len(parts) == 2 and parts[1] == "cancel":
            return store.cancel(parts[0], self.base_url)
        if method == "GET" and len(parts) == 2 and parts[1] == "results":
            return store.results(parts[0])
        return error_response(404, "not_found_error", f"Not found: {method} {request.path}")

    def sent_search_tool(self, request: Request) -> dict[str, Any] | None:
        """The web search tool a Messages request carried, as sent."""
        return mock_web_search.search_tool(request.json())

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """The thinking setting of a Messages request: ``Reasoning("none")`` with
        ``thinking`` ``disabled`` or ``between_tools``, or without it before Claude 5
        (which thinks only when asked), a budget for ``enabled``, an effort (or
        none) for ``adaptive``; ``None`` for a Claude 5 model sent nothing (it
        thinks by default)."""
        return mock_thinking.sent_reasoning(request.json())

    # -- endpoints -------------------------------------------------------------

    def _models(self, query: dict[str, str]) -> Response:
        limit = int(query.get("limit") or 20)
        if self.page_size is not None:
            limit = min(limit, self.page_size)
        ids = [m[0] for m in self.models]
        start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
        page = self.models[start : start + limit]
        return Response.json(
            {
                "data": [
                    {"type": "model", "id": mid, "display_name": name, "created_at": created}
                    for mid, name, created in page
                ],
                "has_more": start + limit < len(self.models),
                "first_id": page[0][0] if page else None,
                "last_id": page[-1][0] if page else None,
            }
        )

    def _count_tokens(self, body: Any) -> Response:
        # A body that is no object is refused below, in the schema's words.
        extra = sorted(set(body) - _COUNT_TOKENS_FIELDS) if isinstance(body, dict) else []
        if extra:
            return error_response(
                400, "invalid_request_error", f"{extra[0]}: Extra inputs are not permitted"
            )
        problem = request_shape_problem(body) or validate_messages(body)
        if problem:
            return error_response(400, "invalid_request_error", problem)
        tokens = self.usage_of(Reply(), prompt_text(body))[0] + _document_tokens(body)
        return Response.json({"input_tokens": tokens})

    async def _messages(self, body: dict[str, Any]) -> Response:
        problem = (
            request_shape_problem(body)
            or validate_messages(body, self._paused_texts)
            or prefill_problem(body, self._paused_texts)
            or validate_cache_control(body)
            or (None if isinstance(body.get("max_tokens"), int) else "max_tokens: Field required")
            or thinking_problem(body)
            or mock_web_search.tool_problem(body, dynamic=self.dynamic_web_search)
            or _schema_problem(body)
        )
        if problem:
            return error_response(400, "invalid_request_error", problem)
        reply = self.script.next(self.default_reply(last_user_text(body)))
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        message_id = f"msg_mock{self._n:06d}"
        model = str(body.get("model") or "claude-haiku-4-5")
        inp, out = self.usage_of(reply, prompt_text(body))
        if reply.input_tokens is None:  # a scripted count is the whole prompt's
            inp += _document_tokens(body)
        read, written = reply.cached_input_tokens, reply.cache_write_input_tokens
        one_hour = reply.cache_write_1h_input_tokens
        if not (read or written):  # unscripted: what the marks in the request cache
            prompt, read, written, one_hour = self._prompt_cache(body)
            inp = max(inp, prompt)
        usage: dict[str, Any] = {
            # Anthropic counts cache reads and writes apart from input_tokens.
            "input_tokens": max(0, inp - read - written),
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "output_tokens": out,
        }
        if written:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": written - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            }
        if reply.web_searches or mock_web_search.search_tool(body) is not None:
            run = mock_web_search.searches_run(reply, body)
            usage["server_tool_use"] = {"web_search_requests": run, "web_fetch_requests": 0}
        searches = mock_web_search.search_blocks(reply, body, self._n, self.search_error)
        stop = reply.finish_word(STOP_REASONS)
        if reply.stop_sequence is not None and reply.vendor_finish is None:
            stop = "stop_sequence"
        if self.pause_turns:
            self.pause_turns -= 1
            stop = "pause_turn"
            self._paused_texts.add(reply.text)
        # The API names the stop sequence it met; the mock meets the one scripted,
        # else the first one sent.
        sequences = [reply.stop_sequence] if reply.stop_sequence is not None else None
        sequences = sequences or body.get("stop_sequences") or [None]
        matched = sequences[0] if stop == "stop_sequence" else None
        if body.get("stream"):
            return Response(
                200,
                {
                    "content-type": "text/event-stream; charset=utf-8",
                    "cache-control": "no-cache",
                    "request-id": f"req_mock{self._n:06d}",
                    **reply.headers,
                },
                render_stream(
                    reply,
                    message_id=message_id,
                    model=model,
                    usage=usage,
                    serial=self._n,
                    searches=searches,
                    stop_reason=stop,
                    stop_sequence=matched,
                ),
            )
        return Response.json(
            render_message(
                reply,
                message_id=message_id,
                model=model,
                usage=usage,
                serial=self._n,
                searches=searches,
                stop_reason=stop,
                stop_sequence=matched,
            ),
            headers={"request-id": f"req_mock{self._n:06d}", **reply.headers},
        )

    def _prompt_cache(self, body: dict[str, Any]) -> tuple[int, int, int, int]:
        """Prompt tokens, then the tokens read from and written to the cache (and how
        many of those went to the one-hour cache), as the prompt's marks ask.

        Like the API: the longest prefix cached before, found at a mark or up to 20
        blocks before one, is read; the prefix up to the last mark is written past
        what was read, each stretch to its mark's cache; prefixes under
        ``min_cache_tokens`` are neither.
        """
        blocks = prompt_blocks(body)
        if body.get("cache_control") and blocks:  # automatic caching: the last block
            blocks[-1] = (
                *blocks[-1][:2],
                {**blocks[-1][2], "cache_control": body["cache_control"]},
            )
        seen: list[Any] = [body.get("model")]
        tokens = 0
        prefixes: list[tuple[str, int]] = []  # (key, tokens) of the prefix ending at each block
        marks: list[tuple[str, int, str]] = []  # (prefix key, its tokens, ttl)
        read = 0
        for i, (_, role, block) in enumerate(blocks):
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            seen.append([role, plain])
            tokens += _block_tokens(plain)
            prefixes.append((json.dumps(seen, sort_keys=True), tokens))
            if block.get("cache_control") and tokens >= self.min_cache_tokens:
                marks.append((prefixes[-1][0], tokens, block["cache_control"].get("ttl") or "5m"))
                # The API looks for a hit at this mark and up to 20 blocks before it.
                hits = [n for key, n in prefixes[max(0, i - 20) :] if key in self.cached_prefixes]
                read = max([read, *hits])
        written = one_hour = 0
        done = read
        for key, n, ttl in marks:
            self.cached_prefixes.add(key)
            if n > done:
                written += n - done
                one_hour += (n - done) if ttl == "1h" else 0
                done = n
        return tokens, read, written, one_hour


# -- rendering ------------------------------------------------------------------


def _tool_id(serial: int, i: int) -> str:
    return f"toolu_mock{serial:04d}{i:02d}"


def thinking_signature(thinking: str) -> str:
    """The signature the mock puts on a thinking block, and expects back with it."""
    return f"sig-mock-{zlib.crc32(thinking.encode()):08x}"


def _thinking_blocks(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"type": "redacted_thinking", "data": part.redacted}
        if part.redacted is not None
        else {
            "type": "thinking",
            "thinking": part.text,
            "signature": thinking_signature(part.text),
        }
        for part in reply.thoughts()
    ]


def render_message(
    reply: Reply,
    *,
    message_id: str,
    model: str,
    usage: dict[str, Any],
    serial: int = 1,
    searches: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    """A non-streamed ``message`` object for ``reply``: its thinking, its
    ``searches`` (server blocks, :mod:`.mock_web_search`), its text (cut at its
    citations), its tool calls; ``stop_reason`` replaces the reply's, and
    ``stop_sequence`` is the one met (with ``stop_reason`` ``"stop_sequence"``)."""
    content: list[dict[str, Any]] = [dict(FUTURE_BLOCK)] if reply.future_events else []
    content += _thinking_blocks(reply)
    content += searches or []
    content += mock_web_search.text_blocks(reply)
    for i, (name, args) in enumerate(reply.tool_calls):
        content.append(
            {"type": "tool_use", "id": _tool_id(serial, i), "name": name, "input": dict(args)}
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or reply.finish_word(STOP_REASONS),
        "stop_sequence": stop_sequence,
        "usage": {**usage, "service_tier": "standard"},
    }


#: a content block of a kind the API may add (``Reply.future_events``)
FUTURE_BLOCK: dict[str, Any] = {"type": "future_block", "detail": "a block of a kind added later"}


def sse(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as Anthropic frames it."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def render_stream(
    reply: Reply,
    *,
    message_id: str,
    model: str,
    usage: dict[str, Any],
    serial: int = 1,
    searches: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
) -> Iterator[bytes | Pause | Drop | Reset]:
    """The SSE body of a streamed response to ``reply``, event by event (as
    :func:`render_message` orders the blocks, and with its ``stop_reason`` and
    ``stop_sequence``)."""
    start_usage = {**usage, "output_tokens": 1}  # the real API reports a placeholder here
    yield sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
    )
    index = 0
    pinged = False

    def block(
        start: dict[str, Any], deltas: list[dict[str, Any]], close: bool = True
    ) -> Iterator[bytes | Pause]:
        nonlocal index, pinged
        yield sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        if not pinged:
            pinged = True
            yield sse("ping", {"type": "ping"})
        for delta in deltas:
            if reply.chunk_delay:
                yield Pause(reply.chunk_delay)
            yield sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        if close:
            yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1

    if reply.future_events:  # an event, and a block with its delta, of kinds to come
        yield sse("future_event", {"type": "future_event", "detail": {"kind": "mock"}})
        yield from block(dict(FUTURE_BLOCK), [{"type": "future_delta", "detail": "more"}])
    for thought in _thinking_blocks(reply):
        if thought["type"] == "redacted_thinking":
            yield from block(thought, [])
            continue
        text = thought["thinking"]
        pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
        yield from block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [{"type": "thinking_delta", "thinking": p} for p in pieces]
            + [{"type": "signature_delta", "signature": thought["signature"]}],
        )
    for search in searches or []:
        if search["type"] == "server_tool_use":  # its query streamed, as a tool's input
            query = json.dumps(search["input"])
            yield from block(
                {**search, "input": {}},
                [{"type": "input_json_delta", "partial_json": ""}]
                + [
                    {"type": "input_json_delta", "partial_json": query[j : j + 9]}
                    for j in range(0, len(query), 9)
                ],
            )
        else:  # a result arrives whole
            yield from block(search, [])
    texts = mock_web_search.text_blocks(reply)
    for k, text_block in enumerate(texts):
        text = text_block["text"]
        start, deltas = mock_web_search.stream_text(
            text_block, iter([text[i : i + 8] for i in range(0, len(text), 8)])
        )
        # A fault that breaks the stream strikes after the text, before its block closes.
        breaks = reply.stream_fault not in (None, "truncate")
        yield from block(start, deltas, close=not (breaks and k == len(texts) - 1))
    if reply.stream_fault == "error":  # overloaded, unless the reply names another type
        message = reply.error or "Overloaded"
        kind = reply.error_code or "overloaded_error"
        yield sse("error", {"type": "error", "error": {"type": kind, "message": message}})
        return
    if reply.stream_fault == "drop":
        yield Drop()
        return
    if reply.stream_fault == "reset":
        yield Reset()
        return
    if reply.stream_fault == "garbage":
        yield b"event: content_block_delta\ndata: {this is not json\n\n"
        return
    for i, (name, args) in enumerate(reply.tool_calls):
        text = json.dumps(dict(args))
        yield from block(
            {"type": "tool_use", "id": _tool_id(serial, i), "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": ""}]
            + [
                {"type": "input_json_delta", "partial_json": text[j : j + 7]}
                for j in range(0, len(text), 7)
            ],
        )
    if not pinged:
        yield sse("ping", {"type": "ping"})
    yield sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": stop_reason or reply.finish_word(STOP_REASONS),
                "stop_sequence": stop_sequence,
            },
            "usage": usage,
        },
    )
    if reply.stream_fault == "truncate":  # the body ends before its final event
        return
    yield sse("message_stop", {"type": "message_stop"})


# -- request checks -----------------------------------------------------------


def not_json_refusal(request: Request) -> Response | None:
    """The API's 400 for a body that is not JSON, or ``None`` when it parses.

    Anthropic answers such a body with ``invalid_request_error`` "The request body
    is not valid JSON: " and its JSON parser's reason ("no low surrogate in string:
    line 1 column 134323 (char 134322)", as reported from the API in
    anthropics/claude-code#6464), which is Python's wording: the mock gives its own
    parser's."""
    try:
        json.loads(request.body)
    except ValueError as e:  # UnicodeDecodeError too
        return error_response(
            400, "invalid_request_error", f"The request body is not valid JSON: {e}"
        )
    return None


def _scripted_error(reply: Reply) -> Response:
    """A scripted failure's status and message in Anthropic's error shape, with its
    ``retry-after``."""
    headers = dict(reply.headers)
    if reply.retry_after is not None:
        headers["retry-after"] = f"{reply.retry_after:g}"
    kind = reply.error_code or ERROR_TYPES.get(reply.status, "api_error")
    return error_response(reply.status, kind, reply.error, headers)


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An Anthropic error body with ``status``."""
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_mock_error",
    }
    return Response.json(body, status, headers)


#: the fields of a block that the API's schema requires, as text, by the block's type
_BLOCK_TEXT_FIELDS = {
    "text": ("text",),
    "tool_use": ("id", "name"),
    "server_tool_use": ("id", "name"),
    "tool_result": ("tool_use_id",),
}


def request_shape_problem(body: Any) -> str | None:
    """The first place in ``body``'s system prompt and messages whose JSON type the
    API's schema refuses, in its words (``messages.1.content.0: Input should be a
    valid dictionary``), or ``None``. Checked before the other checks, which read
    the request with plain lookups (and raised on such a request, instead of
    answering the 400 the API answers)."""
    if not isinstance(body, dict):
        return "body: Input should be a valid dictionary"
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for i, tool in enumerate(tools or ()):
        if not isinstance(tool, dict):
            return f"tools.{i}: Input should be a valid dictionary"
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            return "system: Input should be a valid list"
        for j, block in enumerate(system):
            if problem := _block_shape_problem(block, f"system.{j}"):
                return problem
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        at = f"messages.{i}"
        if not isinstance(message, dict):
            return f"{at}: Input should be a valid dictionary"
        if message.get("role") not in ("user", "assistant"):
            return f"{at}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if problem := _block_shape_problem(block, f"{at}.content.{j}"):
                return problem
    return None


def _block_shape_problem(block: Any, at: str) -> str | None:
    if not isinstance(block, dict):
        return f"{at}: Input should be a valid dictionary"
    kind = block.get("type")
    if not isinstance(kind, str):
        return f"{at}.type: Input should be a valid string"
    for field in _BLOCK_TEXT_FIELDS.get(kind, ()):
        value = block.get(field)
        if value is None and field != "text":  # a missing text: the API's own words, later
            return f"{at}.{kind}.{field}: Field required"
        if value is not None and not isinstance(value, str):
            return f"{at}.{kind}.{field}: Input should be a valid string"
    return None


def validate_messages(body: dict[str, Any], paused: Collection[str] = ()) -> str | None:
    """What the real API would reject in ``body``'s model and messages, or ``None``.

    ``paused`` holds the text of the answers that paused (``pause_turn``): a final
    assistant turn ending in one continues it, and is taken back as it was sent.
    """
    if not body.get("model"):
        return "model: Field required"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages: at least one message is required"
    if problem := _system_problem(body.get("system")):
        return problem
    last = len(msgs) - 1
    for i, m in enumerate(msgs):
        if m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = m.get("content")
        if not isinstance(content, str | list):
            return f"messages.{i}.content: Input should be a valid string or list"
        if not content and (i != last or m["role"] != "assistant"):
            # The API's words (claude-code#6774, crewAI#4429): only a prefill may be empty.
            return (
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        if isinstance(content, str):
            if content and content.isspace():
                return f"messages.{i}: {_WHITESPACE_TEXT}"
            continue
        for j, b in enumerate(content):
            if b.get("type") not in _BLOCK_TYPES:
                return f"messages.{i}.content.{j}.type: unknown block type {b.get('type')!r}"
            if b["type"] == "text" and not b.get("text"):
                return f"messages.{i}.content.{j}: text content blocks must be non-empty"
            if b["type"] == "text" and str(b["text"]).isspace():
                # The API names no index here (claude-code#23440: "messages: text ...").
                return f"messages: {_WHITESPACE_TEXT}"
            if b["type"] == "thinking" and not b.get("signature"):
                return f"messages.{i}.content.{j}.thinking.signature: Field required"
            if b["type"] == "thinking" and b["signature"] != thinking_signature(
                str(b.get("thinking"))
            ):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if b["type"] == "redacted_thinking" and not isinstance(b.get("data"), str):
                return f"messages.{i}.content.{j}.redacted_thinking.data: Field required"
            if b["type"] in _ASSISTANT_BLOCKS and m["role"] != "assistant":
                return f"messages.{i}.content.{j}: {b['type']} blocks belong in assistant turns"
            if b["type"] == "tool_result" and m["role"] != "user":
                return f"messages.{i}.content.{j}: tool_result blocks belong in user turns"
            if b["type"] == "tool_result" and (
                problem := _tool_result_problem(b, f"messages.{i}.content.{j}")
            ):
                return problem
            if b["type"] == "document" and (
                problem := document_problem(b, f"messages.{i}.content.{j}", m["role"])
            ):
                return problem
        if m["role"] == "assistant" and (
            problem := mock_web_search.turn_problem(content, f"messages.{i}")
            or _thinking_not_first(content, i)
        ):
            return problem
    return (
        _trailing_whitespace(msgs, paused)
        or _tool_use_ids(msgs)
        or _answered_tool_uses(msgs)
        or _thinking_first(body, msgs)
    )


#: the API's words for a text block of whitespace only, at the top level of a message
#: or in the system prompt (claude-code#23440, home-assistant/core#175637, litellm#28706)
_WHITESPACE_TEXT = "text content blocks must contain non-whitespace text"


def _schema_problem(body: dict[str, Any]) -> str | None:
    """A tool name outside ``^[a-zA-Z0-9_-]{1,64}$``, or a structured-output schema
    (``output_config.format``, a strict tool's) Claude refuses: an object not closed,
    a constraint it cannot enforce, ``minItems`` above 1, recursion."""
    from relaykit.json_schemas import NAME

    for i, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and "input_schema" in tool:
            if not NAME.match(str(tool.get("name"))):
                return (
                    f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
            if tool.get("strict"):
                problem = structured_problem(tool["input_schema"])
                if problem:
                    return f"tools.{i}.custom.input_schema: {problem}"
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        problem = structured_problem(fmt.get("schema"))
        if problem:
            return f"output_config.format.schema: {problem}"
    return None


def _system_problem(system: Any) -> str | None:
    """What the API would reject in ``system``: a blank string or text block."""
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
    for b in blocks if isinstance(blocks, list) else ():
        if isinstance(b, dict) and b.get("type") == "text" and not str(b.get("text")).strip():
            return f"system: {_WHITESPACE_TEXT}"
    return None


def _trailing_whitespace(msgs: list[dict[str, Any]], paused: Collection[str]) -> str | None:
    """A prefill (a final assistant turn) ending in whitespace: refused, in the API's
    words (forgecode#1872, opencode#1295; LiteLLM's ``anthropic_messages_pt``
    strips it for that reason). A paused turn sent back to continue it is not a
    prefill: the API takes back what it sent."""
    final = msgs[-1]
    content = final["content"]
    if final["role"] != "assistant" or not content:
        return None
    if isinstance(content, str):
        text = content
    elif content[-1].get("type") == "text":
        text = str(content[-1].get("text"))
    else:
        return None  # it ends with a tool call or thinking, not text
    if text != text.rstrip() and not any(p.endswith(text) for p in paused):
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


#: the API's words for a prefill a model refuses (opencode#13768, Vibe-Trading#246)
PREFILL_REFUSED = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)


def refuses_prefill(model: str) -> bool:
    """Whether ``model`` refuses a conversation ending in an assistant turn: every
    Claude from 4.6 on, Fable and Mythos (the mock's own table, kept apart from the
    plugin's so that it catches the plugin's mistakes)."""
    name = model.lower()
    if re.search(r"claude-(fable|mythos)(?![a-z])", name):
        return True
    found = re.search(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?!\d)", name)
    return found is not None and (int(found.group(1)), int(found.group(2) or 0)) >= (4, 6)


def prefill_problem(body: dict[str, Any], paused: Collection[str] = ()) -> str | None:
    """A prefill (a final assistant turn) sent to a model that refuses one, in the API's
    words; a paused turn sent back to continue it (server blocks, or a paused
    answer's text) is taken, as the API takes it."""
    msgs = body.get("messages") or ()
    final = msgs[-1] if msgs else {}
    if final.get("role") != "assistant" or not refuses_prefill(str(body.get("model") or "")):
        return None
    content = final.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if any(b.get("type") in mock_web_search.ASSISTANT_BLOCKS for b in blocks):
        return None
    last = blocks[-1] if blocks else {}
    text = last.get("text") if last.get("type") == "text" else None
    if text and any(p.endswith(text) for p in paused):
        return None
    return PREFILL_REFUSED


def _tool_use_ids(msgs: list[dict[str, Any]]) -> str | None:
    """The API's rules for ``tool_use`` ids, in its words: each matches
    ``^[a-zA-Z0-9_-]+$`` and none is used twice in a request (opencode#1279, after
    a switch from another provider; nanobot#4356)."""
    seen: set[str] = set()
    for i, m in enumerate(msgs):
        content = m["content"]
        for j, b in enumerate(() if isinstance(content, str) else content):
            if b["type"] != "tool_use":
                continue
            if not re.fullmatch(r"[a-zA-Z0-9_-]+", str(b.get("id"))):
                return (
                    f"messages.{i}.content.{j}.tool_use.id: String should match pattern "
                    "'^[a-zA-Z0-9_-]+$'"
                )
            if b["id"] in seen:
                return f"messages.{i}.content.{j}: `tool_use` ids must be unique"
            seen.add(b["id"])
    return None


def _answered_tool_uses(msgs: list[dict[str, Any]]) -> str | None:
    """The API's pairing rule: the turn after one with ``tool_use`` blocks answers
    every one of them with a ``tool_result``, and answers nothing else; a
    ``tool_result`` in a turn after none with ``tool_use`` (the first, or one after
    plain text) answers nothing, and is refused the same way."""
    for i, m in enumerate(msgs):
        before = msgs[i - 1] if i else None
        if m["role"] != "user" or isinstance(m["content"], str):
            continue
        if before is not None and before["role"] == "assistant":
            continue  # the pairing below covers it
        stray = [b.get("tool_use_id") for b in m["content"] if b["type"] == "tool_result"]
        if stray:
            return (
                f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {', '.join(map(str, stray))}. Each `tool_result` block must have "
                "a corresponding `tool_use` block in the previous message."
            )
    for i, m in enumerate(msgs[:-1]):
        if m["role"] != "assistant" or isinstance(m["content"], str):
            continue
        asked = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
        after = msgs[i + 1]["content"]
        blocks = [] if isinstance(after, str) else after
        answered = [b.get("tool_use_id") for b in blocks if b["type"] == "tool_result"]
        missing = [x for x in asked if x not in answered]
        if missing:
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                "a corresponding `tool_result` block in the next message."
            )
        unexpected = [x for x in answered if x not in asked]
        if unexpected:
            return (
                f"messages.{i + 1}.content.0: unexpected `tool_use_id` found in "
                f"`tool_result` blocks: {', '.join(map(str, unexpected))}. Each "
                "`tool_result` block must have a corresponding `tool_use` block in the "
                "previous message."
            )
    return None


#: what a tool_result's content list may hold
_TOOL_RESULT_BLOCKS = ("text", "image", "document", "search_result")


def _tool_result_problem(block: dict[str, Any], where: str) -> str | None:
    """What the API would reject in a ``tool_result`` block's ``content``, or ``None``.

    An error result needs content (the API's own words); text blocks inside one
    need non-whitespace text, as everywhere. An empty content on a result that is
    not an error is left alone: no refusal of it is documented or reported in
    words we can match.
    """
    content = block.get("content")
    if block.get("is_error") and not content:
        return f"{where}.tool_result: content cannot be empty if `is_error` is true"
    if isinstance(content, str | None):
        return None
    if not isinstance(content, list):
        return f"{where}.tool_result.content: Input should be a valid string or list"
    for k, b in enumerate(content):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind not in _TOOL_RESULT_BLOCKS:
            expected = ", ".join(repr(t) for t in _TOOL_RESULT_BLOCKS)
            return (
                f"{where}.tool_result.content.{k}: Input tag {kind!r} should be one of {expected}"
            )
        if kind == "text" and not b.get("text"):
            return f"{where}.tool_result.content.{k}: text content blocks must be non-empty"
        if kind == "text" and not str(b["text"]).strip():
            return (
                f"{where}.tool_result.content.{k}: text content blocks must contain "
                "non-whitespace text"
            )
    return None


def prompt_blocks(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The prompt in the order the API caches it: tools, system, then messages, as
    (where, role, block); a string system prompt or content is one text block."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i, tool in enumerate(body.get("tools") or ()):
        out.append((f"tools.{i}", "tools", tool))
    system = body.get("system")
    if isinstance(system, list):
        out.extend((f"system.{j}", "system", b) for j, b in enumerate(system))
    elif system:
        out.append(("system", "system", {"type": "text", "text": system}))
    for i, m in enumerate(body.get("messages") or ()):
        content = m.get("content")
        if isinstance(content, str):
            out.append((f"messages.{i}.content", m["role"], {"type": "text", "text": content}))
        else:
            out.extend(
                (f"messages.{i}.content.{j}", m["role"], b) for j, b in enumerate(content or ())
            )
    return out


def _block_tokens(block: dict[str, Any]) -> int:
    if block.get("type") == "document":
        return document_tokens(block)
    return count_tokens(_block_text(block))


def _document_tokens(body: dict[str, Any]) -> int:
    return sum(document_tokens(b) for b in documents(body))


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") == "text":
        return str(block.get("text") or "")
    if block.get("type") == "tool_result":
        return _text(block.get("content"))
    return json.dumps(block)


def validate_cache_control(body: dict[str, Any]) -> str | None:
    """What the real API would reject in ``body``'s ``cache_control`` marks, or ``None``."""
    ttls: list[str] = []
    marked = [(where, b) for where, _, b in prompt_blocks(body) if "cache_control" in b]
    if "cache_control" in body:
        marked.append(("", body))
    for where, block in marked:
        at = f"{where}." if where else ""
        mark = block["cache_control"]
        if block.get("type") in ("thinking", "redacted_thinking"):
            return f"{at}{block['type']}.cache_control: Extra inputs are not permitted"
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            return f"{at}cache_control.type: Input should be 'ephemeral'"
        ttl = mark.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            return f"{at}cache_control.ephemeral.ttl: Input should be '5m' or '1h'"
        ttls.append(ttl)
    if len(ttls) > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {len(ttls)}."
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        return (
            "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control "
            "block. Note that blocks are processed in the following order: `tools`, "
            "`system`, `messages`."
        )
    return None


def _thinking_not_first(content: list[dict[str, Any]], i: int) -> str | None:
    """The API's refusal of assistant turn ``i`` holding thinking that does not open
    it, whether thinking is on or not (its words, claude-code#20705)."""
    first = content[0]["type"] if content else None
    if first in _THINKING or not any(b["type"] in _THINKING for b in content):
        return None
    return (
        f"messages.{i}.content.0: If an assistant message contains any thinking blocks,"
        f" the first block must be `thinking` or `redacted_thinking`. Found `{first}`."
    )


#: the thinking block types
_THINKING = ("thinking", "redacted_thinking")


def _thinking_first(body: dict[str, Any], msgs: list[dict[str, Any]]) -> str | None:
    # With thinking on, the API needs the thinking of a tool loop in progress:
    # the final assistant turn, when it calls tools, must open with it.
    thinking = body.get("thinking")
    # between_tools does no up-front thinking: a tool call may open the turn.
    if not isinstance(thinking, dict) or thinking.get("type") in ("disabled", "between_tools"):
        return None
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    if last is None or isinstance(msgs[last]["content"], str):
        return None
    content = msgs[last]["content"]
    if not any(b["type"] == "tool_use" for b in content):
        return None
    first = content[0]["type"]
    if first in ("thinking", "redacted_thinking"):
        return None
    return missing_thinking_refusal(last, first)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            b.get("text") or "" for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def prompt_text(body: dict[str, Any]) -> str:
    """System prompt and message text, for estimating token counts."""
    system = body.get("system")
    parts = [_text(system) if system else ""]
    parts += [_text(m.get("content")) for m in body.get("messages") or ()]
    return " ".join(p for p in parts if p)


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user turn that has any (tool results have none)."""
    for m in reversed(body.get("messages") or ()):
        if m.get("role") == "user":
            text = _text(m.get("content"))
            if text:
                return text
    return ""
