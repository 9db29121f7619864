"""Translate between relaykit values and OpenAI's Responses wire format (``POST /responses``).

Stateless: every call sends the whole conversation in ``input`` with
``store: false``, as the Chat Completions path does. Choices this module makes:

- System messages stay where they are, as ``{"role": "system"}`` items
  (``instructions`` is not used): the order of the conversation is kept, and
  OpenAI reads them as developer messages for reasoning models.
- User and system text is ``input_text``, images ``input_image`` (their URL or
  a ``data:`` URL), documents ``input_file`` (a ``data:`` URL with its file
  name, or a URL OpenAI fetches; see :mod:`.documents`). A system message
  takes all three, as the API's input messages do; a document or an image in
  an assistant or tool message is refused, as it would be left out. Assistant
  text goes back as
  ``output_text``. Tool calls are ``function_call`` items (``call_id`` is
  relaykit's ``ToolCall.id``; a call whose id an earlier call had, as ids made
  per turn recur, goes out under an id of its own with its results, since the
  API refuses a ``call_id`` used again), tool results ``function_call_output`` items;
  a result whose call is not earlier in the conversation is refused before
  sending, as the API refuses it (unless ``extra`` names a conversation OpenAI
  keeps: ``previous_response_id`` or ``conversation``).
  Cache points are left out: OpenAI caches prompts by itself.
- ``stop`` and ``seed`` have no Responses field: a call giving either is
  refused before sending (:func:`refuse_unsent`), naming the fix for why the
  call came here (the provider's ``api``, a model OpenAI serves only here, a web
  search only this API runs), not sent without them. Counting tokens
  (:func:`count_body`) reads the prompt only, and takes them.
- A JSON-schema ``response_format`` is ``text.format``; ``max_tokens`` is
  ``max_output_tokens``, which the API takes from 16 up ("Invalid
  'max_output_tokens': integer below minimum value. Expected a value >= 16,
  ..."): a smaller ``max_tokens`` is refused before sending, naming the fix,
  not raised to 16 (a cap the caller set is not exceeded). ``extra`` is merged
  into the body last, untouched
  (``extra={"reasoning": {"effort": "high", "summary": "auto"}}``); a Chat
  Completions field in it that OpenAI's Responses API refuses (``max_tokens``,
  ``stop``, ``response_format``, ...: :data:`CHAT_ONLY_FIELDS`) is refused before
  sending for OpenAI and Azure, naming the relaykit parameter that sends its
  Responses counterpart, where there is one.
- Each ``reasoning`` output item becomes one reasoning part
  (``origin="openai-responses"``): its summary texts joined by blank lines,
  its ``encrypted_content`` as ``redacted``. For reasoning models the request
  asks for that content (``include: ["reasoning.encrypted_content"]``; other
  models refuse it), so the reasoning can go back on the next turn without
  OpenAI storing anything. A part goes back as a ``reasoning`` item only when
  it belongs to this API and carries that content: reasoning without it
  (another vendor's, or plain reasoning text) means nothing to OpenAI
  statelessly, and is left out.
- ``web_search=`` is the ``web_search`` tool, after the function tools; the
  answer's ``url_citation`` annotations are its citations, its completed
  ``web_search_call`` items its billed searches, and their search actions'
  queries its ``search_queries`` (see :mod:`.web_search`; streamed, each is a
  :class:`~relaykit.SearchQuery` event as its item is done, before the text
  written from it). The
  searches' ``sources`` are not asked for (``include``): they list every page
  read, not what the answer cites.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from relaykit import ChatRequest, ChatResponse, InvalidRequestError, Message, Usage
from relaykit.events import (
    Finish,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
from relaykit.messages import (
    DocumentPart,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
    refuse_names,
)
from relaykit.request import Tool, refuse_seed
from relaykit.response import FinishReason, no_usage, reasoning_fields
from relaykit.tool_ids import ToolIds
from relaykit.web_search import Citation

from . import documents, schemas
from .reasoning import merge_extra, responses_field
from .sampling_rules import is_reasoning_model
from .web_search import billed_search, citation, citations, responses_tool, search_queries
from .wire import misplaced_image, reasoning_apart, text_or_none

#: the ``origin`` of the reasoning parts this API makes, and accepts back (the same
#: as relaykit-gateway's Responses dialect uses)
ORIGIN = "openai-responses"

#: what joins the summary parts of one reasoning item into one part's text
SUMMARY_JOINER = "\n\n"

#: the least ``max_output_tokens`` the API takes (less: "integer below minimum value")
MIN_OUTPUT_TOKENS = 16

#: ``incomplete_details.reason`` -> relaykit finish reason
_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


#: the name refusals give this API
API_NAME = "OpenAI's Responses API"


def refuse_unsent(request: ChatRequest, *, provider: str, fix: str) -> None:
    """Refuse before sending the ``stop`` or ``seed`` of ``request``, which this API
    has no field for, as :func:`relaykit.request.refuse_seed` does for other
    vendors; ``fix`` is the way out, with ``{param}`` for the parameter's name."""
    if request.stop:
        raise InvalidRequestError(
            f"{API_NAME} has no stop sequences (stop={list(request.stop)!r})",
            provider=provider,
            model=request.model,
            param="stop",
            hint=fix.replace("{param}", "stop"),
        )
    refuse_seed(request, API_NAME, hint=fix.replace("{param}", "seed"))


def request_body(request: ChatRequest, *, stream: bool, provider: str = "openai") -> dict[str, Any]:
    """The JSON body of ``POST /responses`` for ``request`` (``provider`` names the
    deployment in a refusal of a web search it cannot run: see :mod:`.web_search`).

    ``stop`` and ``seed`` are not read: the caller refuses them (:func:`refuse_unsent`)."""
    refuse_names(request.messages, API_NAME)
    for i, tool in enumerate(request.tools):
        schemas.check_tool(tool, f"tools[{i}]")
    rf = request.response_format
    if rf is not None and rf.type == "json_schema":
        schemas.check_format(rf)
    extra = request.extra
    # A conversation OpenAI keeps (extra's previous_response_id or conversation)
    # holds calls the input need not repeat: their results are not checked.
    paired = not extra or ("previous_response_id" not in extra and "conversation" not in extra)
    body: dict[str, Any] = {"model": request.model, "input": _input(request.messages, paired)}
    if request.max_tokens is not None:
        body["max_output_tokens"] = _output_tokens(request.max_tokens)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if request.web_search is not None:
        search = responses_tool(request.web_search, provider, request.model)
        body.setdefault("tools", []).append(search)
    if request.tool_choice is not None:
        tc = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "name": tc.name} if tc.mode == "tool" else tc.mode
        )
    if rf is not None:
        if rf.type == "json_schema":
            fmt: dict[str, Any] = {
                "type": "json_schema",
                "name": rf.name,
                "schema": rf.schema or {},
                "strict": rf.strict,
            }
        else:
            fmt = {"type": rf.type}
        body["text"] = {"format": fmt}
    if request.reasoning is not None:
        responses_field(request.reasoning, body)
    body["store"] = False
    if is_reasoning_model(request.model):
        body["include"] = ["reasoning.encrypted_content"]
    if stream:
        body["stream"] = True
    if request.extra:
        merge_extra(body, request.extra)
    return body


#: the fix for each kind of Chat Completions field the Responses API refuses
_USE_CHAT = "drop it from extra, or call Chat Completions, which has it: api = 'chat'"

#: Chat Completions fields that OpenAI's Responses API refuses for every model (it
#: moved some: "Unsupported parameter: 'max_tokens'. In the Responses API, this
#: parameter has moved to 'max_output_tokens'."; the others are "Unknown parameter"
#: there), only ``extra`` can send, and relaykit refuses unsent for OpenAI and Azure
#: (:func:`check_chat_fields`): each field, the Responses API's field that does its
#: work (``None``: none does), and the fix
CHAT_ONLY_FIELDS: dict[str, tuple[str | None, str]] = {
    "messages": ("input", "give the conversation as chat()'s messages: relaykit sends it as input"),
    "max_tokens": (
        "max_output_tokens",
        "give max_tokens= instead: relaykit sends it as max_output_tokens",
    ),
    "max_completion_tokens": (
        "max_output_tokens",
        "give max_tokens= instead: relaykit sends it as max_output_tokens",
    ),
    "response_format": (
        "text.format",
        "give response_format= instead: relaykit sends it as text.format",
    ),
    "reasoning_effort": (
        "reasoning.effort",
        "give reasoning= instead: relaykit sends it as reasoning.effort",
    ),
    "verbosity": ("text.verbosity", "give it in extra's text object: {'text': {'verbosity': ...}}"),
    "functions": ("tools", "give tools= instead: relaykit sends them as the Responses API's tools"),
    "function_call": (
        "tool_choice",
        "give tool_choice= instead: relaykit sends it as the Responses API takes it",
    ),
    "web_search_options": ("tools", "give web_search= instead: relaykit sends the web_search tool"),
    "stop": (None, _USE_CHAT),
    "seed": (None, _USE_CHAT),
    "n": (None, "drop it from extra: the Responses API makes one answer a call"),
    "logit_bias": (None, _USE_CHAT),
    "presence_penalty": (None, _USE_CHAT),
    "frequency_penalty": (None, _USE_CHAT),
    "logprobs": (None, _USE_CHAT),
}


def check_chat_fields(extra: dict[str, Any], *, provider: str, model: str) -> None:
    """Refuse before sending an ``extra`` that gives the Responses API a Chat
    Completions field it refuses (:data:`CHAT_ONLY_FIELDS`), naming the fix.

    For OpenAI and Azure only: a compatible service's ``/responses`` may take them."""
    for key, (instead, hint) in CHAT_ONLY_FIELDS.items():
        if key not in extra:
            continue
        where = f"it takes {instead}" if instead else "it has no such field"
        raise InvalidRequestError(
            f"OpenAI's Responses API takes no {key} (a Chat Completions field, from extra):"
            f" {where}",
            provider=provider,
            model=model,
            param=key,
            hint=hint,
        )


#: the fields ``POST /responses/input_tokens`` takes (a response's prompt, no sampling)
COUNT_FIELDS = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "text", "reasoning", "truncation"}
)


def count_body(request: ChatRequest, provider: str = "openai") -> dict[str, Any]:
    """The JSON body of ``POST /responses/input_tokens``: the prompt ``request`` sends
    (its ``max_tokens``, which the counter does not take, unchecked)."""
    # Participant names, which Chat Completions sends and this API has no field
    # for, are left out of the count: a few tokens, as its formatting is.
    messages = tuple([attrs.evolve(m, name=None) if m.name else m for m in request.messages])
    unbounded = attrs.evolve(request, max_tokens=None, stop=(), seed=None, messages=messages)
    body = request_body(unbounded, stream=False, provider=provider)
    return {k: v for k, v in body.items() if k in COUNT_FIELDS}


def _output_tokens(max_tokens: int) -> int:
    """``max_output_tokens`` for ``max_tokens``; the error for fewer than the API takes."""
    if max_tokens < MIN_OUTPUT_TOKENS:
        raise InvalidRequestError(
            f"max_tokens={max_tokens} is below {MIN_OUTPUT_TOKENS}, the fewest output tokens"
            " the Responses API takes (as max_output_tokens)",
            param="max_tokens",
            hint=f'ask for {MIN_OUTPUT_TOKENS} or more, or set api = "chat" for this'
            " provider where a smaller cap matters (Chat Completions takes any)",
        )
    return max_tokens


def _tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["parameters"] = tool.parameters
    # The API's default is strict; relaykit's None means "as the vendor likes",
    # and strict mode refuses most hand-written schemas: say false unless asked.
    out["strict"] = bool(tool.strict)
    return out


def _input(messages: tuple[Message, ...], paired: bool = True) -> list[dict[str, Any]]:
    """The ``input`` items for ``messages``; ``paired``: refuse a tool result that
    answers no call before it (:func:`_unpaired`)."""
    items: list[dict[str, Any]] = []
    called: set[str] = set()  # the call ids of the function_call items so far
    ids = _wire_ids(messages) if paired else None
    for i, m in enumerate(messages):
        if m.role in _NOT_INPUT and any(type(p) in _INPUT_MEDIA for p in m.content):
            _misplaced(m, i)
        if m.role == "tool":
            for p in m.content:
                if isinstance(p, ToolResultPart):
                    if paired and p.tool_call_id not in called:
                        raise _unpaired(p.tool_call_id, i)
                    items.append(
                        {
                            "type": "function_call_output",
                            "call_id": ids.result(p.tool_call_id) if ids else p.tool_call_id,
                            "output": _output(p) if p.attachments else p.content,
                        }
                    )
            continue
        if m.role == "assistant":
            _assistant_items(m, items, called, ids)
            continue
        content = [c for c in (_input_part(p) for p in m.content) if c is not None]
        if content:
            items.append({"role": m.role, "content": content})
    return items


def _wire_ids(messages: tuple[Message, ...]) -> ToolIds:
    """The ``call_id`` each call and result of one request goes out under.

    The Responses API refuses a ``call_id`` used again by a later turn ("Duplicate
    function_call_output for call_id 'terminal:0'. Each function_call must have
    exactly one matching function_call_output", as reported in hermes-agent#102629
    and mnfst/llm-gateway#2858), and ids made per turn recur in a long history
    (see :mod:`relaykit.tool_ids`). So a call whose id an earlier call had goes out
    as ``{id}_{n}`` (the next free one, taking no id the request holds), and the
    results after it with it. Only the request changes: the caller's messages keep
    their ids.
    """
    taken = (p.id for m in messages for p in m.content if isinstance(p, ToolCall))
    return ToolIds(invalid=None, reserved=taken)


def _unpaired(call_id: str, index: int) -> InvalidRequestError:
    """The error for a tool result answering no call before it: the API refuses it
    ("No tool call found for function call output with call_id ...", as reported
    in codex2api#414), statelessly, since relaykit sends the whole conversation."""
    return InvalidRequestError(
        f"messages[{index}] holds the result of tool call {call_id!r}, and no assistant "
        "message before it makes that call",
        param=f"messages[{index}]",
        hint="keep the assistant message with the tool calls in the conversation, before "
        "their results (a trimmed history must drop a call and its results together)",
    )


#: parts an input message (user, system, developer) takes besides text: input_image
#: and input_file (the API reference's EasyInputMessage content list)
_INPUT_MEDIA = (DocumentPart, ImagePart)
#: roles whose messages are no input message
_NOT_INPUT = frozenset(("assistant", "tool"))


def _misplaced(m: Message, index: int) -> None:
    """Refuse a document or an image in an assistant or tool message: an
    assistant's content is ``output_text`` (the part would be left out) and a tool
    message's only its results."""
    if any(type(p) is DocumentPart for p in m.content):
        raise documents.misplaced(m.role, f"messages[{index}]", "user or system")
    raise misplaced_image(m.role, f"messages[{index}]", "the Responses API", "user or system")


def _output(result: ToolResultPart) -> list[dict[str, Any]]:
    """A tool result with attachments as a ``function_call_output``'s list of parts:
    its text, then its images and files."""
    text = [{"type": "input_text", "text": result.content}] if result.content else []
    return text + [_input_part(a) for a in result.attachments]  # type: ignore[misc]


def _input_part(p: Any) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return {"type": "input_text", "text": p.text}
    if isinstance(p, ImagePart):
        return {"type": "input_image", "image_url": p.data_url(), "detail": p.detail or "auto"}
    if isinstance(p, DocumentPart):
        return documents.responses_part(p)
    if isinstance(p, ToolResultPart):  # a tool result outside a tool message: send as text
        if p.attachments:
            raise InvalidRequestError(
                "a tool result with attachments is outside a tool message",
                param="messages",
                hint="send tool results in tool messages: Message.tool(call_id, text, image)",
            )
        return {"type": "input_text", "text": p.content}
    return None  # cache points, and parts only an assistant turn has


def _assistant_items(
    m: Message, items: list[dict[str, Any]], called: set[str], ids: ToolIds | None
) -> None:
    """An assistant turn as items, in the order of its parts: reasoning, an
    assistant message for each run of text, function calls (under the ids
    ``ids`` gives, when given)."""
    text: list[dict[str, Any]] = []

    def end_text() -> None:
        if text:
            items.append({"role": "assistant", "content": list(text)})
            text.clear()

    for p in m.content:
        if isinstance(p, TextPart):
            if p.text:
                text.append({"type": "output_text", "text": p.text})
        elif isinstance(p, ToolCall):
            end_text()
            arguments = p.raw_arguments if p.raw_arguments is not None else json.dumps(p.arguments)
            called.add(p.id)
            call_id = ids.call(p.id) if ids else p.id
            item = {"type": "function_call", "call_id": call_id, "name": p.name}
            items.append({**item, "arguments": arguments})
        elif isinstance(p, ReasoningPart):
            end_text()
            if p.redacted is not None and p.belongs_to(ORIGIN):
                summary = [{"type": "summary_text", "text": p.text}] if p.text else []
                items.append(
                    {"type": "reasoning", "summary": summary, "encrypted_content": p.redacted}
                )
    end_text()


# -- responses -----------------------------------------------------------------


def usage(data: dict[str, Any] | None, web_searches: int = 0) -> Usage:
    """Normalise a Responses ``usage`` object (OpenAI's counts already follow relaykit's
    conventions: input includes cached, output includes reasoning; a total that
    counts the reasoning beside the output adds it back); ``web_searches`` are the
    billed searches, which the output items count, not the usage."""
    if not data:
        # None reported: no_usage tells the client to estimate the tokens billed
        # (NO_USAGE itself without searches), and keeps the searches' fees
        return no_usage(web_searches)
    inp = data.get("input_tokens_details") or {}
    out = data.get("output_tokens_details") or {}
    input_tokens = count(data.get("input_tokens") or 0, "usage.input_tokens")
    output_tokens = count(data.get("output_tokens") or 0, "usage.output_tokens")
    reasoning = count(
        out.get("reasoning_tokens") or 0, "usage.output_tokens_details.reasoning_tokens"
    )
    # A compatible server whose output count leaves the reasoning out (as xAI's
    # Chat Completions does): see wire.reasoning_apart.
    apart = reasoning_apart(data.get("total_tokens"), input_tokens, output_tokens, reasoning)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens + apart,
        cached_input_tokens=count(
            inp.get("cached_tokens") or 0, "usage.input_tokens_details.cached_tokens"
        ),
        reasoning_tokens=reasoning,
        web_searches=web_searches,
    )


def finish_reason(data: dict[str, Any], tool_calls: bool) -> tuple[FinishReason, str | None]:
    """``(relaykit finish reason, the raw reason)`` of a response object."""
    status = data.get("status")
    if status == "completed":
        return ("tool_calls" if tool_calls else "stop"), status
    if status == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason")
        return _INCOMPLETE.get(reason or "", "other"), reason or status
    return "other", status


def reasoning_part(item: dict[str, Any]) -> ReasoningPart:
    """One reasoning part from a ``reasoning`` output item."""
    summary = SUMMARY_JOINER.join(
        s.get("text") or "" for s in item.get("summary") or () if isinstance(s, dict)
    )
    encrypted = item.get("encrypted_content")
    return ReasoningPart(
        summary, redacted=encrypted if isinstance(encrypted, str) else None, origin=ORIGIN
    )


def _message_text(item: dict[str, Any], base: int, cited: list[Citation]) -> tuple[str, str]:
    """``(text, refusal)`` of an assistant ``message`` output item whose text starts
    ``base`` characters into the response's; its web citations are added to
    ``cited``, their offsets moved to index the response's text."""
    text: list[str] = []
    refusal: list[str] = []
    for part in item.get("content") or ():
        kind = part.get("type")
        if kind == "output_text":
            said = part.get("text") or ""
            if part.get("annotations"):
                cited += citations(part["annotations"], base, len(said))
            base += len(said)
            text.append(said)
        elif kind == "refusal":
            refusal.append(part.get("refusal") or "")
    return "".join(text), "".join(refusal)


def response(data: dict[str, Any]) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed Responses body; a ``ValueError`` for a
    body of the wrong shape or without its ``output`` (``{}``: no answer, not an empty one)."""
    require_answer(data, "a response object", "output")
    try:
        return _response(data)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a response object", e, data, _RESPONSE) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_RESPONSE = {
    "output": [{"content": [{}], "summary": [{}]}],
    "usage": {"input_tokens_details": {}, "output_tokens_details": {}},
    "incomplete_details": {},
}


def _response(data: dict[str, Any]) -> ChatResponse:
    text: list[str] = []
    length = 0  # characters of text so far
    refused = False
    calls: list[ToolCall] = []
    thoughts: list[ReasoningPart] = []
    cited: list[Citation] = []
    searches = 0
    queries: list[str] = []
    for item in data.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            said, refusal = _message_text(item, length, cited)
            text.append(said)
            length += len(said)
            if refusal:
                # As in Chat Completions: the refusal is the answer; the finish says why.
                text.append(refusal)
                length += len(refusal)
                refused = True
        elif kind == "function_call":
            calls.append(
                ToolCall.from_json_arguments(
                    item.get("call_id") or "", item.get("name") or "", item.get("arguments") or ""
                )
            )
        elif kind == "reasoning":
            thoughts.append(reasoning_part(item))
        elif kind == "web_search_call":
            searches += billed_search(item)
            queries += search_queries(item)
    finish, _ = finish_reason(data, bool(calls))
    if refused and finish == "stop":
        finish = "content_filter"
    parts = tuple(p for p in thoughts if p.text or p.redacted is not None)
    reasoning, _ = reasoning_fields(parts)
    return ChatResponse(
        text="".join(text),
        reasoning=reasoning,
        reasoning_parts=parts,
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage(data.get("usage"), searches),
        model=text_or_none(data.get("model")) or "",
        id=text_or_none(data.get("id")),
        citations=tuple(cited),
        search_queries=tuple(queries),
    )


# -- streams -------------------------------------------------------------------


class StreamState:
    """What decoding one Responses stream carries from event to event."""

    __slots__ = (
        "_argued",
        "_calls",
        "_parts",
        "_summaries",
        "began",
        "finished",
        "refused",
        "text_length",
        "tool_calls",
        "web_searches",
    )

    def __init__(self) -> None:
        #: ``response.created`` arrived: what follows is an answer
        self.began = False
        #: a terminal event (``response.completed`` / ``.incomplete``) arrived
        self.finished = False
        #: a refusal arrived: a "stop" finish is a content_filter one
        self.refused = False
        #: function calls seen: a completed response finishes with "tool_calls"
        self.tool_calls = 0
        self._calls: dict[str, int] = {}  # item id -> relaykit tool call index
        self._argued: set[str] = set()  # function call item ids whose arguments have come
        self._summaries: dict[str, int] = {}  # reasoning item id -> summary parts opened
        #: characters of text streamed so far (answer and refusal)
        self.text_length = 0
        #: (item id, content index) of each output_text part -> where its text starts
        self._parts: dict[tuple[str, int], int] = {}
        #: billed web searches seen (``web_search_call`` items done)
        self.web_searches = 0

    def call_index(self, item_id: str | None) -> int:
        """The relaykit index of the function call item ``item_id``."""
        key = item_id or ""
        index = self._calls.get(key)
        if index is None:
            index = self._calls[key] = self.tool_calls
            self.tool_calls += 1
        return index


def event_events(kind: str, data: dict[str, Any], state: StreamState) -> list[StreamEvent]:
    """The relaykit stream events for one Responses SSE event (errors aside); a
    ``ValueError`` for an event of the wrong shape."""
    try:
        if kind == "response.output_text.delta":
            delta = data.get("delta") or ""
            if not delta:
                return []
            state.text_length += len(delta)
            return [TextDelta(delta)]
        if kind == "response.reasoning_summary_text.delta":
            delta = data.get("delta") or ""
            return [ReasoningDelta(delta)] if delta else []
        if kind == "response.function_call_arguments.delta":
            index = state.call_index(data.get("item_id"))
            if data.get("delta"):
                state._argued.add(data.get("item_id") or "")
            return [ToolCallDelta(index, arguments=data.get("delta") or "")]
        if kind == "response.function_call_arguments.done":
            # Whole arguments, repeating the deltas: used only if none came.
            return _late_arguments(data.get("item_id"), data.get("arguments"), state)
        if kind == "response.reasoning_summary_part.added":
            # Each reasoning item is one block; its second and later summary parts
            # are joined to the first as in the non-streamed response.
            item_id = data.get("item_id") or ""
            opened = state._summaries.get(item_id, 0)
            state._summaries[item_id] = opened + 1
            return [ReasoningDelta(SUMMARY_JOINER)] if opened else []
        if kind == "response.output_item.added":
            item = data.get("item") or {}
            if item.get("type") == "function_call":
                index = state.call_index(item.get("id"))
                if item.get("arguments"):
                    state._argued.add(item.get("id") or "")
                return [
                    ToolCallDelta(
                        index, item.get("call_id"), item.get("name"), item.get("arguments") or ""
                    )
                ]
            if item.get("type") == "reasoning":
                return [ReasoningDelta(new_block=True, origin=ORIGIN)]
            return []
        if kind == "response.output_item.done":
            item = data.get("item") or {}
            if item.get("type") == "function_call":
                # The whole call, repeating what streamed: its arguments used only if
                # none came (and the call itself if it was never added).
                key = item.get("id") or ""
                if key in state._calls:
                    return _late_arguments(key, item.get("arguments"), state)
                state._argued.add(key)
                index = state.call_index(key)
                arguments = item.get("arguments") or ""
                return [ToolCallDelta(index, item.get("call_id"), item.get("name"), arguments)]
            if item.get("type") == "web_search_call":
                state.web_searches += billed_search(item)
                # The search has run: say so now, not with the finish.
                return [SearchQuery(q) for q in search_queries(item)]
            if item.get("type") == "reasoning":
                encrypted = item.get("encrypted_content")
                if isinstance(encrypted, str):
                    # The block's encrypted content, which ends it: the assembler adds it
                    # to the block its summary streamed into (new_block=False).
                    return [ReasoningDelta(redacted=encrypted, origin=ORIGIN)]
            return []
        if kind == "response.refusal.delta":
            state.refused = True
            delta = data.get("delta") or ""
            state.text_length += len(delta)
            return [TextDelta(delta)] if delta else []
        if kind == "response.content_part.added":
            if (data.get("part") or {}).get("type") == "output_text":
                # Annotations index this part's text: remember where it starts.
                key = (data.get("item_id") or "", data.get("content_index") or 0)
                state._parts[key] = state.text_length
            return []
        if kind == "response.output_text.annotation.added":
            return _annotation_events(data, state)
        if kind == "response.created":
            state.began = True
            resp = data.get("response") or {}
            return [StreamStart(text_or_none(resp.get("id")), text_or_none(resp.get("model")))]
        if kind in ("response.completed", "response.incomplete"):
            resp = data.get("response") or {}
            if not state.began:
                # a terminal event alone is no empty answer: the server sent none
                raise ValueError(f"a Responses stream that ended ({kind}) with no response.created")
            state.finished = True
            reason, raw = finish_reason(resp, state.tool_calls > 0)
            if state.refused and reason == "stop":
                reason = "content_filter"
            events: list[StreamEvent] = []
            if resp.get("usage") or state.web_searches:
                events.append(UsageUpdate(usage(resp.get("usage"), state.web_searches)))
            events.append(Finish(reason, raw))
            return events
        return []
    except SHAPE_ERRORS as e:
        raise wrong_shape(f"a {kind} event", e) from e


def _late_arguments(item_id: str | None, arguments: Any, state: StreamState) -> list[StreamEvent]:
    """A call's whole ``arguments`` from an event that ends it, if none streamed before."""
    key = item_id or ""
    if key in state._argued or not arguments or not isinstance(arguments, str):
        return []
    state._argued.add(key)
    return [ToolCallDelta(state.call_index(item_id), arguments=arguments)]


def _annotation_events(data: dict[str, Any], state: StreamState) -> list[StreamEvent]:
    """A web citation from ``response.output_text.annotation.added``: its offsets
    index its part's text (streamed already), moved to index the whole text (and
    left out where the part's start is unknown)."""
    key = (data.get("item_id") or "", data.get("content_index") or 0)
    start = state._parts.get(key)
    if start is None:
        found = citation(data.get("annotation"), 0, -1)  # offsets unknown: none
    else:
        found = citation(data.get("annotation"), start, state.text_length - start)
    return [found] if found is not None else []


def _failure_error(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The fields of a failure event's error, or ``None`` for any other event.

    The API reference puts ``code`` and ``message`` on the ``error`` event itself;
    OpenAI also sends them nested, ``{"type": "error", "error": {...}}`` (a rate
    limit mid-stream does), so either shape is read.
    """
    if kind == "error":
        nested = data.get("error")
        return nested if isinstance(nested, dict) else data
    if kind == "response.failed":
        error = (data.get("response") or {}).get("error")
        return error if isinstance(error, dict) else {}
    return None


def stream_failure(kind: str, data: dict[str, Any]) -> str | None:
    """The message of a failure event (``error``, ``response.failed``), else ``None``."""
    error = _failure_error(kind, data)
    if error is None:
        return None
    fallback = "error event in the stream" if kind == "error" else "the response failed"
    return str(error.get("message") or error.get("code") or fallback)


#: the HTTP status each failure code stands for (openai-python's ``ResponseError``
#: codes, and the ``type`` of an ``error`` event's nested error); the image codes, and
#: every ``invalid_*`` one, are the request's fault: 400
_FAILURE_STATUS = {
    "server_error": 500,
    "rate_limit_exceeded": 429,
    "too_many_requests": 429,
    "vector_store_timeout": 504,
}


def failure_status(kind: str, data: dict[str, Any]) -> int:
    """The HTTP status the failure event ``kind`` stands for, by its error's ``code``
    (or ``type``): a 502 for one that says no kind (one added later), as a response
    that failed on the server's side."""
    error = _failure_error(kind, data) or {}
    for said in (error.get("code"), error.get("type")):
        if not isinstance(said, str):
            continue
        if said in _FAILURE_STATUS:
            return _FAILURE_STATUS[said]
        if said.startswith("invalid_") or "image" in said:
            return 400
    return 502
