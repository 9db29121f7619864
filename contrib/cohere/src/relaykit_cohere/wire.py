"""Translation between relaykit values and Cohere's v2 Chat JSON.

Everything that knows Cohere's field names lives here: the request body, the
non-streamed response, usage and finish reasons, and :class:`StreamParser`,
which turns the bytes of a streamed response into relaykit stream events.

Cohere reads documents as text only, in the request-wide ``documents`` list it
grounds (and cites) its answer in: a text :class:`~relaykit.DocumentPart`
becomes one of its entries; a PDF, or a document by URL, is refused before
anything is sent. It takes images in user messages only: one in a system or
assistant message is refused before sending too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import relaykit
from relaykit.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.json_decode import SHAPE_ERRORS, require_answer, wrong_shape
from relaykit.messages import (
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
    misplaced_part,
    refuse_names,
)
from relaykit.response import NO_USAGE, FinishReason
from relaykit.sse import ServerSentEvent, SSEDecoder

from . import thinking

#: Cohere's ``finish_reason`` values, normalised. ``TIMEOUT`` ends a response as
#: ``"other"``; ``ERROR`` (the generation failed) is an error, a
#: ProviderUnavailableError (a StreamError once a stream's text has come), 502.
FINISH_REASONS: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "other",
    "TIMEOUT": "other",
}


#: the API's name in the errors raised before sending
API = "Cohere's v2 Chat API"


def finish_reason(raw: str | None) -> FinishReason:
    """relaykit's finish reason for Cohere's ``finish_reason``."""
    return FINISH_REASONS.get(raw, "other") if raw else "stop"


# -- requests ------------------------------------------------------------------


def request_body(request: relaykit.ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /v2/chat`` for ``request``."""
    refuse_names(request.messages, "Cohere's Chat API")
    body: dict[str, Any] = {"model": request.model, "messages": messages(request.messages)}
    grounding = documents(request.messages)
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    tools = list(request.tools)
    choice = request.tool_choice
    if tools and choice is not None:
        if choice.mode == "none":
            body["tool_choice"] = "NONE"
        elif choice.mode == "required":
            body["tool_choice"] = "REQUIRED"
        elif choice.mode == "tool":
            # Cohere cannot force one named tool: offer only that tool, and require a call.
            tools = [t for t in tools if t.name == choice.name]
            if not tools:
                raise relaykit.InvalidRequestError(
                    f"tool_choice names {choice.name!r}, which is not in `tools`",
                    param="tool_choice",
                )
            body["tool_choice"] = "REQUIRED"
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in tools
        ]
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "text":
            body["response_format"] = {"type": "text"}
        elif fmt.type == "json_object" or not fmt.schema:
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {"type": "json_object", "json_schema": fmt.schema}
    if request.reasoning is not None:
        body["thinking"] = thinking.field(request.reasoning)
    body["stream"] = stream
    body.update(request.extra)
    if grounding:
        # The caller's own `documents` (in extra) come after the messages' ones, not instead.
        body["documents"] = grounding + list(request.extra.get("documents") or ())
    return body


def documents(items: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The text documents in ``items``, in order, as entries of Cohere's ``documents``.

    Each is ``{"id": its name, "data": {"title": its file name, "text": its
    text}}``: the id (what Cohere's citations name) only when the caller named
    the document and no earlier one has that name; Cohere makes one up
    otherwise. Raises :class:`relaykit.InvalidRequestError` for a document
    Cohere cannot read: a PDF (or any type but text), one given by URL, or
    text that is not UTF-8.
    """
    out: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, m in enumerate(items):
        for j, part in enumerate(m.content):
            if not isinstance(part, DocumentPart):
                continue
            where = f"messages[{i}].content[{j}]"
            entry: dict[str, Any] = {
                "data": {"title": part.filename, "text": _document_text(part, where)}
            }
            if part.name and part.name not in ids:
                ids.add(part.name)
                entry["id"] = part.name
            out.append(entry)
    return out


def _document_text(part: DocumentPart, where: str) -> str:
    """The text of a document Cohere can read; the error naming the fix for one it cannot."""
    if part.media_type != "text/plain" or part.data is None:
        what = "given by URL" if part.data is None else f"a {part.media_type} document"
        raise relaykit.InvalidRequestError(
            f"{where} is {what} ({part.filename}), and Cohere reads text documents only:"
            " extract its text yourself and send it as DocumentPart(data=text.encode(),"
            " media_type='text/plain'), or route the call to a provider that reads PDFs"
            " (Anthropic, OpenAI, Gemini, Bedrock)",
            param=where,
        )
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise relaykit.InvalidRequestError(
            f"{where}: the text document {part.filename} is not UTF-8; decode it yourself"
            " and send it as UTF-8",
            param=where,
        ) from e


def messages(items: tuple[Message, ...]) -> list[dict[str, Any]]:
    """relaykit messages as Cohere's ``messages`` list.

    Tool results become ``tool`` messages wherever they appear. Reasoning sent back
    on an assistant turn with tool calls becomes its ``tool_plan``; other reasoning
    is dropped (Cohere does not need it back). Documents are left out: they go in
    the request's ``documents`` (see :func:`documents`).
    """
    out: list[dict[str, Any]] = []
    for index, m in enumerate(items):
        for part in m.content:
            if isinstance(part, ToolResultPart):
                if part.attachments:
                    raise relaykit.InvalidRequestError(
                        f"the result of tool call {part.tool_call_id} has attachments, and"
                        " Cohere's tool results are text: describe the image or document in"
                        " the result's text, or route the call to a provider that reads them"
                        " (Anthropic, OpenAI, Gemini, Bedrock)",
                        param="messages",
                    )
                out.append(
                    {"role": "tool", "tool_call_id": part.tool_call_id, "content": part.content}
                )
        if m.role == "tool":
            continue
        if m.role != "user":
            _text_only(m, index)
        if m.role == "system":
            out.append({"role": "system", "content": m.text})
        elif m.role == "assistant":
            out.append(_assistant(m))
        else:
            content = _user_content(m)
            if content is not None:
                out.append({"role": "user", "content": content})
    return out


def _text_only(m: Message, index: int) -> None:
    """Refuse an image in a system or assistant message: Cohere takes images in user
    messages only (its system and assistant content is text), and ``m.text`` would
    leave it out."""
    for j, p in enumerate(m.content):
        if isinstance(p, ImagePart):
            raise misplaced_part(m.role, p, f"messages[{index}].content[{j}]", api=API)


def _assistant(m: Message) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": "assistant"}
    if m.text or not m.tool_calls:
        turn["content"] = m.text
    if m.tool_calls:
        plan = "".join(p.text for p in m.content if isinstance(p, ReasoningPart))
        if plan:
            turn["tool_plan"] = plan
        turn["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.raw_arguments
                    if c.raw_arguments is not None
                    else json.dumps(c.arguments, ensure_ascii=False),
                },
            }
            for c in m.tool_calls
        ]
    return turn


def _user_content(m: Message) -> str | list[dict[str, Any]] | None:
    parts = [p for p in m.content if isinstance(p, TextPart | ImagePart)]
    if not parts:
        return None if m.content else ""
    if all(isinstance(p, TextPart) for p in parts):
        return m.text
    return [
        {"type": "text", "text": p.text}
        if isinstance(p, TextPart)
        else {"type": "image_url", "image_url": {"url": p.data_url()}}
        for p in parts
    ]


# -- responses -----------------------------------------------------------------


def _count(units: Mapping[str, Any] | None, key: str) -> int:
    value = (units or {}).get(key)
    return int(value) if isinstance(value, int | float) else 0


def usage(data: Mapping[str, Any] | None) -> relaykit.Usage:
    """relaykit usage from Cohere's ``usage``.

    Cohere reports ``billed_units`` (what is charged, and so what cost is computed
    from) and ``tokens`` (everything processed, including its prompt template).
    Billed units are used when present. Cohere reports neither cached input nor
    reasoning tokens apart, so those stay 0.
    """
    data = data or {}
    billed = data.get("billed_units") or {}
    tokens = data.get("tokens") or {}
    source = billed if ("input_tokens" in billed or "output_tokens" in billed) else tokens
    if "input_tokens" not in source and "output_tokens" not in source:
        # None reported: NO_USAGE tells the client to estimate what was billed
        return NO_USAGE
    return relaykit.Usage(
        input_tokens=_count(source, "input_tokens"),
        output_tokens=_count(source, "output_tokens"),
    )


def tool_call(data: Mapping[str, Any]) -> ToolCall:
    """A ToolCall from one of Cohere's ``tool_calls`` entries."""
    fn = data.get("function") or {}
    return ToolCall.from_json_arguments(
        str(data.get("id") or ""), str(fn.get("name") or ""), str(fn.get("arguments") or "")
    )


def text_or_none(value: object) -> str | None:
    """An optional text field of the answer (its id), or ``None`` for null or a value
    that is not text: the response can do without it."""
    return value if isinstance(value, str) else None


#: the status a generation that failed (``finish_reason: "ERROR"``) stands for, as a
#: 200 body's error does elsewhere: the upstream's failure, a bad gateway
FAILED_STATUS = 502


def response(
    data: Mapping[str, Any], model: str, provider: str = "cohere"
) -> relaykit.ChatResponse:
    """A ChatResponse from a non-streamed ``/v2/chat`` response; a ``ValueError`` for
    one of the wrong shape, a :class:`relaykit.ProviderUnavailableError` for one
    whose generation failed (``finish_reason: "ERROR"``, with status 200)."""
    if isinstance(data, Mapping) and data.get("finish_reason") == "ERROR":
        raise relaykit.ProviderUnavailableError(
            "Cohere ended the answer with finish_reason ERROR: the generation failed",
            provider=provider,
            model=model,
            status=FAILED_STATUS,
        )
    require_answer(data, "a /v2/chat answer", "message")  # {}: no answer, not an empty one
    try:
        return _response(data, model)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a /v2/chat answer", e, data, _CHAT) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_CHAT = {"message": {"tool_calls": [{"function": {}}]}, "usage": {"billed_units": {}, "tokens": {}}}


def _response(data: Mapping[str, Any], model: str) -> relaykit.ChatResponse:
    message = data.get("message") or {}
    content = message.get("content") or []
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    text = "".join(str(c.get("text") or "") for c in content if c.get("type") == "text")
    thought = "".join(str(c.get("thinking") or "") for c in content if c.get("type") == "thinking")
    reasoning = thought + str(message.get("tool_plan") or "")
    calls = tuple(tool_call(c) for c in message.get("tool_calls") or ())
    return relaykit.ChatResponse(
        text=text,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=finish_reason(data.get("finish_reason")),
        usage=usage(data.get("usage")),
        model=model,
        id=text_or_none(data.get("id")),
    )


# -- streams -------------------------------------------------------------------


class StreamParser:
    """Cohere's server-sent events, fed as bytes in any chunking, as relaykit events.

    :meth:`feed` takes the body's bytes as they arrive and returns the events they
    complete; :attr:`done` turns true at ``message-end``. :meth:`close` is for the
    end of the body: it decodes a final event the server did not terminate, and
    raises :class:`relaykit.StreamError` if ``message-end`` never came. An error
    reported by ``message-end`` raises StreamError too. One read may carry
    events and then an error (aiohttp hands over whatever is buffered): the
    events come back first, and the error is raised by the next :meth:`feed` or
    :meth:`close`.
    """

    def __init__(self, *, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.done = False
        self._began = False  # an event came before message-end: what ends is an answer
        self._sse = SSEDecoder()
        self._tool_index: dict[int, int] = {}  # Cohere's tool-call index -> ours
        #: an error met after other events in the same read, raised on the next call
        self._error_pending: relaykit.StreamError | None = None

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Decode ``chunk``; return the events it completes."""
        self._raise_pending()
        return self._decode(self._sse.feed(chunk))

    def close(self) -> list[StreamEvent]:
        """The body ended: events still buffered, or StreamError if it ended early."""
        self._raise_pending()
        out: list[StreamEvent] = []
        if not self.done:  # at most one event is left (one without its blank line)
            for sse in self._sse.flush():
                try:
                    out.extend(self._event(sse))
                except SHAPE_ERRORS as e:
                    raise wrong_shape(f"a {sse.event} event", e) from e
        if not self.done:
            raise relaykit.StreamError(
                "the stream ended before Cohere's message-end event",
                provider=self.provider,
                model=self.model,
            )
        return out

    def _raise_pending(self) -> None:
        if self._error_pending is not None:
            error, self._error_pending = self._error_pending, None
            raise error

    def _decode(self, events: list[ServerSentEvent]) -> list[StreamEvent]:
        """The events of ``events``; an error after some of them waits for the next call."""
        out: list[StreamEvent] = []
        for sse in events:
            if self.done:
                break
            try:
                out.extend(self._event(sse))
            except relaykit.StreamError as e:
                if not out:
                    raise
                self._error_pending = e
                break
            except SHAPE_ERRORS as e:
                raise wrong_shape(f"a {sse.event} event", e) from e
        return out

    def _event(self, sse: ServerSentEvent) -> list[StreamEvent]:
        try:
            data = json.loads(sse.data)
        except ValueError as e:
            raise relaykit.StreamError(
                f"Cohere sent an event that is not JSON: {sse.data[:200]!r}",
                provider=self.provider,
                model=self.model,
            ) from e
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or sse.event
        delta = data.get("delta") or {}
        message = delta.get("message") or {}
        if kind != "message-end":
            self._began = True
        if kind == "message-start":
            return [StreamStart(text_or_none(data.get("id")), self.model)]
        if kind in ("content-start", "content-delta"):  # a start's text is usually ""
            content = message.get("content")
            if not isinstance(content, dict):  # message-start-like empty lists
                return []
            out: list[StreamEvent] = []
            if content.get("thinking"):
                out.append(ReasoningDelta(str(content["thinking"])))
            if content.get("text"):
                out.append(TextDelta(str(content["text"])))
            return out
        if kind == "tool-plan-delta":
            plan = message.get("tool_plan")
            return [ReasoningDelta(str(plan))] if plan else []
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            fn = call.get("function") or {}
            index = len(self._tool_index)
            self._tool_index[_index(data, index)] = index
            return [
                ToolCallDelta(
                    index,
                    id=call.get("id"),
                    name=fn.get("name"),
                    arguments=str(fn.get("arguments") or ""),
                )
            ]
        if kind == "tool-call-delta":
            fn = (message.get("tool_calls") or {}).get("function") or {}
            fragment = str(fn.get("arguments") or "")
            key = _index(data, len(self._tool_index) - 1)
            index = self._tool_index.get(key, max(len(self._tool_index) - 1, 0))
            return [ToolCallDelta(index, arguments=fragment)] if fragment else []
        if kind == "message-end":
            self.done = True
            raw = delta.get("finish_reason")
            if raw == "ERROR" or delta.get("error"):
                # A 502's status: before any text reached the caller, the core makes it
                # the ProviderUnavailableError a non-streamed answer's ERROR is.
                said = str(delta.get("error") or "")
                raise relaykit.StreamError(
                    said or "Cohere ended the stream with finish_reason ERROR",
                    provider=self.provider,
                    model=self.model,
                    status=FAILED_STATUS,
                    provider_message=said or None,
                    retryable=True,
                )
            if not self._began:
                # a message-end alone is no empty answer: the proxy or server sent none
                raise ValueError("a /v2/chat stream that ended (message-end) with nothing before")
            out = []
            if delta.get("usage"):
                out.append(UsageUpdate(usage(delta["usage"])))
            out.append(Finish(finish_reason(raw), raw))
            return out
        # content-end, tool-call-end, citation-*, debug: nothing to add
        return []


def _index(data: Mapping[str, Any], default: int) -> int:
    value = data.get("index")
    return value if isinstance(value, int) else default
