"""A loopback server speaking Cohere's v2 Chat wire format, for tests and demos.

``CohereMock`` follows Cohere's public API reference: ``POST /v2/chat`` answers
with a chat response (``message.content`` items, ``tool_plan``, ``tool_calls``,
``finish_reason`` in Cohere's upper-case words, ``usage.billed_units`` and
``usage.tokens``) or, with ``"stream": true``, server-sent events named by type
(``message-start``, ``content-start``/``-delta``/``-end``, ``tool-plan-delta``,
``tool-call-start``/``-delta``/``-end``, ``message-end``); errors are the HTTP
status with ``{"message": ...}``; a user message's content item other than
``text`` or ``image_url``, or ``documents`` not in Cohere's shape (strings, or
objects with ``data`` of strings and an optional ``id``), is a 400.
``GET /v1/models`` lists models with ``endpoints`` and ``context_length``,
paginated by ``page_size``/``page_token``.

A chat's ``thinking`` must be ``{"type": "enabled" | "disabled"}`` with an
optional positive ``token_budget``, as Cohere's reference has it; thinking
enabled for a model that does not reason (not in :data:`REASONING_MODELS`) is
a 400 too: Cohere documents the field for its reasoning models only, and the
mock holds a plugin to that. Those messages are the mock's wording.
:meth:`CohereMock.sent_reasoning` reads the setting back.

``POST /v2/embed`` answers ``{"id", "embeddings": {"float": [...]}, "texts",
"meta": {"billed_units": {"input_tokens"}}, "response_type"}`` with
:func:`relaykit.testing.mock_vector` of each text (at ``output_dimension``, else
8 long) and one billed token a word (or the script's ``input_tokens``). It
refuses, with a 400, what Cohere refuses: no ``input_type``, more than 96
``texts``, an ``output_dimension`` the model does not take (only embed-v4.0
takes one: 256, 512, 1024 or 1536), unknown fields; a model it does not list
for the ``embed`` endpoint is a 404. Those messages are the mock's wording.
Each request takes the script's next reply (a failure, a connection fault, a delay,
``input_tokens``), as a chat does.

``POST /v2/rerank`` answers ``{"id", "results": [{"index", "relevance_score"}],
"meta": {"api_version", "billed_units": {"search_units"}}}``: every document
scored with :func:`relaykit.testing.mock_relevance`, best first
(:func:`relaykit.testing.mock_ranking`), cut to ``top_n``, and one search unit
per 100 documents; a scripted ``input_tokens`` is reported as
``meta.tokens.input_tokens`` (Cohere reports none by default). It refuses, with
a 400, a body without a ``query`` string, ``documents`` that are not a
non-empty list of non-empty strings (v2 takes no document objects) or number
more than 10,000, a ``top_n`` or ``max_tokens_per_doc`` that is not a positive
integer, and unknown fields; a model it does not list for the ``rerank``
endpoint is a 404. Each request takes the script's next reply (a failure, a
delay, ``input_tokens``), as embed requests do.

Scripted :class:`relaykit.testing.Reply` values render as follows: ``reasoning``
is a ``tool_plan`` when the reply has tool calls, and ``thinking`` content (as
Cohere's reasoning models send it) otherwise; ``stream_fault="error"`` ends the
stream with ``message-end`` carrying ``finish_reason: "ERROR"`` and ``error``.
Cohere documents no Retry-After, so ``Reply.retry_after`` is not sent (headers
given in ``Reply.headers`` are).

    with CohereMock(api_key="test-key") as mock:
        mock.script.reply("Hello!")
        # configure [providers.cohere] base_url = mock.base_url, api_key = "test-key"
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from relaykit import Reasoning

# The submodules, not the lazy ``relaykit.testing`` namespace: those names are typed.
from relaykit.testing.embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from relaykit.testing.loopback import Drop, Pause, Request, Reset, Response
from relaykit.testing.rerank_scores import mock_ranking
from relaykit.testing.script import Reply
from relaykit.testing.vendor_mock import VendorMock, scripted_fault

#: (name, endpoints, context_length) of the models the mock lists.
MODELS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("command-a-03-2025", ("chat",), 256000),
    ("command-r-plus-08-2024", ("chat",), 128000),
    ("command-r-08-2024", ("chat",), 128000),
    ("command-r7b-12-2024", ("chat",), 128000),
    ("command-a-reasoning-08-2025", ("chat",), 256000),
    ("embed-v4.0", ("embed",), 128000),
    ("embed-english-v3.0", ("embed",), 512),
    ("embed-multilingual-v3.0", ("embed",), 512),
    ("rerank-v4.0-pro", ("rerank",), 32768),
    ("rerank-v4.0-fast", ("rerank",), 32768),
    ("rerank-v3.5", ("rerank",), 4096),
    ("rerank-english-v3.0", ("rerank",), 4096),
    ("rerank-multilingual-v3.0", ("rerank",), 4096),
)

#: the chat models that reason, and so take ``thinking`` enabled
REASONING_MODELS = ("command-a-reasoning-08-2025",)
_THINKING_FIELDS = ("type", "token_budget")
_THINKING_TYPES = ("enabled", "disabled")

#: The ``output_dimension`` values of the models that take one.
EMBED_DIMENSIONS = {"embed-v4.0": (256, 512, 1024, 1536)}
_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
_EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary", "base64")
_EMBED_FIELDS = (
    "model",
    "texts",
    "images",
    "inputs",
    "input_type",
    "embedding_types",
    "output_dimension",
    "max_tokens",
    "truncate",
)
_RERANK_FIELDS = ("model", "query", "documents", "top_n", "max_tokens_per_doc")
#: Documents Cohere ranks in one request, and documents a search unit covers.
_MAX_RERANK_DOCUMENTS = 10_000
_DOCUMENTS_PER_SEARCH_UNIT = 100

#: the content item types a user message may hold
_CONTENT_TYPES = ("text", "image_url")
# Cohere has no content-filter finish reason; a scripted one renders as COMPLETE.
_FINISH = {
    "stop": "COMPLETE",
    "length": "MAX_TOKENS",
    "tool_calls": "TOOL_CALL",
    "content_filter": "COMPLETE",
}


class CohereMock(VendorMock):
    """Cohere at ``base_url`` (``http://127.0.0.1:PORT``, no path: the paths carry ``/v2``)."""

    def __init__(
        self,
        api_key: str | None = None,
        models: tuple[tuple[str, tuple[str, ...], int], ...] = MODELS,
        *,
        page_size: int | None = None,
    ) -> None:
        super().__init__(api_key)
        self.models = models
        #: the most models a page of ``GET /v1/models`` holds, whatever ``page_size``
        #: asks (``None``: as many as it asks), to make a listing of several pages
        self.page_size = page_size
        self._n = 0
        #: embed requests being answered now, and the most there were at once
        self.embeds_in_flight = 0
        self.peak_embeds_in_flight = 0

    async def route(self, request: Request) -> Response:
        """Check the bearer key, then dispatch by method and path."""
        if (
            self.api_key is not None
            and request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return _error(401, "invalid api token")
        if request.method == "GET" and request.path == "/v1/models":
            return self._models(request.query)
        if request.method == "POST" and request.path == "/v2/chat":
            try:
                body = request.json()
            except ValueError:
                return _error(400, "invalid request: body is not valid JSON")
            return await self._chat(body)
        if request.method == "POST" and request.path == "/v2/embed":
            try:
                body = request.json()
            except ValueError:
                return _error(400, "invalid request: body is not valid JSON")
            return await self._embed(body)
        if request.method == "POST" and request.path == "/v2/rerank":
            try:
                body = request.json()
            except ValueError:
                return _error(400, "invalid request: body is not valid JSON")
            return await self._rerank(body)
        return _error(404, f"{request.method} {request.path} not found")

    def _models(self, query: dict[str, str]) -> Response:
        listed = [m for m in self.models if not query.get("endpoint") or query["endpoint"] in m[1]]
        size = int(query.get("page_size") or 20)
        size = min(size, self.page_size) if self.page_size else size
        start = int(query.get("page_token") or 0)
        page = listed[start : start + size]
        data: dict[str, Any] = {
            "models": [
                {
                    "name": name,
                    "endpoints": list(endpoints),
                    "finetuned": False,
                    "context_length": ctx,
                }
                for name, endpoints, ctx in page
            ]
        }
        if start + size < len(listed):
            data["next_page_token"] = str(start + size)
        return Response.json(data)

    async def _chat(self, body: Any) -> Response:
        if not isinstance(body, dict):  # as embed and rerank answer it (_body_refusal)
            return _error(400, "invalid request: body must be a JSON object")
        if not body.get("model"):
            return _error(400, "invalid request: a model parameter is required for this endpoint.")
        turns = body.get("messages") or []
        if not turns:
            return _error(400, "invalid request: messages must not be empty")
        refusal = (
            _content_refusal(turns)
            or _documents_refusal(body.get("documents"))
            or _thinking_refusal(body.get("thinking"), body["model"])
        )
        if refusal is not None:
            return refusal
        last_user = next(
            (_text(t.get("content")) for t in reversed(turns) if t.get("role") == "user"), ""
        )
        reply = self.script.next(self.default_reply(last_user))
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        rid = f"c0ffee00-0000-4000-8000-{self._n:012d}"
        prompt = " ".join(_text(t.get("content")) for t in turns)
        inp, out = self.usage_of(reply, prompt)
        usage = {
            "billed_units": {"input_tokens": inp, "output_tokens": out},
            "tokens": {
                "input_tokens": inp + 200,
                "output_tokens": out,
            },  # + Cohere's prompt template
        }
        calls = [
            {
                "id": f"{name}_{self._n}{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(dict(args), ensure_ascii=False)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        finish = reply.finish_word(_FINISH)
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant"}
            content: list[dict[str, Any]] = []
            if reply.reasoning and not calls:
                content.append({"type": "thinking", "thinking": reply.reasoning})
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            if content:
                message["content"] = content
            if calls:
                if reply.reasoning:
                    message["tool_plan"] = reply.reasoning
                message["tool_calls"] = calls
            return Response.json(
                {"id": rid, "finish_reason": finish, "message": message, "usage": usage}
            )
        return Response(
            200,
            {"content-type": "text/event-stream", **dict(reply.headers)},
            _events(rid, reply, calls, finish, usage),
        )

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """``thinking``: ``disabled`` as thinking off, ``enabled`` as that budget
        or (without one) thinking on; ``None`` without it (reasoning models think
        by default)."""
        return sent_reasoning(request.json())

    async def _embed(self, body: Any) -> Response:
        refusal = self._embed_refusal(body)
        if refusal is not None:
            return refusal
        self.embeds_in_flight += 1  # one event loop serves the mock: no lock needed
        self.peak_embeds_in_flight = max(self.peak_embeds_in_flight, self.embeds_in_flight)
        try:
            reply = self.script.next(Reply())
            failed = await scripted_fault(reply, _scripted_error)
        finally:
            self.embeds_in_flight -= 1
        if failed is not None:
            return failed
        self._n += 1
        texts = body["texts"]
        size = body.get("output_dimension") or MOCK_DIMENSIONS
        tokens = reply.input_tokens
        if tokens is None:
            tokens = sum(map(mock_embedding_tokens, texts))
        data = {
            "id": f"e0ffee00-0000-4000-8000-{self._n:012d}",
            "embeddings": {"float": [list(mock_vector(t, size)) for t in texts]},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        }
        return Response.json(data, headers=dict(reply.headers))

    def _body_refusal(self, body: Any, fields: Any, endpoint: str) -> Response | None:
        """What Cohere answers any endpoint's ``body`` that is not an object, names a
        field the endpoint lacks, or a model it does not serve there; else ``None``."""
        if not isinstance(body, dict):
            return _error(400, "invalid request: body must be a JSON object")
        unknown = sorted(set(body) - set(fields))
        if unknown:
            return _error(
                400, f"invalid request: unknown field: parameter {unknown[0]} is not a valid field"
            )
        model = body.get("model")
        if not model:
            return _error(400, "invalid request: a model parameter is required for this endpoint.")
        if not any(name == model and endpoint in ends for name, ends, _ in self.models):
            return _error(
                404,
                f"model '{model}' not found, make sure the correct model ID was used "
                "and that you have access to the model.",
            )
        return None

    def _embed_refusal(self, body: Any) -> Response | None:
        """The error Cohere would answer ``body`` with, or ``None``."""
        if (refused := self._body_refusal(body, _EMBED_FIELDS, "embed")) is not None:
            return refused
        model = body["model"]
        if body.get("input_type") not in _INPUT_TYPES:
            return _error(
                400, "invalid request: valid input_type must be provided with the provided model"
            )
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts:
            return _error(400, "invalid request: texts must be a non-empty list of strings")
        if len(texts) > 96:
            return _error(
                400,
                "invalid request: total number of texts must be at most 96 "
                f"- received {len(texts)}",
            )
        if not all(isinstance(t, str) and t for t in texts):
            return _error(400, "invalid request: each text must be a non-empty string")
        types = body.get("embedding_types", ["float"])
        if not isinstance(types, list) or any(t not in _EMBEDDING_TYPES for t in types):
            return _error(
                400,
                f"invalid request: embedding_types must be a list of {', '.join(_EMBEDDING_TYPES)}",
            )
        if "float" not in types:
            return _error(400, "invalid request: the mock answers float embeddings only")
        if "output_dimension" in body:
            allowed = EMBED_DIMENSIONS.get(model)
            if allowed is None:
                return _error(400, f"invalid request: {model} does not support output_dimension")
            if body["output_dimension"] not in allowed:
                return _error(
                    400,
                    "invalid request: output_dimension must be one of "
                    f"{', '.join(map(str, allowed))}",
                )
        return None

    async def _rerank(self, body: Any) -> Response:
        refusal = self._rerank_refusal(body)
        if refusal is not None:
            return refusal
        reply = self.script.next(Reply())
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        documents = body["documents"]
        ranking = mock_ranking(body["query"], documents)
        if body.get("top_n") is not None:
            ranking = ranking[: body["top_n"]]
        meta: dict[str, Any] = {
            "api_version": {"version": "2"},
            "billed_units": {"search_units": -(-len(documents) // _DOCUMENTS_PER_SEARCH_UNIT)},
        }
        if reply.input_tokens is not None:
            meta["tokens"] = {"input_tokens": reply.input_tokens}
        data = {
            "id": f"4e4a0000-0000-4000-8000-{self._n:012d}",
            "results": [{"index": i, "relevance_score": score} for i, score in ranking],
            "meta": meta,
        }
        return Response.json(data, headers=dict(reply.headers))

    def _rerank_refusal(self, body: Any) -> Response | None:
        """The error Cohere would answer a rerank ``body`` with, or ``None``."""
        if (refused := self._body_refusal(body, _RERANK_FIELDS, "rerank")) is not None:
            return refused
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return _error(400, "invalid request: query must be a non-empty string")
        documents = body.get("documents")
        if not isinstance(documents, list) or not documents:
            return _error(400, "invalid request: documents must be a non-empty list of strings")
        if len(documents) > _MAX_RERANK_DOCUMENTS:
            return _error(
                400,
                f"invalid request: total number of documents must be at most"
                f" {_MAX_RERANK_DOCUMENTS} - received {len(documents)}",
            )
        for i, document in enumerate(documents):
            if not isinstance(document, str) or not document:
                return _error(
                    400,
                    f"invalid request: documents[{i}] must be a non-empty string"
                    " (format structured data as a YAML string)",
                )
        for key in ("top_n", "max_tokens_per_doc"):
            value = body.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                return _error(400, f"invalid request: {key} must be a positive integer")
        return None


def _content_refusal(turns: Any) -> Response | None:
    """A 400 for a content item a user message does not take (only ``text`` and
    ``image_url``: documents go in the request's ``documents``)."""
    for i, turn in enumerate(turns):
        content = turn.get("content") if isinstance(turn, dict) else None
        if turn.get("role") != "user" or not isinstance(content, list):
            continue
        for j, item in enumerate(content):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in _CONTENT_TYPES:
                return _error(
                    400,
                    f"invalid request: messages[{i}].content[{j}] has type {kind!r};"
                    f" use one of {', '.join(_CONTENT_TYPES)}",
                )
    return None


def _thinking_refusal(settings: Any, model: str) -> Response | None:
    """A 400 for a ``thinking`` that is not Cohere's shape, or that enables thinking
    for a model that does not reason."""
    if settings is None:
        return None
    if not isinstance(settings, dict):
        return _error(400, "invalid request: thinking must be an object")
    unknown = sorted(set(settings) - set(_THINKING_FIELDS))
    if unknown:
        return _error(
            400,
            f"invalid request: unknown field: parameter thinking.{unknown[0]} is not a valid field",
        )
    if settings.get("type") not in _THINKING_TYPES:
        return _error(400, "invalid request: thinking.type must be one of enabled, disabled")
    budget = settings.get("token_budget")
    if budget is not None and (
        not isinstance(budget, int) or isinstance(budget, bool) or budget < 1
    ):
        return _error(400, "invalid request: thinking.token_budget must be a positive integer")
    if settings["type"] == "enabled" and model not in REASONING_MODELS:
        return _error(400, f"invalid request: model '{model}' does not support thinking")
    return None


def sent_reasoning(body: Any) -> Reasoning | None:
    """The thinking setting in a ``/v2/chat`` body: see :meth:`CohereMock.sent_reasoning`."""
    settings = body.get("thinking")
    if not isinstance(settings, dict):
        return None
    if settings.get("type") == "disabled":
        return Reasoning("none")
    budget = settings.get("token_budget")
    return Reasoning() if budget is None else Reasoning(budget_tokens=budget)


def _documents_refusal(documents: Any) -> Response | None:
    """A 400 for ``documents`` that are not Cohere's: a list of strings, or of objects
    with ``data`` (an object of strings) and an optional string ``id``."""
    if documents is None:
        return None
    if not isinstance(documents, list):
        return _error(400, "invalid request: documents must be a list")
    for i, doc in enumerate(documents):
        if isinstance(doc, str) and doc:
            continue
        data = doc.get("data") if isinstance(doc, dict) else None
        well_formed = (
            isinstance(data, dict)
            and bool(data)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
            and isinstance(doc.get("id", ""), str)
        )
        if not well_formed:
            return _error(
                400,
                f"invalid request: documents[{i}] must be a string or an object with"
                " `data` (an object of strings) and an optional string `id`",
            )
    return None


def _events(
    rid: str, reply: Reply, calls: list[dict[str, Any]], finish: str, usage: dict[str, Any]
) -> Iterator[bytes | Pause | Drop | Reset]:
    def sse(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    def pause() -> Iterator[Pause]:
        if reply.chunk_delay:
            yield Pause(reply.chunk_delay)

    yield sse(
        {
            "id": rid,
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
    )
    if reply.future_events:  # an event of a type to come
        yield sse({"type": "future-event", "delta": {"detail": "more"}})
    index = 0
    if reply.reasoning and calls:
        for i in range(0, len(reply.reasoning), 8):
            yield from pause()
            yield sse(
                {
                    "type": "tool-plan-delta",
                    "delta": {"message": {"tool_plan": reply.reasoning[i : i + 8]}},
                }
            )
    elif reply.reasoning:
        yield sse(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
            }
        )
        for i in range(0, len(reply.reasoning), 8):
            yield from pause()
            piece = reply.reasoning[i : i + 8]
            yield sse(
                {
                    "type": "content-delta",
                    "index": index,
                    "delta": {"message": {"content": {"thinking": piece}}},
                }
            )
        yield sse({"type": "content-end", "index": index})
        index += 1
    if reply.text:
        yield sse(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        )
        for piece in reply.chunks():
            yield from pause()
            yield sse(
                {
                    "type": "content-delta",
                    "index": index,
                    "delta": {"message": {"content": {"text": piece}}},
                }
            )
        if not reply.stream_fault:
            yield sse({"type": "content-end", "index": index})
    if reply.stream_fault == "error":
        yield sse(
            {
                "type": "message-end",
                "delta": {"error": reply.error or "internal error", "finish_reason": "ERROR"},
            }
        )
        return
    if reply.stream_fault == "drop":
        yield Drop()
        return
    if reply.stream_fault == "reset":
        yield Reset()
        return
    if reply.stream_fault == "garbage":
        yield b"event: content-delta\ndata: {this is not json\n\n"
        return
    if reply.stream_fault == "truncate":  # the body ends before message-end
        return
    for i, call in enumerate(calls):
        args = call["function"]["arguments"]
        start = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        yield from pause()
        yield sse(
            {"type": "tool-call-start", "index": i, "delta": {"message": {"tool_calls": start}}}
        )
        for j in range(0, len(args), 5):
            fragment = {"function": {"arguments": args[j : j + 5]}}
            yield sse(
                {
                    "type": "tool-call-delta",
                    "index": i,
                    "delta": {"message": {"tool_calls": fragment}},
                }
            )
        yield sse({"type": "tool-call-end", "index": i})
    yield sse(
        {"id": rid, "type": "message-end", "delta": {"finish_reason": finish, "usage": usage}}
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(c.get("text") or "")
            for c in content
            if isinstance(c, dict) and c.get("type") == "text"
        )
    return ""


def _scripted_error(reply: Reply) -> Response:
    """A scripted failure's status and message as Cohere's error."""
    return _error(reply.status, reply.error, dict(reply.headers))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"message": message}, status, headers)


def client_for(mock: CohereMock, **sections: Any) -> Any:
    """A relaykit client against ``mock`` (no call log, one attempt), with the
    plugin registered directly; ``sections`` add to or replace the config's."""
    import relaykit

    from . import plugin

    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {"cohere": {"base_url": mock.base_url, "api_key": mock.api_key}},
        **sections,
    }
    return relaykit.Client(config, plugins=(plugin,))


__all__ = [
    "EMBED_DIMENSIONS",
    "MODELS",
    "REASONING_MODELS",
    "CohereMock",
    "client_for",
    "sent_reasoning",
]
