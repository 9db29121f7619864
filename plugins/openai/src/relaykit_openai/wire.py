"""Translate between relaykit values and the Chat Completions wire format.

Chat Completions takes images and documents in user messages only: system
content is text, an assistant's text or a refusal, a tool message's text
("Image URLs are only allowed for messages with role 'user', but this message
with role 'assistant' contains an image URL", openai-node#1030). So one in
another role is refused before sending, saying where it goes; a tool result's
attachments go in a user message after the tool messages.

Tool messages answer the calls of the assistant message right before them, each
call answered: OpenAI refuses a tool message that answers no call there ("Invalid
parameter: messages with role 'tool' must be a response to a preceeding message
with 'tool_calls'") and calls left without results ("An assistant message with
'tool_calls' must be followed by tool messages responding to each
'tool_call_id'"), as DeepSeek and Mistral do ("Not the same number of function
calls and responses"). :func:`check_tool_pairs` refuses both before sending, for
the services whose provider says so (``paired_tool_calls``).

Tool call ids go out each once in a request and at most 40 characters (the
provider renames them before writing: :func:`relaykit.tool_ids.unique_tool_ids`):
OpenAI refuses a longer one ("Invalid 'messages[2].tool_calls[0].id': string too
long. Expected a string with maximum length 40", vercel/ai#5171; vLLM's ids have
46), one call answered twice ("Duplicate value for 'tool_call_id' of ...",
agno#5116) and DeepSeek two calls of one message sharing an id (pi#6796); ids
made per answer (relaykit's ``gemini-call-0``, Kimi's ``edit:22``) recur in a
long history. Each result goes out under its call's id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from relaykit import ChatRequest, ChatResponse, InvalidRequestError, Message, Usage
from relaykit.events import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.http_errors import error_status_of
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
from relaykit.messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from relaykit.request import Tool
from relaykit.response import FinishReason, TokenLogprob, no_usage

from . import schemas
from .reasoning import ReasoningStyle, chat_fields, merge_extra
from .web_search import citations

if TYPE_CHECKING:
    from .documents import ChatDocuments

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "model_length": "length",  # Mistral: the context window ran out
    "eos": "stop",  # Together: end of sequence
}


def request_body(
    request: ChatRequest,
    *,
    max_tokens_param: str,
    stream: bool,
    stream_usage: bool,
    cache_control: bool = False,
    documents: ChatDocuments = "data",
    reasoning: ReasoningStyle = "effort",
    search_options: dict[str, Any] | None = None,
    search_tool: dict[str, Any] | None = None,
    strict_schemas: bool = True,
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    With ``cache_control``, cache points become Anthropic-style ``cache_control``
    marks on the content part (or tool) before them, as OpenRouter and LiteLLM
    read them; without it they are left out, since OpenAI caches prompts by itself.
    ``documents`` says how the service takes documents (see :mod:`.documents`);
    one it cannot read raises :class:`~relaykit.InvalidRequestError`.
    ``reasoning`` says how the service takes ``reasoning=`` (see :mod:`.reasoning`).
    ``search_options`` is a search model's ``web_search_options`` and ``search_tool``
    a server tool that searches (OpenRouter's), from :mod:`.web_search`.
    ``strict_schemas``: refuse names and strict schemas OpenAI refuses, before
    sending (:mod:`.schemas`); compatible services keep rules of their own.
    """
    if strict_schemas:
        _check_schemas(request)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request.messages, cache_control, documents),
    }
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
        body["tools"] = [_tool(t, cache_control) for t in request.tools]
    if search_tool is not None:
        body.setdefault("tools", []).append(search_tool)
    if search_options is not None:
        body["web_search_options"] = search_options
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
    if request.reasoning is not None:
        chat_fields(request.reasoning, reasoning, body)
    if stream:
        body["stream"] = True
        if stream_usage:
            body["stream_options"] = {"include_usage": True}
    if request.extra:
        _one_answer(request.extra)
        merge_extra(body, request.extra)
    return body


def _one_answer(extra: dict[str, Any]) -> None:
    # A ChatResponse holds one answer: choice 0 is read (a stream's other indexes
    # are skipped), so the answers past the first would be paid for and dropped.
    n = extra.get("n")
    if n is None or n == 1:
        return
    raise InvalidRequestError(
        f"extra gives n={n!r}: relaykit reads one answer a call, and the others would"
        " be made, billed and dropped",
        param="n",
        hint="drop n from extra: one answer a call; for several, make that many calls"
        " (with a temperature above 0, they differ)",
    )


def _check_schemas(request: ChatRequest) -> None:
    for i, tool in enumerate(request.tools):
        schemas.check_tool(tool, f"tools[{i}].function")
    rf = request.response_format
    if rf is not None and rf.type == "json_schema":
        schemas.check_format(rf)


def _tool(tool: Tool, cache_control: bool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        fn["description"] = tool.description
    if tool.strict is not None:
        fn["strict"] = tool.strict
    if cache_control and tool.cache is not None:
        return {"type": "function", "function": fn, "cache_control": _mark(tool.cache)}
    return {"type": "function", "function": fn}


def _mark(point: CachePoint) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": point.ttl} if point.ttl else {"type": "ephemeral"}


def _mark_last(out: list[dict[str, Any]], point: CachePoint) -> None:
    """Mark the end of the last wire message: a cache point with no part before it
    in its own message ends the prefix there. Text content becomes a list of one
    part to carry the mark."""
    if not out:
        return  # nothing before it: nothing to cache
    content = out[-1].get("content")
    if isinstance(content, str) and content:
        out[-1]["content"] = [{"type": "text", "text": content, "cache_control": _mark(point)}]
    elif isinstance(content, list) and content:
        content[-1]["cache_control"] = _mark(point)


def _marked_content(
    m: Message, out: list[dict[str, Any]], documents: ChatDocuments
) -> list[dict[str, Any]]:
    """``m``'s content as parts, each cache point a mark on the part before it."""
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, CachePoint):
            if parts:
                parts[-1]["cache_control"] = _mark(p)
            else:
                _mark_last(out, p)
        elif not isinstance(p, ToolCall | ReasoningPart):
            parts.append(_part(p, documents))
    return parts


def _messages(
    messages: tuple[Message, ...], cache_control: bool, documents: ChatDocuments
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    attached: list[dict[str, Any]] = []  # the current run of tool messages' attachments
    for i, m in enumerate(messages):
        if m.role == "tool":
            _user_parts_only(m, i)
            # One wire message per result: that is how Chat Completions pairs them.
            for p in m.content:
                if isinstance(p, ToolResultPart):
                    out.append(
                        {"role": "tool", "tool_call_id": p.tool_call_id, "content": p.content}
                    )
                    if p.attachments:
                        attached += _attachment_parts(p, documents)
                elif cache_control and isinstance(p, CachePoint):
                    _mark_last(out, p)
            continue
        if attached:
            out.append({"role": "user", "content": attached})
            attached = []
        if len(m.content) == 1 and type(m.content[0]) is TextPart:
            # Nearly every message: one text part, sent as a plain string.
            if m.name is None:
                out.append({"role": m.role, "content": m.content[0].text})
            else:  # the participant's name, which Chat Completions takes
                out.append({"role": m.role, "name": m.name, "content": m.content[0].text})
            continue
        if m.role != "user":
            _user_parts_only(m, i)
        msg: dict[str, Any] = {"role": m.role}
        if m.name is not None:
            msg["name"] = m.name
        parts = [p for p in m.content if not isinstance(p, ToolCall | ReasoningPart | CachePoint)]
        if cache_control and any(type(p) is CachePoint for p in m.content):
            msg["content"] = _marked_content(m, out, documents)
        elif all(isinstance(p, TextPart) for p in parts):
            msg["content"] = "".join(p.text for p in parts if isinstance(p, TextPart))
        else:
            msg["content"] = [_part(p, documents) for p in parts]
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
    if attached:
        out.append({"role": "user", "content": attached})
    return out


def check_tool_pairs(messages: tuple[Message, ...]) -> None:
    """Refuse tool results that answer no call of the assistant message right before
    them, a call answered twice, and tool calls left without results (see the module
    docstring), naming the call and the fix. A tool run handed back with its last
    calls unanswered never gets here so: the tool loop runs those calls first."""
    asked: tuple[str, ...] | set[str] = ()  # the calls the tool messages may answer
    asked_calls: list[str] = []  # the same, in order, repeats kept
    pending: list[str] = []  # those not answered yet
    made = 0  # the index of the assistant message that made them
    answered: dict[str, int] = {}  # a call answered -> the message holding its result
    for i, m in enumerate(messages):
        role = m.role
        if role == "tool":
            for p in m.content:
                if isinstance(p, ToolResultPart):
                    call_id = p.tool_call_id
                    if call_id not in asked:
                        raise _unpaired_result(call_id, i, made if asked else None)
                    if call_id in pending:
                        pending.remove(call_id)
                    elif call_id in answered and _calls_once(asked_calls, call_id):
                        raise _answered_twice(call_id, answered[call_id], i)
                    answered[call_id] = i
            continue
        if pending:
            raise _unanswered(pending, made)
        if role == "assistant":
            calls = [p.id for p in m.content if isinstance(p, ToolCall)]
            if calls:
                pending, asked, made = calls, set(calls), i
                asked_calls, answered = list(calls), {}
                continue
        asked = ()
    if pending:
        raise _unanswered(pending, made)


#: the assistant turn :func:`bridge_tool_results` sends: short, and saying only
#: what happened, so the model reads it as its own acknowledgement
BRIDGE_TEXT = "I have the tool results."


def bridge_tool_results(body: dict[str, Any]) -> None:
    """Put an assistant message between tool results and a user message right after
    them, in place: Mistral refuses that order ("Unexpected role 'user' after role
    'tool'") where OpenAI and Claude take it, and a history written for them (a
    Claude turn carries tool results and the user's next words together) would
    otherwise fail there mid-conversation (litellm#11386, #17761)."""
    messages = body.get("messages") or []
    bridged: list[Any] = []
    for message in messages:
        if message.get("role") == "user" and bridged and bridged[-1].get("role") == "tool":
            bridged.append({"role": "assistant", "content": BRIDGE_TEXT})
        bridged.append(message)
    if len(bridged) != len(messages):
        body["messages"] = bridged


def mark_prefix(body: dict[str, Any], messages: tuple[Message, ...], service: str) -> None:
    """Send the final assistant message of ``messages`` as a prefill: ``"prefix": true``
    on the last message of ``body`` (Mistral's docs: the answer starts with its text).
    Without it Mistral refuses the request ("Expected last role User or Tool (or
    Assistant with prefix True) for serving but got assistant"); one with no text is
    refused before sending, as Mistral refuses an assistant message with neither
    content nor tool calls."""
    index = len(messages) - 1
    last = body["messages"][-1]
    if not messages[index].text or last.get("role") != "assistant":
        raise InvalidRequestError(
            f"messages[{index}] is an assistant message with no text at the end of the "
            f"conversation, and {service} takes a final assistant message only as the "
            "text its answer starts with",
            param=f"messages[{index}]",
            hint="end the conversation with a user or tool message, or give the final "
            "assistant message the text the answer should start with",
        )
    last["prefix"] = True


def _unpaired_result(call_id: str, index: int, made: int | None) -> InvalidRequestError:
    before = (
        f"the assistant message before it (messages[{made}]) makes no such call"
        if made is not None
        else "no assistant message with tool calls comes right before it"
    )
    return InvalidRequestError(
        f"messages[{index}] holds the result of tool call {call_id!r}, and {before}",
        param=f"messages[{index}]",
        hint="keep the assistant message that makes the call right before its result, "
        "with nothing between (a trimmed history must drop a call and its results "
        "together)",
    )


def _calls_once(calls: list[str], call_id: str) -> bool:
    """Whether one call of ``calls`` has ``call_id`` (an answer giving two calls one
    id, as Kimi's do behind some proxies, has a result for each)."""
    return calls.count(call_id) == 1


def _answered_twice(call_id: str, first: int, index: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"messages[{index}] holds a second result of tool call {call_id!r} (the first is in "
        f"messages[{first}])",
        param=f"messages[{index}]",
        hint="send one result per call: drop the extra tool message, or merge the two "
        "results into one (OpenAI refuses the repeat: \"Duplicate value for 'tool_call_id'\")",
    )


def _unanswered(pending: list[str], made: int) -> InvalidRequestError:
    ids = ", ".join(repr(c) for c in pending)
    calls = "tool call" if len(pending) == 1 else "tool calls"
    return InvalidRequestError(
        f"messages[{made}] makes {calls} {ids} with no result in the tool messages right after it",
        param=f"messages[{made}]",
        hint="add each call's result right after that message (Message.tool(call_id, "
        "text)), or drop the calls; run_tools runs the calls ending a conversation "
        "before it asks the model again",
    )


def _attachment_parts(result: ToolResultPart, documents: ChatDocuments) -> list[dict[str, Any]]:
    """A tool result's images and documents as user content parts, introduced by the
    call they belong to: Chat Completions' tool messages carry text only, so they
    go in a user message right after the run of tool messages."""
    intro = f"Attached to the result of tool call {result.tool_call_id}:"
    return [{"type": "text", "text": intro}, *(_part(a, documents) for a in result.attachments)]


def _user_parts_only(m: Message, index: int) -> None:
    """Refuse a document or an image in a message other than a user's: OpenAI
    takes them in user messages only (a tool message would drop them)."""
    if any(type(p) is DocumentPart for p in m.content):
        from . import documents  # loaded on first use, with the modules it needs

        raise documents.misplaced(m.role, f"messages[{index}]")
    if any(type(p) is ImagePart for p in m.content):
        raise misplaced_image(m.role, f"messages[{index}]", "Chat Completions", "user")


def misplaced_image(role: str, where: str, api: str, takes: str) -> InvalidRequestError:
    """The error for an image in a ``role`` message, which ``api`` takes in ``takes``
    messages only (a tool message's image would otherwise be dropped)."""
    return InvalidRequestError(
        f"{where} is a {role} message with an image, and {api} takes images in {takes} "
        "messages only",
        param=f"{where}.content",
        hint="move the image into a user message (a tool's image: attach it to the tool "
        "result, Message.tool(call_id, text, image))",
    )


def _part(p: Any, documents: ChatDocuments) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if isinstance(p, ImagePart):
        image = {"url": p.data_url()}
        if p.detail is not None:
            image["detail"] = p.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(p, DocumentPart):
        from .documents import chat_part

        return chat_part(p, documents)
    if isinstance(p, ToolResultPart):  # a tool result outside a tool message: send as text
        if p.attachments:
            raise InvalidRequestError(
                "a tool result with attachments is outside a tool message",
                param="messages",
                hint="send tool results in tool messages: Message.tool(call_id, text, image)",
            )
        return {"type": "text", "text": p.content}
    # The client refuses non-parts; a part type newer than this plugin can still come.
    raise InvalidRequestError(
        f"cannot send a {type(p).__name__} to a Chat Completions API",
        param="messages.content",
        hint="send relaykit's parts (TextPart, ImagePart, DocumentPart, ToolResultPart), "
        "or upgrade relaykit-openai for a newer part type",
    )


def usage(data: dict[str, Any] | None, web_searches: int = 0) -> Usage:
    """Normalise a Chat Completions ``usage`` object (``web_searches``: the searches
    billed, which it does not count)."""
    if not data:
        # None reported: no_usage tells the client to estimate the tokens billed
        # (NO_USAGE itself without searches), and keeps the searches' fees
        return no_usage(web_searches)
    prompt = data.get("prompt_tokens_details") or {}
    completion = data.get("completion_tokens_details") or {}
    # DeepSeek counts cache hits in a field of its own
    cached = prompt.get("cached_tokens") or data.get("prompt_cache_hit_tokens") or 0
    inp = count(data.get("prompt_tokens") or 0, "usage.prompt_tokens")
    out = count(data.get("completion_tokens") or 0, "usage.completion_tokens")
    reasoning = count(
        completion.get("reasoning_tokens") or 0,
        "usage.completion_tokens_details.reasoning_tokens",
    )
    return Usage(
        input_tokens=inp,
        output_tokens=out + reasoning_apart(data.get("total_tokens"), inp, out, reasoning),
        cached_input_tokens=count(cached, "usage.prompt_tokens_details.cached_tokens"),
        reasoning_tokens=reasoning,
        web_searches=web_searches,
    )


def reasoning_apart(total: object, inp: int, out: int, reasoning: int) -> int:
    """The reasoning tokens a usage object leaves out of its output count, else 0.

    OpenAI's output count includes them; xAI's does not, and its total counts them
    beside it (``total = input + output + reasoning``). relaykit's output includes
    them (OpenTelemetry's convention), so they are priced: added back here.
    """
    if reasoning and type(total) is int and total == inp + out + reasoning:
        return reasoning
    return 0


def error_status(error: Any) -> int:
    """The HTTP status an ``error`` object inside a status-200 body or a stream stands
    for (OpenRouter reports a failure during generation this way): the core's
    :func:`relaykit.http_errors.error_status_of`."""
    return error_status_of(error)


def content_text(content: Any) -> tuple[str, str]:
    """``(text, reasoning)`` of a message's or delta's ``content``.

    Nearly always a string (or null). Mistral's reasoning models send a list of
    chunks instead: ``{"type": "text", "text"}`` and ``{"type": "thinking",
    "thinking": [text chunks]}``, whose text is reasoning.
    """
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        return "", ""
    text: list[str] = []
    reasoning: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "thinking":
            inner = part.get("thinking")
            reasoning.append(inner if isinstance(inner, str) else content_text(inner)[0])
        elif isinstance(part.get("text"), str):
            text.append(part["text"])
    return "".join(text), "".join(reasoning)


def _tool_call(call: dict[str, Any], index: int) -> ToolCall:
    """A tool call of a non-streamed answer, as OpenAI sends it or as compatible servers
    do: arguments as a JSON object (TGI; llama.cpp's server for a while) and no id (or
    null; the call gets ``call_<index>``, so that its result can pair with it)."""
    fn = call["function"]
    name = fn.get("name")
    name = name if isinstance(name, str) else ""
    arguments = fn.get("arguments")
    if isinstance(arguments, dict):
        return ToolCall(_call_id(call.get("id"), index), name, arguments)
    return ToolCall.from_json_arguments(
        _call_id(call.get("id"), index), name, _arguments_text(arguments)
    )


def _call_id(call_id: object, index: int) -> str:
    """A call's id as sent, or one made up from its place for a call that came without."""
    return call_id if isinstance(call_id, str) and call_id else f"call_{index}"


def _arguments_text(arguments: object) -> str:
    """A call's arguments as JSON text: as OpenAI sends them, or a compatible server's
    JSON value encoded back (an object, which the caller reads as the arguments)."""
    if isinstance(arguments, str):
        return arguments
    return "" if arguments is None else json.dumps(arguments)


def response(data: dict[str, Any], web_searches: int = 0) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed Chat Completions body (``web_searches``:
    the searches billed, one for a search model's answer); a ``ValueError`` for a
    body of the wrong shape or without a choice (``{}``: no answer, not an empty one)."""
    require_answer(data, "a chat.completion", "choices")
    try:
        return _response(data, web_searches)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a chat.completion", e, data, _COMPLETION) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_COMPLETION = {
    "choices": [
        {
            "message": {"tool_calls": [{"function": {}}], "annotations": [{}]},
            "logprobs": {"content": [{"top_logprobs": [{}]}]},
        }
    ],
    "usage": {"prompt_tokens_details": {}, "completion_tokens_details": {}},
}


def _response(data: dict[str, Any], web_searches: int) -> ChatResponse:
    choices = data["choices"]
    if not choices:
        raise ValueError("a chat.completion with no choices: no answer")
    choice = choices[0]
    if choice.get("message") is None and not choice.get("finish_reason"):
        # a message with no content and a finish reason is an empty answer; neither is none
        raise ValueError("a chat.completion whose choice has no 'message': no answer")
    message = choice.get("message") or {}
    raw_calls = message.get("tool_calls")
    calls = tuple([_tool_call(c, i) for i, c in enumerate(raw_calls)]) if raw_calls else ()
    raw_finish = choice.get("finish_reason")
    finish = FINISH_REASONS.get(raw_finish or "", "other")
    if calls and finish == "stop":
        finish = "tool_calls"
    text, reasoning = content_text(message.get("content"))
    reasoning = reasoning or message.get("reasoning_content") or message.get("reasoning") or ""
    if not isinstance(reasoning, str):  # compatible servers name it; only text is reasoning
        raise ValueError(
            f"message.reasoning_content: expected text, got {type(reasoning).__name__}"
        )
    annotations = message.get("annotations")
    # Their indices are into the content, which the refusal (if any) follows.
    cited = tuple(citations(annotations, 0, len(text))) if annotations else ()
    refusal = message.get("refusal")
    if refusal:
        # Structured outputs: the model declined, content is null and finish is
        # "stop". The refusal is the answer; the finish says why it is one.
        text += refusal
        if finish == "stop":
            finish = "content_filter"
    return ChatResponse(
        text=text,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=finish,
        usage=usage(data.get("usage"), web_searches),
        model=text_or_none(data.get("model")) or "",
        id=text_or_none(data.get("id")),
        citations=cited,
        logprobs=token_logprobs(choice.get("logprobs")),
    )


def token_logprobs(given: Any) -> tuple[TokenLogprob, ...]:
    """A choice's ``logprobs.content`` (``null`` unless the call asked for them) as
    :class:`~relaykit.TokenLogprob` values; a ``ValueError`` for one of the wrong shape."""
    content = given.get("content") if given else None
    return tuple([_token_logprob(t, top=True) for t in content]) if content else ()


def _token_logprob(given: dict[str, Any], *, top: bool) -> TokenLogprob:
    raw = given.get("bytes")
    alternatives = given.get("top_logprobs") if top else None
    return TokenLogprob(
        str(given["token"]),
        float(given["logprob"]),
        bytes=bytes(raw) if raw is not None else None,
        top_logprobs=tuple([_token_logprob(a, top=False) for a in alternatives or ()]),
    )


#: delta keys of a chunk that carries text and nothing else
_TEXT_DELTA_KEYS = frozenset(("content", "role", "refusal"))


def text_delta(chunk: dict[str, Any]) -> str | None:
    """The text of a chunk that carries text and nothing else ("" for none), or ``None``.

    Nearly every chunk after the first: one choice whose delta is a piece of
    text. :func:`chunk_events` gives ``[TextDelta(text)]`` (or ``[]`` for "")
    for such a chunk; ``None`` says to ask it. Never an error chunk (no choices).
    A ``ValueError`` for a chunk of the wrong shape.
    """
    try:
        choices = chunk.get("choices")
        if not choices or len(choices) != 1 or chunk.get("usage"):
            return None
        choice = choices[0]
        delta = choice.get("delta")
        if delta is None or choice.get("finish_reason") or choice.get("index", 0) != 0:
            return None
        if len(delta) == 1:
            content = delta.get("content")  # a miss (another key) is None: not text
        elif delta.keys() <= _TEXT_DELTA_KEYS and not delta.get("refusal"):
            content = delta.get("content") or ""
        else:
            return None
    except SHAPE_ERRORS as e:
        raise wrong_shape("a chat.completion.chunk", e) from e
    return content if content is None or isinstance(content, str) else None


class StreamState:
    """What decoding one stream carries from chunk to chunk."""

    __slots__ = (
        "_calls",
        "_id_slots",
        "_identified",
        "_last_call",
        "_last_id",
        "_rejoined",
        "_slot_args",
        "_slot_ids",
        "_slots",
        "finished",
        "logprobs",
        "refused",
        "started",
        "web_searches",
    )

    def __init__(self, web_searches: int = 0, *, logprobs: bool = False) -> None:
        #: the first chunk (with the response id and model) has been read
        self.started = False
        #: the call asked for log probabilities: every chunk goes through
        #: chunk_events, which reads them (text_delta's fast path does not)
        self.logprobs = logprobs
        #: a refusal arrived: a "stop" finish is a content_filter one
        self.refused = False
        #: a finish reason arrived: the answer is whole even if [DONE] never comes
        self.finished = False
        self._calls = 0  # tool call slots opened
        self._last_call = 0
        self._last_id: str | None = None
        self._identified: set[int] = set()  # the slots whose call has an id
        self._slots: dict[int, int] = {}  # a server's index -> the slot it fills now
        self._slot_ids: dict[int, str] = {}  # slot -> the id its call was sent with
        self._id_slots: dict[str, int] = {}  # the reverse: an id -> its call's slot
        #: slot -> its arguments so far, kept for the calls LocalAI sends again
        self._slot_args: dict[int, list[str]] = {}
        #: the last fragment came under a new index with the id of a call already begun
        self._rejoined = False
        #: the searches the call is billed for (a search model's: one), reported
        #: with the finish
        self.web_searches = web_searches

    def call_index(self, call: dict[str, Any]) -> int:
        """The slot of a tool call fragment.

        OpenAI numbers every fragment (``index``) and sends the id only on a
        call's first. Some servers (Gemini's compatible endpoint among them)
        send no ``index``: there a fragment with a new id starts the next call,
        and one without continues the last. Others (vLLM, Ollama's ``/v1``:
        ollama#15457) send each of several calls with ``index`` 0: a
        fragment with a name and an id other than the one its index's call was
        sent with starts the next call too, so that two calls are not merged into
        one whose arguments are ``{...}{...}``. LocalAI (mudler/LocalAI#9722)
        does the opposite: it sends one call's fragments under several indexes,
        each with the call's id (its name under one, its arguments under the
        next, sometimes the whole call again): a new index with the id of a call
        already begun continues that call (see :meth:`arguments`).
        """
        index = call.get("index")
        call_id = call.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        self._rejoined = False
        if isinstance(index, int):
            slot = self._slots.get(index)
            if slot is None and call_id is not None and call_id in self._id_slots:
                # LocalAI: the same call under another index.
                slot = self._id_slots[call_id]
                self._rejoined = True
            elif slot is None:
                # The server's own number while no call took it (calls keep its order).
                slot = self._calls if index in self._slots.values() else index
            elif call_id and self._slot_ids.get(slot, call_id) != call_id and _named(call):
                # A new call under an index already used: it has an id of its own and
                # its name, which only a call's first fragment carries.
                slot = self._calls
            self._slots[index] = slot
            self._calls = max(self._calls, slot + 1)
        elif self._calls and (not call_id or call_id == self._last_id):
            slot = self._last_call
        else:
            slot = self._calls
            self._calls += 1
        self._last_call = slot
        if call_id:
            self._last_id = call_id
            self._slot_ids.setdefault(slot, call_id)
            self._id_slots.setdefault(call_id, slot)
        return slot

    def arguments(self, slot: int, text: str) -> str:
        """The argument text to add to slot ``slot`` for the fragment
        :meth:`call_index` just placed: ``text``, or nothing when LocalAI sent
        a call it had already sent whole again (under another index, with its
        id), which joined to the first would be ``{...}{...}``."""
        if not text:
            return text
        sent = self._slot_args.setdefault(slot, [])
        if self._rejoined and sent and "".join(sent) == text:
            return ""
        sent.append(text)
        return text

    def call_id(self, call_id: object, index: int) -> str | None:
        """The id of slot ``index``'s fragment: the one sent, or for a call that came
        without (a compatible server's) ``call_<index>`` on its first fragment."""
        if index in self._identified and not (isinstance(call_id, str) and call_id):
            return None
        self._identified.add(index)
        return _call_id(call_id, index)


def _named(call: dict[str, Any]) -> bool:
    """Whether a tool call fragment names its function (a call's first does)."""
    fn = call.get("function")
    return isinstance(fn, dict) and isinstance(fn.get("name"), str) and bool(fn["name"])


def text_or_none(value: object) -> str | None:
    """An optional text field of the answer (its id, the model's name), or ``None``
    for null or a value that is not text: the response can do without it."""
    return value if isinstance(value, str) else None


def require_started(state: StreamState) -> None:
    """A ``ValueError`` (a malformed answer) for a stream that reached ``[DONE]``
    with no chunk of an answer (none with choices or usage): ``[DONE]`` alone is no
    empty answer, the server or a proxy sent none."""
    if not state.started:
        raise ValueError("a chat.completion.chunk stream that ended ([DONE]) with no choices")


def has_error(chunk: Any) -> bool:
    """Whether a stream chunk is an ``{"error": ...}`` event; a ``ValueError`` for a
    chunk that is not an object."""
    try:
        return "error" in chunk
    except TypeError as e:  # null, a number (a list or a string is read as a chunk)
        raise wrong_shape("a chat.completion.chunk", e) from e


def input_tokens(data: Any) -> int:
    """The count of an ``input_tokens`` answer (a token count); a ``ValueError`` for
    one of the wrong shape."""
    require_answer(data, "an input_tokens answer", "input_tokens")
    try:
        return count(data["input_tokens"], "input_tokens")
    except SHAPE_ERRORS as e:
        raise wrong_shape("an input_tokens answer", e) from e


def chunk_events(chunk: dict[str, Any], state: StreamState) -> list[StreamEvent]:
    """The stream events in one ``chat.completion.chunk``; a ``ValueError`` for a chunk
    of the wrong shape."""
    if state.started and not state.logprobs:
        text = text_delta(chunk)
        if text is not None:
            return [TextDelta(text)] if text else []
    try:
        return _chunk_events(chunk, state)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a chat.completion.chunk", e) from e


def _chunk_events(chunk: dict[str, Any], state: StreamState) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    if not state.started:
        if not chunk.get("choices") and not chunk.get("usage"):
            # Azure OpenAI opens a stream with its prompt's content filter results
            # (``prompt_filter_results``, no choices, an empty id and model): the
            # response starts with the next chunk, which names them.
            return events
        state.started = True
        events.append(StreamStart(text_or_none(chunk.get("id")), text_or_none(chunk.get("model"))))
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content and not isinstance(content, str):  # Mistral's chunk list
            content, thinking = content_text(content)
            if thinking:
                events.append(ReasoningDelta(thinking))
        if content:
            events.append(TextDelta(content))
        if state.logprobs:
            scored = token_logprobs(choice.get("logprobs"))
            if scored:  # after the text they score
                events.append(LogprobsDelta(scored))
        annotations = delta.get("annotations")
        if annotations:
            # Web search citations, after the text they index: the whole answer's.
            events.extend(citations(annotations))
        refusal = delta.get("refusal")
        if refusal:  # see response(): the refusal is the answer
            state.refused = True
            events.append(TextDelta(refusal))
        for tc in delta.get("tool_calls") or ():
            fn = tc.get("function") or {}
            index = state.call_index(tc)
            name = fn.get("name")
            events.append(
                ToolCallDelta(
                    index,
                    state.call_id(tc.get("id"), index),
                    name if isinstance(name, str) else None,
                    state.arguments(index, _arguments_text(fn.get("arguments"))),
                )
            )
        raw = choice.get("finish_reason")
        if raw:
            state.finished = True
            reason = FINISH_REASONS.get(raw, "other")
            if state.refused and reason == "stop":
                reason = "content_filter"
            if state.web_searches:
                # searches, no tokens: a usage chunk (stream_options) adds them, and
                # without one the client estimates them (no_usage)
                events.append(UsageUpdate(no_usage(state.web_searches)))
            events.append(Finish(reason, raw))
    if chunk.get("usage"):
        events.append(UsageUpdate(usage(chunk["usage"])))
    return events
