"""Translate between relaykit values and Ollama's ``/api/chat`` wire format.

Ollama's messages are flat: ``content`` is a string, images ride beside it as
base64 strings, tool-call ``arguments`` are JSON *objects* (not text), and a
tool result is a ``tool`` message naming the tool in ``tool_name``. Ollama
gives calls no ids, so ids are made up from each call's position in the
response (``call_0``, ``call_1``, ...): the same reply always gets the same ids.
Ids go back with the history (``tool_calls[].id``, ``tool_call_id``) for
servers that know them; older ones ignore fields they do not know.
Ollama reads no documents (a message carries text and images only), so a
:class:`~relaykit.DocumentPart` is refused before anything is sent.

Nothing else is mended or refused: Ollama checks nothing of a conversation's
shape (server/routes.go hands the messages to the model's template as they
are; server/prompt.go takes every message's images, whatever its role), so
empty or whitespace text, images in assistant or system turns, two turns of
one role and a system message mid-way are sent as the caller wrote them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from relaykit import ChatRequest, ChatResponse, InvalidRequestError, Message, Tool, Usage
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
from relaykit.messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    ToolCall,
    ToolResultPart,
    refuse_names,
)
from relaykit.response import NO_USAGE, FinishReason

from . import thinking
from .schemas import format_schema

FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length"}

#: Prefix of the call ids made up for Ollama's id-less tool calls.
SYNTHETIC_ID_PREFIX = "call_"


# -- request -------------------------------------------------------------------


def request_body(
    request: ChatRequest,
    *,
    stream: bool,
    options: Mapping[str, Any] | None = None,
    think: bool | str | None = None,
    keep_alive: str | int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat`` for ``request``.

    ``options`` holds provider-level model options (``num_ctx``) that the
    request's own sampling parameters add to. ``think`` is the provider's
    configured value; the request's ``reasoning=`` replaces it (see
    :mod:`relaykit_ollama.thinking`).
    """
    refuse_names(request.messages, "Ollama's chat API")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages(request.messages),
        "stream": stream,  # Ollama streams unless told not to
    }
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    rf = request.response_format
    if rf is not None and rf.type == "json_schema":
        body["format"] = format_schema(rf.schema or {})
    elif rf is not None and rf.type == "json_object":
        body["format"] = "json"
    opts = dict(options or {})
    if request.max_tokens is not None:
        opts["num_predict"] = request.max_tokens
    if request.temperature is not None:
        opts["temperature"] = request.temperature
    if request.top_p is not None:
        opts["top_p"] = request.top_p
    if request.stop:
        opts["stop"] = list(request.stop)
    if request.seed is not None:
        opts["seed"] = request.seed
    if opts:
        body["options"] = opts
    if request.reasoning is not None:
        think = thinking.think(request.reasoning, request.model)
    if think is not None:
        body["think"] = think
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    merge_extra(body, request.extra)
    return body


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge the caller's ``extra`` into ``body`` one level deep, so
    ``extra={"options": {"top_k": 20}}`` adds to the options."""
    for key, value in extra.items():
        current = body.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            current.update(value)
        else:
            body[key] = value


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    # Ollama has no tool_choice: "none" is honoured by not offering the tools;
    # "required" and a tool's name cannot be, and are refused rather than dropped.
    choice = request.tool_choice
    if not request.tools or (choice is not None and choice.mode == "none"):
        return []
    if choice is not None and choice.mode in ("required", "tool"):
        what = "'required'" if choice.mode == "required" else f"the tool {choice.name!r}"
        raise InvalidRequestError(
            f"Ollama cannot make the model call a tool (it has no tool_choice): "
            f"tool_choice={what} would be lost",
            param="tool_choice",
            hint="leave tool_choice unset or 'auto' (the model decides; offer only the tool"
            " you want and ask for it in the prompt), or, for an answer of a fixed shape,"
            " use response_format=, which Ollama enforces",
        )
    tools: Sequence[Tool] = request.tools
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The ``messages`` list for ``messages``: one wire message per tool result.

    Raises :class:`~relaykit.InvalidRequestError` for a document, which Ollama
    cannot read.
    """
    _refuse_documents(messages)
    out: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # call id -> tool name, as seen so far
    # Tool results' images, for a user message after the run of results: a tool
    # message's images are not shown to the model by every model's template.
    attached: dict[str, Any] = {"role": "user", "content": "", "images": []}
    for i, m in enumerate(messages):
        for call in m.tool_calls:
            call_names[call.id] = call.name
        results = [p for p in m.content if isinstance(p, ToolResultPart)]
        for p in results:
            msg: dict[str, Any] = {
                "role": "tool",
                "content": p.content,
                "tool_call_id": p.tool_call_id,
            }
            if p.tool_call_id in call_names:
                msg["tool_name"] = call_names[p.tool_call_id]
            out.append(msg)
            if p.attachments:
                n = len(p.attachments)
                intro = f"The result of tool call {p.tool_call_id} came with {n} image"
                intro += "s, attached here." if n > 1 else ", attached here."
                attached["content"] += ("\n" if attached["content"] else "") + intro
                attached["images"] += [_image(a, f"messages[{i}]") for a in p.attachments]  # type: ignore[arg-type]  # documents were refused
        if m.role == "tool" or (results and len(results) == _sendable(m.content)):
            continue  # nothing left to send but the results
        if attached["images"]:
            out.append(attached)
            attached = {"role": "user", "content": "", "images": []}
        out.append(_message(m, f"messages[{i}]"))
    if attached["images"]:
        out.append(attached)
    return out


def _refuse_documents(messages: Sequence[Message]) -> None:
    """Raise :class:`~relaykit.InvalidRequestError` naming the first document in ``messages``.

    Ollama's ``/api/chat`` messages carry ``content`` text and ``images`` only:
    a document would otherwise be dropped without a word, and the model would
    answer as if it had read it.
    """
    for i, m in enumerate(messages):
        for j, part in enumerate(m.content):
            attachments = part.attachments if isinstance(part, ToolResultPart) else ()
            for p in (part, *attachments):
                if not isinstance(p, DocumentPart):
                    continue
                where = f"messages[{i}].content[{j}]"
                raise InvalidRequestError(
                    f"{where} is a document ({p.filename}), and Ollama's chat API reads no"
                    " documents: extract its text yourself and send it as a TextPart (for a"
                    " PDF, with a PDF-to-text tool), or route the call to a provider that"
                    " reads documents (Anthropic, OpenAI, Gemini, Bedrock)",
                    param=where,
                )


def _sendable(parts: Sequence[Part]) -> int:
    """How many of ``parts`` are content: cache points are not (Ollama has no
    prompt cache to mark; it keeps the last prompt's state by itself)."""
    return sum(not isinstance(p, CachePoint) for p in parts)


def _message(m: Message, where: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": m.role, "content": m.text}
    images = [_image(p, where) for p in m.content if isinstance(p, ImagePart)]
    if images:
        msg["images"] = images
    thought = "".join(p.text for p in m.content if isinstance(p, ReasoningPart))
    if thought:
        msg["thinking"] = thought
    calls = m.tool_calls
    if calls:
        msg["tool_calls"] = [
            {"id": c.id, "function": {"index": i, "name": c.name, "arguments": _arguments(c)}}
            for i, c in enumerate(calls)
        ]
    return msg


def _arguments(call: ToolCall) -> dict[str, Any]:
    if call.raw_arguments is not None and not call.arguments:
        return {"raw_arguments": call.raw_arguments}  # the model's broken JSON, kept as text
    return call.arguments


def _image(p: ImagePart, where: str) -> str:
    if p.data is not None:
        return base64.b64encode(p.data).decode()
    assert p.url is not None
    head, comma, data = p.url.partition(",")
    if p.url.startswith("data:") and comma and head.endswith(";base64"):
        return data
    raise InvalidRequestError(
        f"{where}: Ollama takes images as bytes, not URLs; download the image and pass "
        "ImagePart(data=..., media_type=...)",
        param=f"{where}.content.image",
    )


# -- response ------------------------------------------------------------------


def finish_reason(raw: str | None, *, has_calls: bool) -> FinishReason:
    """relaykit's finish reason for Ollama's ``done_reason``.

    Ollama ends a turn that calls tools with ``stop``; relaykit says ``tool_calls``.
    Old servers send no ``done_reason`` at all, which means a natural stop.
    """
    reason = FINISH_REASONS.get(raw or "stop", "other")
    if has_calls and reason == "stop":
        return "tool_calls"
    return reason


def usage(data: Mapping[str, Any], prompt_tokens: int = 0) -> Usage:
    """Token counts from a final (``done``) object.

    ``eval_count`` counts every generated token, thinking included, with no
    separate count of either, so reasoning tokens stay 0. ``prompt_eval_count``
    is the whole prompt (Ollama counts it so, its KV cache or not, since
    ollama#5371); servers from before that leave it out when the cache served
    the whole prompt (ollama#2068, #3427): the prompt is then ``prompt_tokens``,
    relaykit's estimate (:func:`relaykit.request.estimate_prompt_tokens`), all of
    it read from the cache, and the answer says so (:func:`prompt_unreported`).
    Reading it as 0 counted the call's prompt as free in limits, metrics and
    records. Newer servers count the part of the prompt their prefix cache
    served in ``prompt_eval_cached_count``, inside ``prompt_eval_count``: the
    usage's cached input (capped at the prompt, which it is part of).
    """
    prompt = data.get("prompt_eval_count")
    if prompt is None and data.get("eval_count") is None:
        # None reported (a server that leaves the counts out): NO_USAGE tells the
        # client to estimate what was billed
        return NO_USAGE
    output = count(data.get("eval_count") or 0, "eval_count")
    if prompt is None:
        return Usage(prompt_tokens, output, cached_input_tokens=prompt_tokens)
    prompt = count(prompt, "prompt_eval_count")
    cached = count(data.get("prompt_eval_cached_count") or 0, "prompt_eval_cached_count")
    return Usage(prompt, output, cached_input_tokens=min(cached, prompt))


def prompt_unreported(data: Mapping[str, Any]) -> bool:
    """Whether a final object counts the answer but not the prompt: :func:`usage`
    estimated the prompt's tokens."""
    return data.get("prompt_eval_count") is None and data.get("eval_count") is not None


def tool_call(call: Mapping[str, Any], index: int) -> ToolCall:
    """A :class:`ToolCall` from one of ``message.tool_calls``, the ``index``-th of its response."""
    fn = call.get("function") or {}
    call_id = str(call.get("id") or f"{SYNTHETIC_ID_PREFIX}{index}")
    name = str(fn.get("name") or "")
    args = fn.get("arguments")
    if isinstance(args, str):  # some proxies pass arguments on as JSON text
        return ToolCall.from_json_arguments(call_id, name, args)
    if isinstance(args, dict):
        return ToolCall(id=call_id, name=name, arguments=args)
    if args is None:
        return ToolCall(id=call_id, name=name)
    return ToolCall(id=call_id, name=name, raw_arguments=json.dumps(args))


def response(data: Mapping[str, Any], prompt_tokens: int = 0) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed ``/api/chat`` object; a ``ValueError``
    for one of the wrong shape or without its ``message`` (``{}``: no answer)."""
    require_answer(data, "an /api/chat answer", "message")
    try:
        return _response(data, prompt_tokens)
    except SHAPE_ERRORS as e:
        raise wrong_shape("an /api/chat answer", e, data, _CHAT) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_CHAT: dict[str, Any] = {"message": {"tool_calls": [{"function": {}}]}}


def text(value: object, where: str) -> str:
    """A text field of the answer (``""`` for null or absent), or a ``ValueError``
    naming ``where`` for a value that is not text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    raise ValueError(f"{where}: expected text, got {type(value).__name__}")


def _response(data: Mapping[str, Any], prompt_tokens: int) -> ChatResponse:
    message = data.get("message") or {}
    calls = tuple(tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or ()))
    return ChatResponse(
        text=text(message.get("content"), "message.content"),
        reasoning=text(message.get("thinking"), "message.thinking"),
        tool_calls=calls,
        finish_reason=finish_reason(data.get("done_reason"), has_calls=bool(calls)),
        usage=usage(data, prompt_tokens),
        usage_estimated=prompt_unreported(data),
        model=str(data.get("model") or ""),
    )
