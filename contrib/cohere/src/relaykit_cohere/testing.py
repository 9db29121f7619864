"""A loopback server speaking Cohere's v2 Chat wire format, for tests and demos.

``CohereMock`` follows Cohere's public API reference: ``POST /v2/chat`` answers
with a chat response (``message.content`` items, ``tool_plan``, ``tool_calls``,
``finish_reason`` in Cohere's upper-case words, ``usage.billed_units`` and
``usage.tokens``) or, with ``"stream": true``, server-sent events named by type
(``message-start``, ``content-start``/``-delta``/``-end``, ``tool-plan-delta``,
``tool-call-start``/``-delta``/``-end``, ``message-end``); errors are the HTTP
status with ``{"message": ...}``; ``GET /v1/models`` lists models with
``endpoints`` and ``context_length``, paginated by ``page_size``/``page_token``.

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

import anyio

# The submodules, not the lazy ``relaykit.testing`` namespace: those names are typed.
from relaykit.testing.loopback import Drop, Pause, Request, Response
from relaykit.testing.script import Reply
from relaykit.testing.vendor_mock import VendorMock

#: (name, endpoints, context_length) of the models the mock lists.
MODELS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("command-a-03-2025", ("chat",), 256000),
    ("command-r-plus-08-2024", ("chat",), 128000),
    ("command-r-08-2024", ("chat",), 128000),
    ("command-r7b-12-2024", ("chat",), 128000),
    ("command-a-reasoning-08-2025", ("chat",), 256000),
    ("embed-v4.0", ("embed",), 128000),
    ("rerank-v3.5", ("rerank",), 4096),
)

# Cohere has no content-filter finish reason; a scripted one renders as COMPLETE.
_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}


class CohereMock(VendorMock):
    """Cohere at ``base_url`` (``http://127.0.0.1:PORT``, no path: the paths carry ``/v2``)."""

    def __init__(
        self,
        api_key: str | None = None,
        models: tuple[tuple[str, tuple[str, ...], int], ...] = MODELS,
    ) -> None:
        super().__init__(api_key)
        self.models = models
        self._n = 0

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
        return _error(404, f"{request.method} {request.path} not found")

    def _models(self, query: dict[str, str]) -> Response:
        listed = [m for m in self.models if not query.get("endpoint") or query["endpoint"] in m[1]]
        size = int(query.get("page_size") or 20)
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

    async def _chat(self, body: dict[str, Any]) -> Response:
        if not body.get("model"):
            return _error(400, "invalid request: a model parameter is required for this endpoint.")
        turns = body.get("messages") or []
        if not turns:
            return _error(400, "invalid request: messages must not be empty")
        last_user = next(
            (_text(t.get("content")) for t in reversed(turns) if t.get("role") == "user"), ""
        )
        reply = self.script.next(self.default_reply(last_user))
        if reply.delay:
            await anyio.sleep(reply.delay)
        if reply.status >= 400:
            return _error(reply.status, reply.error, dict(reply.headers))
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
        finish = _FINISH.get(reply.finish_reason, "COMPLETE")
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


def _events(
    rid: str, reply: Reply, calls: list[dict[str, Any]], finish: str, usage: dict[str, Any]
) -> Iterator[bytes | Pause | Drop]:
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


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"message": message}, status, headers)


__all__ = ["MODELS", "CohereMock"]
