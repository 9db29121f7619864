"""Translate between relaykit values and the Anthropic Messages wire format.

Choices this module makes, because the Messages API differs from the common shape:

- ``max_tokens`` is required by the API. When the caller gives none we send
  ``default_max_tokens`` (4096 unless configured), the answer's share, plus
  room for thinking when the model will think: the budget, or the effort's
  tokens (:data:`relaykit.request.EFFORT_BUDGETS`), when ``reasoning=`` turns
  it on (or ``extra={"thinking": {"budget_tokens": N}}``), and for a Claude 5
  model, which thinks by default, its default effort's tokens when no
  ``reasoning=`` is given (4096 + 24,576 on Opus 5, Sonnet 5 and 5.5, Fable
  and Mythos; 4096 + 8,192 on Opus 5.5 and Haiku 5.5, which default to
  ``medium``). max_tokens caps thinking and answer together, and Anthropic's
  Claude 5 migration guides say to revisit it for that reason; it is a cap,
  not a charge. Thinking off leaves the default alone.
- ``reasoning=`` becomes ``thinking`` (a budget, or adaptive thinking with
  ``output_config.effort`` from Claude 4.6 on; on Claude 5, what turns its
  thinking off, or a refusal where nothing does), as :mod:`.thinking`
  describes, with the calls Claude refuses while thinking (a temperature, a
  ``top_k``, a forced tool: ``extra``'s too) refused before sending. A forced
  tool is refused before sending for the Claude 5 models that never take one,
  whatever ``reasoning=``.
  ``extra={"thinking": ...}`` replaces ``reasoning=``.
- A ``temperature``, ``top_p`` or ``top_k`` (in ``extra``) other than the
  default is refused before sending for the models that refuse it whatever
  their thinking (Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and
  Mythos): see :mod:`.sampling`.
- A conversation ending in an assistant turn (a prefill) is refused before
  sending for the models that refuse one (Claude 4.6 on, Fable and Mythos):
  see :mod:`.prefill`.
- System messages go to the top-level ``system`` field, joined by blank lines.
  It takes text blocks only: an image in a system message is refused before
  sending (a document too, below), saying to move it into a user message.
- A text part that is empty or only whitespace is left out (the API refuses
  such a block), and so is a message left with nothing; a conversation with
  nothing left is refused before sending. A prefill (a final assistant turn
  ending in text) is sent without its trailing whitespace, which the API
  refuses too.
- A tool result with no text (or only whitespace) and no attachments is sent
  as the text :data:`NO_OUTPUT`, ``is_error`` kept: the API refuses an error
  result with no content ("content cannot be empty if `is_error` is true") and
  whitespace-only text, and a tool that printed nothing has still answered.
  Whitespace beside attachments is left out.
- A :class:`~relaykit.CachePoint` becomes ``cache_control`` on the block before
  it, in prompt order (tools, system, messages); thinking blocks cannot carry
  one, so it goes on the block before them. A point in the system prompt
  splits it into text blocks there; ``Tool.cache`` marks that tool. A point
  with nothing before it caches nothing and is left out.
- ``seed`` has no Messages API field: one is refused before sending (with no
  status, so a route falls back), as LiteLLM refuses it unless told to drop
  it, rather than dropped unsaid. ``metadata`` is relaykit's own and is not sent.
- A JSON-schema ``response_format`` uses the documented structured-outputs
  field ``output_config.format`` (models from Claude 4.5 on). With the provider
  option ``structured_output = "tool"`` it is emulated instead with a forced
  tool named after the format, whose input comes back as the response text:
  that works on older models but overrides ``tool_choice``. ``json_object`` has
  no native equivalent and is always emulated with an object-typed tool.
- Each ``thinking`` and ``redacted_thinking`` block of a response becomes one
  reasoning part (``origin="anthropic"``), in order, with its own signature or
  redacted data. They go back on assistant turns as they came, first in the
  turn, and only when Anthropic made them: another provider's signature means
  nothing here, and unsigned thinking is rejected, so such parts are left out.
  (Claude on Bedrock signs its reasoning too; relaykit does not count on the
  two being interchangeable.)
- A :class:`~relaykit.DocumentPart` becomes a ``document`` block (see
  :mod:`.documents`), which a cache point after it marks like any other block.
  The API reads documents in user turns only: one in a system or assistant
  message is refused before sending rather than dropped.
- A tool call whose arguments were not a JSON object (``raw_arguments``: input
  that fine-grained tool streaming sent unchecked) goes back as
  ``{"raw_arguments": "..."}``, as the other providers send it: ``input`` must be
  an object.
- Tool call ids go out as the API takes them, valid and each once in a request
  (another provider's ``functions.now:0``, or relaykit's made-up ``call_0`` of
  two answers, renamed), each result under its call's: see
  :mod:`relaykit_claude_models.tool_ids`.
- ``web_search=`` adds the server tool ``web_search`` after the function tools,
  and its answer's citations become ``ChatResponse.citations`` (see
  :mod:`.web_search`); its ``server_tool_use`` and ``web_search_tool_result``
  blocks are neither text nor tool calls: a search's query is one of
  ``ChatResponse.search_queries``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from relaykit import ChatRequest, ChatResponse, Citation, InvalidRequestError, Message, Usage
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
from relaykit.json_schemas import name_problem
from relaykit.messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
    misplaced_part,
    refuse_names,
)
from relaykit.request import ResponseFormat, Tool, refuse_seed
from relaykit.response import NO_USAGE, FinishReason, reasoning_fields
from relaykit_claude_models import ToolIds, thinking_first
from relaykit_claude_models import default_max_tokens as _default_max_tokens

from . import prefill, sampling, schemas, thinking, web_search
from .documents import document_block

StructuredOutput = Literal["native", "tool"]

#: the ``origin`` of the reasoning parts this provider makes, and accepts back
ORIGIN = "anthropic"

#: the API's name in the errors raised before sending
API = "Anthropic's Messages API"

#: the text sent for a tool result with nothing in it (an error one may not be empty)
NO_OUTPUT = "(no output)"

#: the thinking block types (no cache mark goes on one)
_THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})

DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # The context window filled up before max_tokens: the same outcome for a caller.
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Fields POST /v1/messages/count_tokens accepts; it rejects the sampling ones.
COUNT_TOKENS_FIELDS = frozenset(
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


def finish_reason(raw: str | None) -> FinishReason:
    """The relaykit finish reason for an Anthropic ``stop_reason``."""
    return FINISH_REASONS.get(raw or "", "other")


# -- requests -----------------------------------------------------------------


def json_tool_name(request: ChatRequest, structured_output: StructuredOutput) -> str | None:
    """The name of the tool that carries the answer when structured output is emulated."""
    rf = request.response_format
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object" or structured_output == "tool":
        return rf.name
    return None


def request_body(
    request: ChatRequest,
    *,
    stream: bool,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    structured_output: StructuredOutput = "native",
    provider: str = "anthropic",
    dynamic_web_search: bool = False,
    search_model: str | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``request``.

    ``provider`` names the provider in the errors raised before sending;
    ``dynamic_web_search`` sends the web search tool with dynamic filtering to the
    models that take it (:mod:`.web_search`); ``search_model`` is the Claude
    model that decides it, whether a prefill is taken (:mod:`.prefill`), which
    sampling values are (:mod:`.sampling`) and how it thinks (:mod:`.thinking`),
    when ``request.model`` is a deployment's name.
    """
    refuse_names(request.messages, "Anthropic's Messages API")
    refuse_seed(request, "Anthropic's Messages API")
    # First, so that a model that refuses sampling whatever its thinking says so,
    # rather than the thinking check offering to turn thinking off.
    sampling.check(request, search_model)
    tools = [_tool(t, f"tools[{i}]") for i, t in enumerate(request.tools)]
    system = _system(request.messages, tools)
    # extra's own thinking replaces reasoning= (it is sent as given, below)
    reasoning = None if "thinking" in request.extra else request.reasoning
    think = (
        {}
        if reasoning is None
        else thinking.fields(reasoning, request.model, request.max_tokens, search_model)
    )
    turns = messages(request.messages, (*tools, *system))
    prefill.check(turns, request.model, provider, search_model)
    body: dict[str, Any] = {
        "model": request.model,
        # The room for thinking is the served model's (a Foundry deployment's name
        # says nothing).
        "max_tokens": request.max_tokens
        or _default_max_tokens(
            default_max_tokens,
            search_model or request.model,
            request.reasoning,
            request.extra.get("thinking"),
        ),
        "messages": turns,
    }
    if system:
        # One unmarked block: the plain string, as sent before cache points existed.
        one = len(system) == 1 and "cache_control" not in system[0]
        body["system"] = system[0]["text"] if one else system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        tc = request.tool_choice
        mode = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[tc.mode]
        body["tool_choice"] = (
            {"type": "tool", "name": tc.name} if mode == "tool" else {"type": mode}
        )
    rf = request.response_format
    if rf is not None and rf.type != "text":
        if json_tool_name(request, structured_output):
            _emulate_with_tool(body, rf)
        else:
            schema = schemas.format_schema(rf.schema or {}, rf.name)
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if request.web_search is not None:
        # After the function tools (and an emulated format's), whose names it must not take.
        model = search_model or request.model
        web_search.check(model, provider, body.get("tools", ()))
        body.setdefault("tools", []).append(
            web_search.tool(request.web_search, model, dynamic=dynamic_web_search)
        )
    json_tool = json_tool_name(request, structured_output)
    thinking.check_forced_tool(
        body, request.extra, request.model, emulated=json_tool is not None, served=search_model
    )
    if think:
        _add_thinking(body, think, request, json_tool, search_model)
    if stream:
        body["stream"] = True
    if request.extra:
        body.update(request.extra)
    return body


def _add_thinking(
    body: dict[str, Any],
    think: dict[str, Any],
    request: ChatRequest,
    json_tool: str | None,
    served: str | None,
) -> None:
    """Put ``think`` (:func:`.thinking.fields`) in ``body``, refusing first what Claude
    (``served``, the model a deployment serves) refuses while it thinks; an effort
    joins a structured-output format."""
    if think.get("thinking", {}).get("type") not in (None, "disabled", "between_tools"):
        thinking.check_compatible(
            body,
            request.extra,
            sampling.sampling_values(request),
            request.model,
            emulated=json_tool is not None,
            served=served,
        )
    if "thinking" in think:
        body["thinking"] = think["thinking"]
    if "output_config" in think:
        body["output_config"] = {**body.get("output_config", {}), **think["output_config"]}


def _tool(tool: Tool, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": schemas.tool_entry(tool, where)}
    if tool.description:
        out["description"] = tool.description
    if tool.strict is not None:
        out["strict"] = tool.strict
    if tool.cache is not None:
        out["cache_control"] = cache_control(tool.cache)
    return out


def cache_control(point: CachePoint) -> dict[str, str]:
    """Anthropic's mark for a relaykit cache point."""
    return {"type": "ephemeral", "ttl": point.ttl} if point.ttl else {"type": "ephemeral"}


def _mark(point: CachePoint, *earlier: Sequence[dict[str, Any]]) -> None:
    """Put ``point``'s mark on the last block of ``earlier`` (lists in prompt order)
    that may carry one: the cached prefix ends there. Thinking blocks cannot be
    marked, so the mark goes before them; with nothing before it, a cache point
    caches nothing and is left out."""
    for blocks in reversed(earlier):
        for block in reversed(blocks):
            if block.get("type") not in _THINKING_BLOCKS:
                # Two points on one block are one mark: the longer-lived one.
                if "cache_control" not in block or point.ttl == "1h":
                    block["cache_control"] = cache_control(point)
                return


def _system(msgs: tuple[Message, ...], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system prompt as text blocks: one, unless cache points split it.

    The text is what ``ChatRequest.system`` joins (system messages apart by a
    blank line), cut where each cache point stands, so marking a prompt does not
    change what the model reads.
    """
    blocks: list[dict[str, Any]] = []
    pending: list[str] = []
    for i, m in enumerate(msgs):
        if m.role != "system":
            continue
        if blocks or pending:
            pending.append("\n\n")
        for j, p in enumerate(m.content):
            if isinstance(p, TextPart):
                pending.append(p.text)
            elif isinstance(p, CachePoint):
                if "".join(pending).strip():
                    blocks.append({"type": "text", "text": "".join(pending)})
                    pending.clear()
                _mark(p, tools, blocks)
            else:
                # The system prompt is text blocks only: an image or a document is
                # refused, not left out.
                raise misplaced_part("system", p, f"messages[{i}].content[{j}]", api=API)
    text = "".join(pending)
    if text.strip():
        blocks.append({"type": "text", "text": text})
    return blocks


def _emulate_with_tool(body: dict[str, Any], rf: ResponseFormat) -> None:
    problem = name_problem(rf.name, "the response format's name")
    if problem is not None:  # it names the tool the answer comes in
        raise InvalidRequestError(
            problem, param="response_format.name", hint="name it with letters, digits, '_', '-'"
        )
    if rf.type == "json_object":
        schema: dict[str, Any] = {"type": "object"}
    else:
        schema = rf.schema or {"type": "object"}
        if schema.get("type", "object") != "object":
            raise InvalidRequestError(
                "a response_format schema emulated with a tool must describe an object",
                param="response_format",
                hint="wrap the value in an object, or use structured_output = 'native'",
            )
    body.setdefault("tools", []).append(
        {
            "name": rf.name,
            "description": "Give the final answer as this tool's input, following its schema.",
            "input_schema": schema,
        }
    )
    body["tool_choice"] = {"type": "tool", "name": rf.name}


def messages(
    msgs: tuple[Message, ...], before: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Wire messages: user and assistant turns of content blocks, consecutive roles merged.

    Tool results travel in user turns; merging keeps the results of parallel
    calls (one relaykit ``tool`` message each) in the single user turn that
    must follow the assistant's ``tool_use`` blocks. A cache point marks the
    block before it, looking back into ``before`` (the tools and system blocks)
    when no message block precedes it.
    """
    out: list[dict[str, Any]] = []
    for m in msgs:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        content = m.content
        if len(content) == 1 and type(content[0]) is TextPart:
            # Nearly every message: one text block (what the loop below makes, inline).
            text = content[0].text
            if text and not text.isspace():  # see _block
                if out and out[-1]["role"] == role:
                    out[-1]["content"].append({"type": "text", "text": text})
                else:
                    out.append({"role": role, "content": [{"type": "text", "text": text}]})
            continue
        if role == "assistant":
            # The API wants thinking first in an assistant turn (turn_order's rule).
            content = thinking_first(content)
        blocks: list[dict[str, Any]] = []
        for p in content:
            if isinstance(p, CachePoint):
                _mark(p, before, *(turn["content"] for turn in out), blocks)
            elif (b := _block(p, role)) is not None:
                blocks.append(b)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            turn = out[-1]["content"]
            # merged after an assistant message without thinking: thinking first again
            reorder = (
                role == "assistant"
                and blocks[0]["type"] in _THINKING
                and turn[0]["type"] not in _THINKING
            )
            turn.extend(blocks)
            if reorder:
                turn.sort(key=_not_thinking)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise InvalidRequestError(
            "nothing to send to Anthropic: every user and assistant message is empty "
            "or whitespace only",
            param="messages",
            hint="send at least one user message with text, an image, a document or a "
            "tool result: system messages alone are only a system prompt",
        )
    _strip_prefill(out[-1])
    _send_ids(out)
    return out


def _send_ids(turns: list[dict[str, Any]]) -> None:
    """Give each ``tool_use`` an id the API takes (valid, and once in the request)
    and each ``tool_result`` its call's: see :mod:`relaykit_claude_models.tool_ids`."""
    ids = ToolIds()
    for turn in turns:
        for block in turn["content"]:
            kind = block["type"]
            if kind == "tool_use":
                block["id"] = ids.call(block["id"])
            elif kind == "tool_result":
                block["tool_use_id"] = ids.result(block["tool_use_id"])


#: the block types an assistant turn that holds any must open with (turn_order's rule)
_THINKING = frozenset({"thinking", "redacted_thinking"})


def _not_thinking(block: dict[str, Any]) -> bool:
    """Sort key putting a turn's thinking blocks first, the rest in their order."""
    return block["type"] not in _THINKING


def _strip_prefill(final: dict[str, Any]) -> None:
    """Strip the whitespace ending a prefill (a final assistant turn whose last block is
    text): the API refuses it ("final assistant content cannot end with trailing
    whitespace", forgecode#1872), and LiteLLM strips it too (``anthropic_messages_pt``).
    Never a whole block: one of only whitespace was left out already."""
    last = final["content"][-1]
    if final["role"] == "assistant" and last["type"] == "text" and last["text"][-1:].isspace():
        last["text"] = last["text"].rstrip()


def _block(p: Any, role: str) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        # The API refuses an empty or whitespace-only text block ("text content blocks
        # must contain non-whitespace text", claude-code#23440): it says nothing, so it
        # is left out, as LiteLLM and opencode (#46291) leave it out.
        return {"type": "text", "text": p.text} if p.text and not p.text.isspace() else None
    if isinstance(p, ImagePart):
        return {"type": "image", "source": _image_source(p)}
    if isinstance(p, DocumentPart):
        if role != "user":
            raise _misplaced_document(role)
        return document_block(p)
    if isinstance(p, ToolCall):
        arguments: dict[str, Any] = p.arguments
        if p.raw_arguments is not None and not p.arguments:
            # Input that was not a JSON object (fine-grained tool streaming sends it
            # unchecked, and cut at max_tokens mid-value): what the model said goes
            # back wrapped in an object, as the docs advise and the other providers
            # send it, not as an empty input it never wrote.
            arguments = {"raw_arguments": p.raw_arguments}
        return {"type": "tool_use", "id": p.id, "name": p.name, "input": arguments}
    if isinstance(p, ToolResultPart):
        content: str | list[dict[str, Any]] = p.content
        if p.attachments:
            content = _tool_result_content(p)
        elif not p.content.strip():
            content = NO_OUTPUT  # see the module docstring
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": p.tool_call_id,
            "content": content,
        }
        if p.is_error:
            block["is_error"] = True
        return block
    if isinstance(p, ReasoningPart):
        if role != "assistant" or not p.belongs_to(ORIGIN):
            return None
        if p.redacted is not None:
            return {"type": "redacted_thinking", "data": p.redacted}
        if not p.signature:
            return None
        return {"type": "thinking", "thinking": p.text, "signature": p.signature}
    # The client refuses non-parts; a part type newer than this plugin can still come.
    raise InvalidRequestError(
        f"cannot send a {type(p).__name__} to the Anthropic Messages API",
        param="messages.content",
        hint="send relaykit's parts (TextPart, ImagePart, DocumentPart, ToolCall, "
        "ToolResultPart), or upgrade relaykit-anthropic for a newer part type",
    )


def _tool_result_content(p: ToolResultPart) -> list[dict[str, Any]]:
    """A tool result with attachments as the blocks Anthropic reads inside it: its
    text (left out if blank: Anthropic refuses whitespace-only text), then its
    images and documents."""
    blank = not p.content.strip()
    blocks: list[dict[str, Any]] = [] if blank else [{"type": "text", "text": p.content}]
    for a in p.attachments:
        if isinstance(a, ImagePart):
            blocks.append({"type": "image", "source": _image_source(a)})
        else:
            blocks.append(document_block(a))
    return blocks


def _misplaced_document(role: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Anthropic reads documents in user turns only, not in a {role} message",
        param="messages.content.document",
        hint="send the document in a user message (a tool result's turn is one too)",
    )


def _image_source(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        return {
            "type": "base64",
            "media_type": p.media_type,
            "data": base64.b64encode(p.data).decode(),
        }
    assert p.url is not None
    if p.url.startswith("data:") and ";base64," in p.url:
        header, _, payload = p.url.partition(";base64,")
        return {"type": "base64", "media_type": header[5:], "data": payload}
    return {"type": "url", "url": p.url}


# -- responses ----------------------------------------------------------------


def text_or_none(value: object) -> str | None:
    """An optional text field of the answer (its id, the model's name), or ``None``
    for null or a value that is not text: the response can do without it."""
    return value if isinstance(value, str) else None


def usage(data: dict[str, Any] | None) -> Usage:
    """Normalise an Anthropic ``usage`` object.

    Anthropic's ``input_tokens`` counts only the uncached part of the prompt;
    relaykit's includes the cache reads and writes too, and reports them apart
    as ``cached_input_tokens`` and ``cache_write_input_tokens``. Of the writes,
    those to the one-hour cache (``cache_creation.ephemeral_1h_input_tokens``)
    are ``cache_write_1h_input_tokens``: they cost more than five-minute ones.
    ``output_tokens`` already includes thinking, which Anthropic does not count
    separately. ``server_tool_use.web_search_requests`` are ``web_searches``.
    """
    if not data:
        # None reported: NO_USAGE tells the client to estimate what was billed
        return NO_USAGE
    read = count(data.get("cache_read_input_tokens") or 0, "usage.cache_read_input_tokens")
    written = count(
        data.get("cache_creation_input_tokens") or 0, "usage.cache_creation_input_tokens"
    )
    by_ttl = data.get("cache_creation")
    one_hour = (
        count(
            by_ttl.get("ephemeral_1h_input_tokens") or 0,
            "usage.cache_creation.ephemeral_1h_input_tokens",
        )
        if isinstance(by_ttl, dict)
        else 0
    )
    return Usage(
        input_tokens=count(data.get("input_tokens") or 0, "usage.input_tokens") + read + written,
        output_tokens=count(data.get("output_tokens") or 0, "usage.output_tokens"),
        cached_input_tokens=read,
        cache_write_input_tokens=written,
        cache_write_1h_input_tokens=one_hour,
        web_searches=web_search.searches(data),
    )


def input_tokens(data: Any) -> int:
    """The count of a ``count_tokens`` answer; a ``ValueError`` for one of the wrong shape."""
    require_answer(data, "a count_tokens answer", "input_tokens")
    try:
        return count(data["input_tokens"], "input_tokens")
    except SHAPE_ERRORS as e:
        raise wrong_shape("a count_tokens answer", e) from e


def thinking_part(block: dict[str, Any]) -> ReasoningPart:
    """The reasoning part for a ``thinking`` block."""
    # str(): a part's fields are checked when it is made; an answer's are taken as text.
    signature = block.get("signature")
    return ReasoningPart(
        str(block.get("thinking") or ""), str(signature) if signature else None, origin=ORIGIN
    )


def response(data: dict[str, Any], json_tool: str | None = None) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed Messages API body.

    ``json_tool`` names the tool that emulates structured output: its input
    becomes the response text instead of a tool call. A text block's web
    citations index the place of the block in the joined text. A body of the
    wrong shape, or without its ``content`` (``{}``: no answer, not an empty
    one), is a ``ValueError``.
    """
    require_answer(data, "a message", "content")
    try:
        return _response(data, json_tool)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a message", e, data, _MESSAGE) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_MESSAGE = {
    "content": [{"input": {}, "citations": [{}]}],
    "usage": {"cache_creation": {}, "server_tool_use": {}},
}


def _response(data: dict[str, Any], json_tool: str | None) -> ChatResponse:
    text: list[str] = []
    length = 0  # of the text so far, in characters: where the next block starts
    cited: list[Citation] = []
    queries: list[str] = []
    thoughts: list[ReasoningPart] = []
    calls: list[ToolCall] = []
    answered_by_tool = False
    message_id = text_or_none(data.get("id"))
    for block in data.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            piece = block.get("text") or ""
            text.append(piece)
            if block.get("citations"):
                cited += web_search.citations(block["citations"], length, length + len(piece))
            length += len(piece)
        elif kind == "web_search_tool_result":
            web_search.note_result(block)
        elif kind == "server_tool_use":
            if (query := web_search.search_query(block)) is not None:
                queries.append(query)
        elif kind == "thinking":
            thoughts.append(thinking_part(block))
        elif kind == "redacted_thinking":
            thoughts.append(ReasoningPart(redacted=str(block.get("data") or ""), origin=ORIGIN))
        elif kind == "tool_use":
            if json_tool is not None and block.get("name") == json_tool:
                text.append(json.dumps(block.get("input") or {}))
                length += len(text[-1])
                answered_by_tool = True
            else:
                id = call_id(block.get("id"), message_id, len(calls))
                calls.append(tool_call(id, str(block.get("name") or ""), block.get("input")))
    finish = finish_reason(data.get("stop_reason"))
    if answered_by_tool and not calls and finish == "tool_calls":
        finish = "stop"
    reasoning, signature = reasoning_fields(thoughts) if thoughts else ("", None)
    return ChatResponse(
        text="".join(text),
        reasoning=reasoning,
        reasoning_signature=signature,
        reasoning_parts=tuple(thoughts),
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage(data.get("usage")),
        model=text_or_none(data.get("model")) or "",
        id=text_or_none(data.get("id")),
        citations=tuple(cited),
        search_queries=tuple(queries),
        # the sequence met, beside stop_reason "stop_sequence" (null otherwise)
        stop_sequence=text_or_none(data.get("stop_sequence")),
    )


def call_id(given: Any, message_id: str | None, ordinal: int) -> str:
    """A ``tool_use`` block's id, or one made up when a compatible server sent none:
    without it the tool loop and the gateway cannot pair a result with its call.

    Made from the message id and the call's position among the answer's calls, so
    the streamed and the whole answer agree and two answers' calls differ; kept to
    the characters Anthropic's ids allow (``^[a-zA-Z0-9_-]+$``), so it goes back
    as it is.
    """
    if given and isinstance(given, str):
        return given
    stem = _ID_UNSAFE.sub("_", message_id) if message_id else "relaykit"
    return f"toolu_{stem}_{ordinal}"


#: characters a tool_use id may not hold
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def tool_call(id: str, name: str, given: Any) -> ToolCall:
    """A ``tool_use`` block's call. Its ``input`` is an object; a compatible server
    that sends it as JSON text is read as that text, and anything else kept as
    ``raw_arguments``, as a streamed input that is not an object is."""
    if isinstance(given, dict):
        return ToolCall(id, name, given)
    if isinstance(given, str):
        return ToolCall.from_json_arguments(id, name, given)
    if given is None:
        return ToolCall(id, name)
    return ToolCall(id, name, raw_arguments=json.dumps(given))
