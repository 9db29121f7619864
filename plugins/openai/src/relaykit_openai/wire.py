"""Translate between relaykit values and the Chat Completions wire format."""

from __future__ import annotations

import json
from typing import Any

from relaykit import ChatRequest, ChatResponse, Message, Usage
from relaykit.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.messages import ImagePart, ReasoningPart, TextPart, ToolCall, ToolResultPart
from relaykit.response import FinishReason

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def request_body(
    request: ChatRequest, *, max_tokens_param: str, stream: bool, stream_usage: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``."""
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request.messages)}
    if request.max_tokens is not None:
        body[max_tokens_param] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        tc = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tc.name}} if tc.mode == "tool" else tc.mode
        )
    rf = request.response_format
    if rf is not None:
        if rf.type == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": rf.name, "schema": rf.schema or {}, "strict": rf.strict},
            }
        else:
            body["response_format"] = {"type": rf.type}
    if stream:
        body["stream"] = True
        if stream_usage:
            body["stream_options"] = {"include_usage": True}
    if request.extra:
        body.update(request.extra)
    return body


def _tool(tool: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        fn["description"] = tool.description
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            # One wire message per result: that is how Chat Completions pairs them.
            for p in m.content:
                if isinstance(p, ToolResultPart):
                    out.append(
                        {"role": "tool", "tool_call_id": p.tool_call_id, "content": p.content}
                    )
            continue
        if len(m.content) == 1 and type(m.content[0]) is TextPart:
            # Nearly every message: one text part, sent as a plain string.
            out.append({"role": m.role, "content": m.content[0].text})
            continue
        parts = [p for p in m.content if not isinstance(p, ToolCall | ReasoningPart)]
        msg: dict[str, Any] = {"role": m.role}
        if all(isinstance(p, TextPart) for p in parts):
            msg["content"] = "".join(p.text for p in parts if isinstance(p, TextPart))
        else:
            msg["content"] = [_part(p) for p in parts]
        calls = m.tool_calls
        if calls:
            msg["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.raw_arguments
                        if c.raw_arguments is not None
                        else json.dumps(c.arguments),
                    },
                }
                for c in calls
            ]
            if not parts:
                msg["content"] = None
        out.append(msg)
    return out


def _part(p: Any) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if isinstance(p, ImagePart):
        return {"type": "image_url", "image_url": {"url": p.data_url()}}
    if isinstance(p, ToolResultPart):  # a tool result outside a tool message: send as text
        return {"type": "text", "text": p.content}
    raise TypeError(f"cannot send {type(p).__name__} to a Chat Completions API")


def usage(data: dict[str, Any] | None) -> Usage:
    """Normalise a Chat Completions ``usage`` object."""
    if not data:
        return Usage()
    prompt = data.get("prompt_tokens_details") or {}
    completion = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=data.get("prompt_tokens") or 0,
        output_tokens=data.get("completion_tokens") or 0,
        cached_input_tokens=prompt.get("cached_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
    )


def response(data: dict[str, Any]) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed Chat Completions body."""
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    raw_calls = message.get("tool_calls")
    calls = (
        tuple(
            [
                ToolCall.from_json_arguments(
                    c.get("id", ""), c["function"]["name"], c["function"].get("arguments") or ""
                )
                for c in raw_calls
            ]
        )
        if raw_calls
        else ()
    )
    raw_finish = choice.get("finish_reason")
    finish = FINISH_REASONS.get(raw_finish or "", "other")
    if calls and finish == "stop":
        finish = "tool_calls"
    return ChatResponse(
        text=message.get("content") or "",
        reasoning=message.get("reasoning_content") or message.get("reasoning") or "",
        tool_calls=calls,
        finish_reason=finish,
        usage=usage(data.get("usage")),
        model=data.get("model") or "",
        id=data.get("id"),
    )


#: delta keys of a chunk that carries text and nothing else
_TEXT_DELTA_KEYS = frozenset(("content", "role", "refusal"))


def text_delta(chunk: dict[str, Any]) -> str | None:
    """The text of a chunk that carries text and nothing else ("" for none), or ``None``.

    Nearly every chunk after the first: one choice whose delta is a piece of
    text. :func:`chunk_events` gives ``[TextDelta(text)]`` (or ``[]`` for "")
    for such a chunk; ``None`` says to ask it. Never an error chunk (no choices).
    """
    choices = chunk.get("choices")
    if not choices or len(choices) != 1 or chunk.get("usage"):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if delta is None or choice.get("finish_reason") or choice.get("index", 0) != 0:
        return None
    if len(delta) == 1:
        content = delta.get("content")  # a miss (another key) is None: not text
    elif delta.keys() <= _TEXT_DELTA_KEYS:
        content = delta.get("content") or ""
    else:
        return None
    return content if content is None or isinstance(content, str) else None


def chunk_events(chunk: dict[str, Any], started: bool) -> list[StreamEvent]:
    """The stream events in one ``chat.completion.chunk``."""
    if started:
        text = text_delta(chunk)
        if text is not None:
            return [TextDelta(text)] if text else []
    events: list[StreamEvent] = []
    if not started:
        events.append(StreamStart(chunk.get("id"), chunk.get("model")))
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            events.append(TextDelta(content))
        for tc in delta.get("tool_calls") or ():
            fn = tc.get("function") or {}
            events.append(
                ToolCallDelta(
                    tc.get("index", 0), tc.get("id"), fn.get("name"), fn.get("arguments") or ""
                )
            )
        raw = choice.get("finish_reason")
        if raw:
            events.append(Finish(FINISH_REASONS.get(raw, "other"), raw))
    if chunk.get("usage"):
        events.append(UsageUpdate(usage(chunk["usage"])))
    return events
