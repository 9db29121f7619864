"""Anthropic's Messages API (``POST /v1/messages``), served.

Anthropic's content blocks map onto relaykit's parts: ``text``, ``image``,
``tool_use`` (a :class:`~relaykit.ToolCall`), ``tool_result`` (a ``tool``
message of its own, as relaykit writes results), ``thinking`` and
``redacted_thinking`` (a :class:`~relaykit.ReasoningPart` of Anthropic's
origin, so its signature goes back only to an Anthropic model), ``document``
(a :class:`~relaykit.DocumentPart` from a base64, text or URL source, its
``title`` as the name and its ``context`` as a text part before it). Blocks
relaykit cannot carry (server tools' results, a document from an uploaded
file or of custom content) are refused with a 400 that names them rather
than dropped.

A ``cache_control`` mark on a system block, a content block or a block inside
a ``tool_result`` becomes a :class:`~relaykit.CachePoint` right after the part
it marks; on a tool, the tool's ``cache``. Providers with prompt caching turn
them back into their own marks. A top-level ``cache_control`` (Anthropic's
automatic caching) goes to the provider in ``extra``.

``thinking`` becomes relaykit's ``reasoning=`` (see
:mod:`relaykit_gateway.reasoning_fields`), which reaches whatever model the
call goes to in its vendor's terms (an Anthropic budget reaches o4-mini as
the effort :meth:`relaykit.Reasoning.level` gives it):

- ``{"type": "enabled", "budget_tokens": N}`` is a budget of ``N`` tokens
  (Anthropic's own minimum of 1,024 is left to Anthropic: another vendor
  takes less);
- ``{"type": "disabled"}`` is thinking off (``reasoning=False``), which the
  provider sends in its model's terms: ``disabled`` again to Claude 3.7 to 4.5
  and to Opus 5, Sonnet 5 and Haiku 5.5, nothing to Claude 4.6 to 4.8 (off is
  their default), ``between_tools`` to Sonnet 5.5 (Anthropic's way to turn
  its thinking off), and a 400 naming ``reasoning`` for the Claude 5 models
  that always think (Opus 5.5, Fable, Mythos), as Anthropic itself answers;
- ``{"type": "adaptive"}`` (Claude decides how much to think) is thinking on
  at the model's own amount (``reasoning=True``), or, with
  ``output_config.effort``, at that effort, which is then taken out of
  ``output_config`` (with a budget too, both are kept);
- ``{"type": "between_tools"}`` (thinking off, but the progress notes Claude
  writes between tool calls come back as thinking) has no relaykit
  equivalent: it goes to the provider as sent, so an Anthropic model does it
  and another vendor refuses it.

A ``thinking`` of another type, or a budget that is not a whole number of
tokens (1 or more), is a 400 that names it. ``display`` (``summarized`` or
``omitted``: whether the thinking text comes back) becomes relaykit's
``summary`` (``True`` or ``False``), which other vendors read in their own
terms (OpenAI's Responses API summaries, Gemini's thoughts).
``output_config.effort`` without ``thinking`` (before Claude 5 the answer's
own effort; on Claude 5, which thinks without being asked, also the depth of
that thinking) stays in ``output_config``, which goes to the provider as sent,
so a Claude model reads it as Anthropic does. No ``thinking`` is no
``reasoning=``: the model's default, thinking on Claude 5.

The ``web_search_20250305`` server tool (``max_uses``, ``allowed_domains``,
``blocked_domains``, ``user_location``) becomes relaykit's ``web_search=``
(see :mod:`relaykit_gateway.web_search_fields`): whatever provider the call
goes to searches, or refuses with a 400 what it cannot apply. The answer's
text comes back split into text blocks where cited spans begin and end, each
cited span's block with its ``web_search_result_location`` citations (their
``encrypted_index`` empty: the gateway has no Anthropic search results to
point into), and ``usage.server_tool_use.web_search_requests`` counts the
searches billed. Each query the provider ran (``ChatResponse.search_queries``)
comes back as Anthropic shows a search: a ``server_tool_use`` block (name
``web_search``, ``input`` ``{"query": ...}``, an ``srvtoolu_`` id) and its
``web_search_tool_result`` block, before the text; the result's ``content`` is
an empty list, as relaykit does not know which pages a search found (the
answer's citations say what it read). Streamed, they come as each
:class:`~relaykit.SearchQuery` arrives: the query as an ``input_json_delta``,
the result whole in its ``content_block_start``, as Anthropic streams them.
Those blocks a caller sends back (from this gateway or from Anthropic) are
skipped: the answer's text is in the text blocks. Streamed, a citation is a
``citations_delta`` in the text block open when it arrives (a new one when it
cites text still to come, as Anthropic streams them). Any other server tool
(code execution, web fetch...) is a 400.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import attrs

from relaykit import (
    CachePoint,
    ChatResponse,
    Citation,
    DocumentPart,
    ImagePart,
    InvalidRequestError,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    RelayError,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from relaykit.errors import did_you_mean
from relaykit.json_encode import dumps
from relaykit.messages import Part, ToolCall, parse_cache_control

from .dialect import (
    OVERLOADED,
    GatewayCall,
    caller_message,
    checked_tool_choice,
    model_id,
    reasoning_blocks,
    require_object,
    status_of,
    stream_flag,
    string_field,
    string_metadata,
    unclaimed,
)
from .reasoning_fields import (
    ANTHROPIC_EFFORTS,
    VENDOR_ONLY_EFFORTS,
    effort_word,
    require_mapping,
    setting,
    whole_tokens,
)
from .web_search_fields import (
    ANTHROPIC_FIELDS,
    cited_blocks,
    is_anthropic_search,
    only_search,
    search_result_location,
    search_setting,
)

#: the provider type whose signatures Anthropic's thinking blocks carry
ORIGIN = "anthropic"
#: request fields the gateway itself reads; the rest go to the provider in ``extra``
_OWN = frozenset(
    (
        "model",
        "messages",
        "system",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
    )
)
#: relaykit's finish reasons in Anthropic's words
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "other": "end_turn",
}


def stop_fields(response: ChatResponse) -> dict[str, Any]:
    """``stop_reason`` and ``stop_sequence`` as the API gives them: ``"stop_sequence"``
    and the sequence when the provider named the one the answer stopped on, else
    the reason's word and ``None``."""
    if response.stop_sequence is not None and response.finish_reason == "stop":
        return {"stop_reason": "stop_sequence", "stop_sequence": response.stop_sequence}
    return {"stop_reason": STOP_REASONS[response.finish_reason], "stop_sequence": None}


#: Anthropic's error types by status (its API reference, "Errors"); any other 4xx is
#: an ``invalid_request_error``, any other 5xx an ``api_error``
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicDialect:
    """Parses Messages API requests and renders relaykit's answers as Anthropic's."""

    default_provider = "anthropic"
    #: as Anthropic answers when overloaded, so its SDKs raise their OverloadedError
    overloaded_status = OVERLOADED

    def parse(self, body: Any, aliases: Sequence[str]) -> GatewayCall:
        """The call a Messages API request body asks for. ``max_tokens`` is required, as
        Anthropic requires it: without it the answer would have no bound the caller
        chose (each vendor's default, or none)."""
        body = require_object(body)
        if body.get("max_tokens") is None:
            raise InvalidRequestError(
                "`max_tokens` is required: the most tokens the answer may take"
                " (Anthropic's Messages API requires it)",
                param="max_tokens",
            )
        whole_tokens(body["max_tokens"], "max_tokens", 1)
        return self.parse_counted(body, aliases)

    def parse_counted(self, body: Any, aliases: Sequence[str]) -> GatewayCall:
        """The call a token count's request body (``/v1/messages/count_tokens``) stands
        for: a Messages request without ``max_tokens``, which the counter does not take."""
        body = require_object(body)
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise InvalidRequestError(
                "`messages` must be a non-empty list of messages", param="messages"
            )
        messages = [*_system(body.get("system"))]
        for i, m in enumerate(raw_messages):
            messages += _messages(m, f"messages.{i}")
        params: dict[str, Any] = {}
        for key in ("max_tokens", "temperature", "top_p"):
            if body.get(key) is not None:
                params[key] = body[key]
        if body.get("stop_sequences"):
            params["stop"] = body["stop_sequences"]
        if body.get("tools"):
            _tools(body["tools"], params)
        if body.get("tool_choice") is not None:
            params["tool_choice"] = _tool_choice(body["tool_choice"], params.get("tools"))
        metadata = string_metadata(body.get("metadata"), "metadata")
        if "user_id" in metadata:
            metadata["user"] = metadata.pop("user_id")
        if metadata:
            params["metadata"] = metadata
        extra = unclaimed(body, _OWN)
        reasoning = _reasoning(extra)
        if reasoning is not None:
            params["reasoning"] = reasoning
        if extra:
            params["extra"] = extra
        return GatewayCall(
            model=model_id(body.get("model"), aliases, self.default_provider),
            messages=tuple(messages),
            params=params,
            stream=stream_flag(body),
        )

    def response(
        self, response: ChatResponse, model: str, call: GatewayCall | None = None
    ) -> dict[str, Any]:
        """A ``message`` object."""
        content: list[dict[str, Any]] = [_thinking_block(p) for p in reasoning_blocks(response)]
        for query in response.search_queries:
            content += _search_blocks(query)
        content += cited_blocks(response.text, response.citations)
        content += [_tool_use_block(c) for c in response.tool_calls]
        return {
            "id": _message_id(response.id),
            "type": "message",
            "role": "assistant",
            "model": response.model or model,
            "content": content,
            **stop_fields(response),
            "usage": usage(response.usage),
        }

    def encoder(self, call: GatewayCall) -> EventEncoder:
        """An encoder of Messages API stream events."""
        return EventEncoder(call.model)

    def error_body(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """Anthropic's ``{"type": "error", "error": {...}, "request_id": ...}`` (no
        ``code``: Anthropic's bodies have none, its ``type`` says it all); the id
        is the one the answer's ``request-id`` header names (:data:`ANSWERING`), as
        Anthropic's are the same; without a request being answered, there is none."""
        body = error_object(status, message)
        request_id = ANSWERING.get()
        if request_id is not None:
            body["request_id"] = request_id
        return body


#: the id of the request the gateway is answering (set for each one it takes), which
#: Anthropic's error bodies and error events repeat beside its ``request-id`` header:
#: an error is raised far from the request (a stream's encoder, a batch's fetch), and
#: each request is answered in a task of its own
ANSWERING: ContextVar[str | None] = ContextVar("relaykit_gateway_answering", default=None)


def error_object(status: int, message: str) -> dict[str, Any]:
    """Anthropic's ``{"type": "error", "error": {...}}`` for ``status``, without a request
    id: as a batch's errored item holds it (no request of the caller's ran it)."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


#: the ``anthropic-version`` values Anthropic knows, which the gateway takes alike: its
#: SDKs send 2026-10-21 (from their 2.x versions) or 2023-06-01; 2023-01-01 differs from
#: 2023-06-01 only in the legacy Text Completions API. A request is read as the most
#: lenient of them reads it, but for what 2026-10-21 removed, refused when it is sent
#: with that version (relaykit_gateway.anthropic_versions)
VERSIONS = ("2026-10-21", "2023-06-01", "2023-01-01")


def check_version(version: str | None) -> None:
    """Refuse an ``anthropic-version`` Anthropic does not know, as Anthropic does (a 400
    naming the header). No header is taken: curl users leave it out, and every SDK
    sends one."""
    if version is None or version in VERSIONS:
        return
    raise InvalidRequestError(
        f'anthropic-version: "{version}" is not a valid version: send one of'
        f" {', '.join(VERSIONS)}, or no header"
    )


def usage(u: Usage) -> dict[str, Any]:
    """Anthropic's usage: its ``input_tokens`` leave out cache reads and writes, which
    relaykit's include; the web searches billed, if any, as its server tools' use."""
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens - u.cached_input_tokens - u.cache_write_input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_write_input_tokens,
    }
    if u.web_searches:
        out["server_tool_use"] = {"web_search_requests": u.web_searches, "web_fetch_requests": 0}
    return out


def _message_id(provider_id: str | None) -> str:
    if provider_id and provider_id.startswith("msg_"):
        return provider_id
    return f"msg_{os.urandom(12).hex()}"


# -- requests -----------------------------------------------------------------

#: what ``thinking.display`` takes: whether the thinking text comes back
_DISPLAYS = ("summarized", "omitted")
#: the ``thinking`` types the gateway reads (``between_tools`` goes as sent)
_THINKING_TYPES = ("enabled", "adaptive", "disabled", "between_tools")


def _reasoning(extra: dict[str, Any]) -> Reasoning | None:
    """``reasoning=`` from ``thinking`` (and ``output_config.effort``), taken out of
    ``extra`` (the request's unclaimed fields); what has no relaykit equivalent
    stays there, as the caller sent it."""
    config = extra.get("output_config")
    effort: str | None = None
    if isinstance(config, Mapping) and config.get("effort") is not None:
        effort = effort_word(config["effort"], "output_config.effort", ANTHROPIC_EFFORTS)
        if effort in VENDOR_ONLY_EFFORTS:
            effort = None  # not translated: output_config goes as sent
    thinking = extra.get("thinking")
    if thinking is None:
        return None
    thinking = require_mapping(thinking, "thinking", "with a `type`")
    kind = thinking.get("type")
    if kind == "between_tools":
        return None
    if kind == "disabled":
        del extra["thinking"]
        return Reasoning("none")
    display = thinking.get("display")
    summary = None if display is None else effort_word(display, "thinking.display", _DISPLAYS)
    shown = None if summary is None else summary == "summarized"
    if kind == "enabled":
        budget = whole_tokens(thinking.get("budget_tokens"), "thinking.budget_tokens", 1)
        found = setting("thinking", effort, budget, summary=shown)
    elif kind == "adaptive":
        found = setting("output_config.effort", effort, summary=shown)
    else:
        raise InvalidRequestError(
            f"`thinking.type` is {kind!r}; use one of {', '.join(_THINKING_TYPES)}",
            param="thinking.type",
            hint=did_you_mean(kind, _THINKING_TYPES) if isinstance(kind, str) else None,
        )
    del extra["thinking"]
    if effort is not None and isinstance(config, Mapping):  # the effort is in reasoning= now
        rest = {k: v for k, v in config.items() if k != "effort"}
        if rest:
            extra["output_config"] = rest
        else:
            del extra["output_config"]
    return found


def _system(system: Any) -> list[Message]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [Message.system(system)]
    if isinstance(system, list):
        parts: list[Part] = []
        for i, block in enumerate(system):
            parts += _marked([_text_block(block, f"system.{i}")], block, f"system.{i}")
        return [Message("system", tuple(parts))] if parts else []
    raise InvalidRequestError("`system` must be a string or a list of text blocks", param="system")


def _text_block(block: Any, where: str) -> TextPart:
    if not isinstance(block, Mapping) or block.get("type") != "text":
        raise InvalidRequestError(f"{where} must be a text block", param=where)
    return TextPart(string_field(block, "text", where))


def _marked(parts: list[Part], block: Mapping[str, Any], where: str) -> list[Part]:
    """``parts`` (one block's), then the cache point its ``cache_control`` asks for, if any."""
    point = parse_cache_control(block.get("cache_control"), where)
    return parts if point is None else [*parts, point]


def _messages(m: Any, where: str) -> list[Message]:
    """One Anthropic message as relaykit messages: a user message's ``tool_result``
    blocks each become a ``tool`` message, in the order they came."""
    if not isinstance(m, Mapping) or m.get("role") not in ("user", "assistant"):
        raise InvalidRequestError(
            f"{where} must be a message whose role is 'user' or 'assistant'", param=where
        )
    role = m["role"]
    content = m.get("content")
    if isinstance(content, str):
        return [Message(role, (TextPart(content),))]
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of blocks", param=f"{where}.content"
        )
    out: list[Message] = []
    pending: list[Part] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        if isinstance(block, Mapping) and block.get("type") == "tool_result" and role == "user":
            if pending:
                out.append(Message(role, tuple(pending)))
                pending = []
            out.append(Message("tool", _tool_result(block, at)))
        elif isinstance(block, Mapping) and block.get("type") == "document" and role == "user":
            pending += _marked(_document(block, at), block, at)
        elif role == "assistant" and _searched(block):
            continue  # Anthropic's own search and its results: the text after has them
        else:
            pending += _marked([_part(block, role, at)], block, at)
    if pending or not out:
        out.append(Message(role, tuple(pending)))
    return out


def _part(block: Any, role: str, where: str) -> Part:
    if not isinstance(block, Mapping):
        raise InvalidRequestError(f"{where} must be a content block", param=where)
    kind = block.get("type")
    if kind == "text":
        return TextPart(string_field(block, "text", where))
    if kind == "image":
        return _image(block, where)
    if kind == "tool_use" and role == "assistant":
        arguments = block.get("input")
        if not isinstance(arguments, Mapping):
            raise InvalidRequestError(f"{where}.input must be an object", param=f"{where}.input")
        return ToolCall(
            string_field(block, "id", where), string_field(block, "name", where), dict(arguments)
        )
    if kind == "thinking":
        signature = block.get("signature")
        return ReasoningPart(
            string_field(block, "thinking", where),
            signature if isinstance(signature, str) and signature else None,
            origin=ORIGIN,
        )
    if kind == "redacted_thinking":
        return ReasoningPart(redacted=string_field(block, "data", where), origin=ORIGIN)
    raise InvalidRequestError(
        f"{where} is a {kind!r} block in a {role} message, which the gateway cannot pass on:"
        " send text, image, document, tool_use, tool_result, thinking or redacted_thinking"
        " blocks (documents in user messages only)",
        param=f"{where}.type",
    )


def _image(block: Mapping[str, Any], where: str) -> ImagePart:
    source = block.get("source")
    if isinstance(source, Mapping) and source.get("type") == "base64":
        data = _base64(string_field(source, "data", where), f"{where}.source.data")
        return ImagePart(
            data=data, media_type=string_field(source, "media_type", f"{where}.source")
        )
    if isinstance(source, Mapping) and source.get("type") == "url":
        return ImagePart(url=string_field(source, "url", f"{where}.source"))
    raise InvalidRequestError(
        f"{where}.source must be a base64 or url image source", param=f"{where}.source"
    )


def _document(block: Mapping[str, Any], where: str) -> list[Part]:
    """A ``document`` block as parts: its ``context`` (what the caller says about the
    document, for the model to read) as text, then the document.

    ``citations`` is not read: the citations relaykit's answers carry are web
    search's, and an answer without citations of the document is one Anthropic
    gives too.
    """
    title = block.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidRequestError(f"{where}.title must be a string", param=f"{where}.title")
    document = _document_source(block.get("source"), title or None, f"{where}.source")
    context = block.get("context")
    if context is None or context == "":
        return [document]
    return [TextPart(string_field(block, "context", where)), document]


def _document_source(source: Any, title: str | None, where: str) -> DocumentPart:
    """The document a ``document`` block's ``source`` holds: base64 bytes, text or a URL."""
    kind = source.get("type") if isinstance(source, Mapping) else None
    if kind == "base64":
        return DocumentPart(
            data=_base64(string_field(source, "data", where), f"{where}.data"),
            media_type=string_field(source, "media_type", where),
            name=title,
        )
    if kind == "text":
        text = string_field(source, "data", where)
        return DocumentPart(data=text.encode(), media_type="text/plain", name=title)
    if kind == "url":  # Anthropic reads PDFs only by URL
        return DocumentPart(url=string_field(source, "url", where), name=title)
    if kind == "file":
        raise InvalidRequestError(
            f"{where} names an uploaded file (file_id), which the gateway cannot read:"
            " send the document itself as a base64 or text source",
            param=f"{where}.file_id",
        )
    raise InvalidRequestError(
        f"{where} must be a base64, text or url document source"
        + (" (custom content: send its text as a text source)" if kind == "content" else ""),
        param=f"{where}.type" if kind is not None else where,
    )


def _base64(data: str, where: str) -> bytes:
    """``data`` decoded, or the error naming ``where`` as not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as e:
        raise InvalidRequestError(f"{where} is not base64: {e}", param=where) from e


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[Part, ...]:
    """A ``tool_result`` block as a tool message's parts: the result, then a cache point
    if the block or a text block inside it is marked."""
    content = block.get("content", "")
    point = parse_cache_control(block.get("cache_control"), where)
    attachments: list[ImagePart | DocumentPart] = []
    if isinstance(content, list):
        texts = []
        inside: CachePoint | None = None
        for i, b in enumerate(content):
            inner = f"{where}.content.{i}"
            kind = b.get("type") if isinstance(b, Mapping) else None
            if kind == "image":
                attachments.append(_image(b, inner))
            elif kind == "document":
                # A document's context would be text beside the result's own: left
                # to its title, as a tool result has one text.
                attachments.append(_document_source(b.get("source"), b.get("title"), inner))
            else:
                texts.append(_text_block(b, inner).text)
            inside = parse_cache_control(b.get("cache_control"), inner) or inside
        content = "".join(texts)
        # The result is one text and its attachments: a mark inside it can only go
        # after all of it.
        point = point or inside
    elif not isinstance(content, str):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of text, image and document blocks",
            param=f"{where}.content",
        )
    result = ToolResultPart(
        string_field(block, "tool_use_id", where),
        content,
        block.get("is_error") is True,
        attachments=attachments,
    )
    return (result,) if point is None else (result, point)


def _searched(block: Any) -> bool:
    """Whether an assistant's block is a web search Anthropic ran, or its results."""
    if not isinstance(block, Mapping):
        return False
    kind = block.get("type")
    return kind == "web_search_tool_result" or (
        kind == "server_tool_use" and block.get("name") == "web_search"
    )


def _tools(tools: Any, params: dict[str, Any]) -> None:
    """``tools`` into ``params``: client tools as ``tools``, the web search server tool
    as ``web_search``. A ``cache_control`` on the search tool marks the client tool
    before it, the last definition relaykit caches."""
    if not isinstance(tools, list):
        raise InvalidRequestError("`tools` must be a list of tools", param="tools")
    found: list[Tool] = []
    search = None
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if not is_anthropic_search(tool):
            found.append(_tool(tool, where))
            continue
        only_search(search, where)
        search = search_setting(tool, where, ANTHROPIC_FIELDS)
        point = parse_cache_control(tool.get("cache_control"), where)
        if point is not None and found and found[-1].cache is None:
            found[-1] = attrs.evolve(found[-1], cache=point)
    if found:
        params["tools"] = found
    if search is not None:
        params["web_search"] = search


def _tool(tool: Any, where: str) -> Tool:
    if not isinstance(tool, Mapping):
        raise InvalidRequestError(f"{where} must be a tool object", param=where)
    if tool.get("type") not in (None, "custom"):
        # Anthropic's other server tools (code execution, web fetch...) run at
        # Anthropic, and their results come back as blocks relaykit has no part for.
        raise InvalidRequestError(
            f"{where} is Anthropic's server tool {tool.get('type')!r}, which the gateway"
            " cannot route: declare client tools with name, description and input_schema"
            " (of the server tools, the gateway routes web_search_20250305)",
            param=f"{where}.type",
        )
    spec = {
        "name": tool.get("name"),
        "description": tool.get("description") or "",
        "input_schema": tool.get("input_schema"),
        "cache_control": tool.get("cache_control"),
    }
    return Tool.coerce(spec, where)


def _tool_choice(choice: Any, tools: Any) -> ToolChoice:
    """Anthropic's ``tool_choice``, read as the core reads it: a
    ``disable_parallel_tool_use: true`` relaykit cannot carry is refused, not dropped;
    so is a tool named that ``tools`` does not define."""
    if not isinstance(choice, Mapping):
        raise InvalidRequestError("`tool_choice` must be an object", param="tool_choice")
    return checked_tool_choice(choice, tools)


# -- responses ------------------------------------------------------------------


def _thinking_block(part: ReasoningPart) -> dict[str, Any]:
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    # Another vendor's signature means nothing to an Anthropic client: it is left out.
    signature = part.signature if part.signature and part.origin in (None, ORIGIN) else ""
    return {"type": "thinking", "thinking": part.text, "signature": signature}


def _tool_use_block(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


def _search_use(query: str) -> dict[str, Any]:
    """A ``server_tool_use`` block of a web search for ``query``."""
    return {
        "type": "server_tool_use",
        "id": f"srvtoolu_{os.urandom(12).hex()}",
        "name": "web_search",
        "input": {"query": query},
    }


def _search_result(use: dict[str, Any]) -> dict[str, Any]:
    """The ``web_search_tool_result`` block of the search ``use``: no pages (relaykit
    does not know which a search found; the answer's citations say what it read)."""
    return {"type": "web_search_tool_result", "tool_use_id": use["id"], "content": []}


def _search_blocks(query: str) -> list[dict[str, Any]]:
    """A search as a whole message lists it: its use, then its result."""
    use = _search_use(query)
    return [use, _search_result(use)]


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"


#: Anthropic's keep-alive event, which its SDKs skip
PING = _frame("ping", {"type": "ping"})


class EventEncoder:
    """One streamed answer as Messages API events: ``message_start``, content blocks
    (each started, added to and stopped), ``message_delta`` and ``message_stop``.

    ``message_start`` (then a ``ping``, as Anthropic's own stream opens) goes out at
    the first event that is not the stream's start or its usage: the stream is read
    ahead to its first content before the answer starts, so that is at once, and it
    carries the input tokens a provider reports before writing (Anthropic's do; a
    vendor that reports usage only at the end gets 0 there, its count coming in
    ``message_delta``, which the SDKs read). A keep-alive before then opens the
    message with what is known so far: the SDKs refuse anything before it.
    """

    def __init__(self, model: str) -> None:
        self._model = model
        self._id: str | None = None
        self._usage = Usage()
        self._started = False
        #: the open block's index and kind ("text", "thinking", "tool_use"), if one is open
        self._index = -1
        self._open: str | None = None
        #: the provider type that produced the open thinking block (its signatures'
        #: meaning), if it said
        self._origin: str | None = None
        #: relaykit's tool-call index -> the block index it streams into
        self._tool_blocks: dict[int, int] = {}
        #: the answer's text so far, and the open text block's
        self._chars = 0
        self._block_chars = 0
        #: the searches streamed so far (one per SearchQuery event)
        self._searched = 0

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": _message_id(self._id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(self._usage),
        }
        start = _frame("message_start", {"type": "message_start", "message": message})
        return start + PING

    def keepalive(self) -> bytes:
        """A ``ping`` (after ``message_start``, which the SDKs need first)."""
        return self._start() or PING

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _frame("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _block(self, block: dict[str, Any]) -> bytes:
        out = self._start() + self._close()
        self._index += 1
        self._open = str(block["type"])
        data = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + _frame("content_block_start", data)

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> bytes:
        data = {
            "type": "content_block_delta",
            "index": self._index if index is None else index,
            "delta": delta,
        }
        return _frame("content_block_delta", data)

    def event(self, event: StreamEvent) -> bytes:
        """The frames ``event`` becomes."""
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            out = b"" if self._open == "text" else self._text_block()
            self._chars += len(event.text)
            self._block_chars += len(event.text)
            return out + self._delta({"type": "text_delta", "text": event.text})
        if isinstance(event, Citation):
            return self._citation(event)
        if isinstance(event, SearchQuery):
            return self._search(event.query)
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event)
        if isinstance(event, ToolCallDelta):
            return self._tool_call(event)
        if isinstance(event, StreamStart):
            self._id = self._id or event.id
            self._model = event.model or self._model
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        return b""

    def _search(self, query: str) -> bytes:
        """A search as Anthropic streams one: its ``server_tool_use`` block (the input
        as one ``input_json_delta``), then its result block, whole at its start."""
        self._searched += 1
        use = _search_use(query)
        out = self._block({**use, "input": {}})
        out += self._delta(
            {"type": "input_json_delta", "partial_json": dumps(use["input"]).decode()}
        )
        out += self._block(_search_result(use))
        return out + self._close()

    def _text_block(self) -> bytes:
        self._block_chars = 0
        return self._block({"type": "text", "text": ""})

    def _citation(self, citation: Citation) -> bytes:
        """A ``citations_delta`` in the open text block, or in a new one: when none is
        open, or when it cites text still to come and the open one has text already
        (Anthropic's cited span is a block of its own, its citations first)."""
        ahead = citation.start is not None and citation.start >= self._chars
        out = b""
        if self._open != "text" or (ahead and self._block_chars):
            out = self._text_block()
        citation_delta = {"type": "citations_delta", "citation": search_result_location(citation)}
        return out + self._delta(citation_delta)

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        if event.redacted is not None:
            out = self._block({"type": "redacted_thinking", "data": event.redacted})
            return out + self._close()
        out = b""
        if self._open != "thinking" or event.new_block:
            out = self._block({"type": "thinking", "thinking": "", "signature": ""})
            # the delta that starts a block names its origin; later ones do not
            self._origin = event.origin
        if event.text:
            out += self._delta({"type": "thinking_delta", "thinking": event.text})
        if event.signature and self._origin in (None, ORIGIN):
            out += self._delta({"type": "signature_delta", "signature": event.signature})
        return out

    def _tool_call(self, event: ToolCallDelta) -> bytes:
        out = b""
        index = self._tool_blocks.get(event.index)
        if index is None:
            out = self._block(
                {"type": "tool_use", "id": event.id or "", "name": event.name or "", "input": {}}
            )
            index = self._tool_blocks[event.index] = self._index
        if event.arguments:
            out += self._delta({"type": "input_json_delta", "partial_json": event.arguments}, index)
        return out

    def end(self, response: ChatResponse) -> bytes:
        """The last block's stop, ``message_delta`` (stop reason, usage), ``message_stop``."""
        delta = {
            "type": "message_delta",
            "delta": stop_fields(response),
            "usage": usage(response.usage),
        }
        out = self._start()
        # A provider that reports its searches on the finish only (no SearchQuery
        # events): those not streamed yet come here, after the text.
        for query in response.search_queries[self._searched :]:
            out += self._search(query)
        out += self._close() + _frame("message_delta", delta)
        return out + _frame("message_stop", {"type": "message_stop"})

    def error(self, error: RelayError) -> bytes:
        """An ``error`` event, which Anthropic's SDKs raise as an API error."""
        body = AnthropicDialect().error_body(status_of(error, OVERLOADED), caller_message(error))
        return _frame("error", body)
