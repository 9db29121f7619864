"""OpenAI's Responses API (``POST /v1/responses``), served.

A caller sends the whole conversation in ``input``, or continues a response
the gateway answered with ``previous_response_id``: the gateway keeps each
response it answers (unless ``store`` is false) in memory for an hour, as
:mod:`relaykit_gateway.response_store` says. ``conversation`` (OpenAI's
Conversations API) is refused with a 400 that says so. Input items map onto
relaykit's messages: a run of
assistant-side items (``reasoning``, an assistant ``message``,
``function_call``) is one assistant turn, ``function_call_output`` a ``tool``
message. An ``input_file`` part is a :class:`~relaykit.DocumentPart`: its
``file_data`` (a ``data:`` URL) or its ``file_url``; an uploaded file
(``file_id``) is refused, since it lives at OpenAI. A reasoning item's
encrypted content travels as a
:class:`~relaykit.ReasoningPart` of this API's origin, which only a provider
of that origin sends back: relaykit-openai in its Responses mode (``api =
"responses"``, or ``"auto"`` for OpenAI's Responses-only models). Every other
provider drops it, as they drop any other vendor's signatures and redacted
reasoning.

``reasoning.effort`` becomes relaykit's ``reasoning=`` (see
:mod:`relaykit_gateway.reasoning_fields`), which reaches whatever model the
call goes to in its vendor's terms: o4-mini's ``reasoning_effort``, Claude's
thinking budget... An effort the API would refuse is a 400 that names it.
With an effort, a ``summary`` (``auto``, ``concise``, ``detailed``) becomes
relaykit's ``summary=True``: the providers that return reasoning text only
when asked are asked (OpenAI's Responses API for ``auto`` summaries, Claude
4.7 on, Gemini's thoughts). Without an effort it is not read: Codex asks for
a summary on every request, and that alone must not turn thinking on for a
model that was not asked to think. The object's other options
(``generate_summary``, ``context``, ``mode``) belong to OpenAI's Responses API
alone and are not sent: passing them on in ``extra`` would break the call
everywhere but there (every other vendor's API refuses a ``reasoning`` field,
and so does OpenAI's Chat Completions). Whatever reasoning text a provider
returns comes back as the summary of a reasoning item.

A ``web_search`` (or ``web_search_preview``) tool becomes relaykit's
``web_search=`` (see :mod:`relaykit_gateway.web_search_fields`): its
``filters.allowed_domains``, ``search_context_size`` and ``user_location``
reach whatever provider the call goes to, which refuses (a 400) what it
cannot apply. The answer's citations are the ``url_citation`` annotations of
its ``output_text`` (streamed: ``response.output_text.annotation.added``, as
the message's text ends). Each query the provider reports it ran
(``ChatResponse.search_queries``) comes back as a completed ``web_search_call``
item (a search action with that ``query``), before the message as OpenAI
lists them; streamed, each comes as its :class:`~relaykit.SearchQuery` event
arrives (added, in progress, searching, completed, done), ending the message
or reasoning item before it, as OpenAI streams a search between them. No
sources ride on them: a provider's citations are the message's annotations.
``web_search_call`` items a caller sends back in ``input`` are skipped: the
answer's text and citations are in its message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from relaykit import (
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
    ToolCall,
    ToolCallDelta,
    ToolResultPart,
    Usage,
)
from relaykit.json_encode import dumps
from relaykit.json_schemas import strict_ok
from relaykit.messages import Part, coerce_messages

from .dialect import (
    OPENAI_CHOICE_WORDS,
    SSE_COMMENT,
    GatewayCall,
    caller_message,
    checked_tool_choice,
    error_code,
    model_id,
    openai_extra,
    openai_stream_flag,
    reasoning_blocks,
    require_object,
    status_of,
    string_field,
)
from .openai_dialect import OpenAIDialect, caller_metadata, refuse_logprobs
from .reasoning_fields import (
    OPENAI_EFFORTS,
    VENDOR_ONLY_EFFORTS,
    effort_word,
    require_mapping,
    setting,
)
from .web_search_fields import (
    RESPONSES_FIELDS,
    is_responses_search,
    only_search,
    search_setting,
    spans,
    url_citation,
)

#: the origin of the reasoning parts this API's encrypted reasoning becomes
ORIGIN = "openai-responses"
#: request fields the gateway reads, or leaves out on purpose: ``include`` (extra
#: output data: encrypted reasoning comes whenever a provider gives it) and the
#: ``reasoning`` options other than ``effort`` (see the module's docstring)
_OWN = frozenset(
    (
        "model",
        "input",
        "instructions",
        "previous_response_id",
        "conversation",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "text",
        "metadata",
        "user",
        "stream",
        "reasoning",
        "store",
        "include",
        # refused when they ask for log probabilities (refuse_logprobs) or padding the
        # gateway's stream has none of: otherwise they ask for nothing, and sent on
        # they would reach APIs without such a field
        "top_logprobs",
        "stream_options",
    )
)
#: what ``include`` asks each output_text's log probabilities with
_LOGPROBS = "message.output_text.logprobs"
_STATUS = {"length": "incomplete", "content_filter": "incomplete"}
_CHAT = OpenAIDialect()
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


class ResponsesDialect:
    """Parses Responses API requests and renders relaykit's answers as ``response`` objects."""

    default_provider = "openai"
    #: OpenAI's SDKs take any 5xx alike: an overloaded provider is unavailable (503)
    overloaded_status = 503

    def parse(self, body: Any, aliases: Sequence[str]) -> GatewayCall:
        """The call a Responses API request body asks for."""
        body = require_object(body)
        include = body.get("include")
        refuse_logprobs(
            body, "include" if isinstance(include, list) and _LOGPROBS in include else None
        )
        if body.get("conversation"):
            raise InvalidRequestError(
                "the gateway keeps no conversations (OpenAI's Conversations API): continue"
                " with `previous_response_id`, or send the whole conversation in `input`",
                param="conversation",
            )
        previous = body.get("previous_response_id")
        if previous is not None and not isinstance(previous, str):
            raise InvalidRequestError(
                "`previous_response_id` must be a response's id", param="previous_response_id"
            )
        messages: list[Message] = []
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            messages.append(Message.system(instructions))
        given = len(messages)
        messages += _input(body.get("input"))
        if len(messages) == given and not previous:
            raise InvalidRequestError("`input` is empty: send at least one item", param="input")
        params: dict[str, Any] = {}
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                params[key] = body[key]
        if body.get("max_output_tokens") is not None:
            params["max_tokens"] = body["max_output_tokens"]
        if body.get("tools"):
            _tools(body["tools"], params)
        if body.get("tool_choice") is not None:
            params["tool_choice"] = checked_tool_choice(
                body["tool_choice"], params.get("tools"), words=OPENAI_CHOICE_WORDS
            )
        text_format = (body.get("text") or {}).get("format")
        if isinstance(text_format, Mapping) and text_format.get("type") != "text":
            params["response_format"] = _response_format(text_format)
        metadata = caller_metadata(body)
        if metadata:
            params["metadata"] = metadata
        extra = openai_extra(body, _OWN)
        if "truncation" in extra and extra["truncation"] not in ("auto", "disabled"):
            raise InvalidRequestError(
                f"`truncation` is {extra['truncation']!r}; use 'auto' or 'disabled'",
                param="truncation",
            )
        if extra.get("truncation") == "disabled":
            # OpenAI's default, which asks for nothing: sent on, it would reach APIs
            # that have no such field. "auto" goes, to be applied or refused.
            del extra["truncation"]
        reasoning = _reasoning(body.get("reasoning"), extra)
        if reasoning is not None:
            params["reasoning"] = reasoning
        if extra:
            params["extra"] = extra
        stream = openai_stream_flag(body)
        return GatewayCall(
            model=model_id(body.get("model"), aliases, self.default_provider),
            messages=tuple(messages),
            params=params,
            stream=stream,
            instructions=given,
            previous_response_id=previous or None,
            # OpenAI keeps responses unless told not to: so does the gateway (in memory)
            store=body.get("store") is not False,
            echo=_settings(body),
        )

    def response(
        self, response: ChatResponse, model: str, call: GatewayCall | None = None
    ) -> dict[str, Any]:
        """A ``response`` object, repeating the settings of ``call``'s request."""
        output: list[dict[str, Any]] = [_reasoning_item(p) for p in reasoning_blocks(response)]
        output += [_search_item(query) for query in response.search_queries]
        if response.text or response.citations:
            annotations = [
                url_citation(c, s, e) for c, s, e in spans(response.citations, len(response.text))
            ]
            output.append(_message_item(_new_id("msg"), response.text, "completed", annotations))
        for made in response.tool_calls:
            arguments = made.raw_arguments or json.dumps(made.arguments)
            output.append(_call_item(_new_id("fc"), made.id, made.name, arguments, "completed"))
        echo = call.echo if call is not None else {}
        return _response_object(
            _response_id(response.id), response.model or model, output, response, echo=echo
        )

    def encoder(self, call: GatewayCall) -> ResponseEventEncoder:
        """An encoder of Responses API stream events."""
        return ResponseEventEncoder(call.model, call.echo)

    def error_body(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """OpenAI's ``{"error": {...}}``, the same for both of its APIs."""
        return _CHAT.error_body(status, message, param, code)


def usage(u: Usage) -> dict[str, Any]:
    """The Responses API's usage; relaykit's counts include cached and reasoning tokens, as
    its own do."""
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(12).hex()}"


def _response_id(provider_id: str | None) -> str:
    if provider_id and provider_id.startswith("resp_"):
        return provider_id
    return _new_id("resp")


# -- requests -----------------------------------------------------------------


def _reasoning(value: Any, extra: dict[str, Any]) -> Reasoning | None:
    """``reasoning=`` from the ``reasoning`` object's ``effort`` (``None``: the model's
    default), with ``summary=True`` when it asks for one. Its other options are
    not sent: see the module's docstring. The effort ``max``, which relaykit has
    no word for, goes into ``extra`` as ``reasoning_effort`` instead,
    untranslated (as the gateway sent every effort before relaykit had
    ``reasoning=``)."""
    if value is None:
        return None
    value = require_mapping(value, "reasoning", "with an `effort`")
    word = value.get("effort")
    if word is None:
        return None
    word = effort_word(word, "reasoning.effort", OPENAI_EFFORTS)
    if word in VENDOR_ONLY_EFFORTS:
        extra["reasoning_effort"] = word
        return None
    summary = value.get("summary")
    if summary is not None:
        summary = effort_word(summary, "reasoning.summary", _SUMMARIES)
    found = setting("reasoning.effort", word)
    # a summary of thinking turned off asks for nothing
    return found if summary is None or found.off else attrs.evolve(found, summary=True)


#: what the Responses API's ``reasoning.summary`` takes
_SUMMARIES = ("auto", "concise", "detailed")


def _input(value: Any) -> list[Message]:
    if isinstance(value, str):
        return [Message.user(value)]
    if not isinstance(value, list):
        raise InvalidRequestError("`input` must be a string or a list of items", param="input")
    out: list[Message] = []
    turn: list[Part] = []  # the assistant-side items of the turn being read

    def end_turn() -> None:
        if turn:
            out.append(Message("assistant", tuple(turn)))
            turn.clear()

    for i, item in enumerate(value):
        where = f"input.{i}"
        if not isinstance(item, Mapping):
            raise InvalidRequestError(f"{where} must be an item object", param=where)
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") == "assistant":
            turn += _content(item.get("content"), where)
        elif kind == "message":
            end_turn()
            role = item.get("role")
            if role not in ("user", "system", "developer"):
                raise InvalidRequestError(
                    f"{where}.role is {role!r}; use user, system, developer or assistant",
                    param=f"{where}.role",
                )
            out.append(
                Message(
                    "user" if role == "user" else "system", _content(item.get("content"), where)
                )
            )
        elif kind == "function_call":
            turn.append(
                ToolCall.from_json_arguments(
                    string_field(item, "call_id", where),
                    string_field(item, "name", where),
                    string_field(item, "arguments", where),
                )
            )
        elif kind == "function_call_output":
            end_turn()
            output = item.get("output")
            text, attachments = (
                (output, ())
                if isinstance(output, str)
                else _output_parts(output, f"{where}.output")
            )
            result = ToolResultPart(
                string_field(item, "call_id", where), text, attachments=attachments
            )
            out.append(Message("tool", (result,)))
        elif kind == "web_search_call":
            continue  # a search OpenAI ran: its findings are in the message after it
        elif kind == "reasoning":
            # Summary parts joined as relaykit-openai joins them: a blank line apart.
            summary = "\n\n".join(
                s.get("text", "") for s in item.get("summary") or () if isinstance(s, Mapping)
            )
            encrypted = item.get("encrypted_content")
            turn.append(
                ReasoningPart(
                    summary,
                    redacted=encrypted if isinstance(encrypted, str) else None,
                    origin=ORIGIN,
                )
            )
        else:
            raise InvalidRequestError(
                f"{where} is a {kind!r} item, which the gateway cannot pass on: send"
                " message, function_call, function_call_output or reasoning items",
                param=f"{where}.type",
            )
    end_turn()
    return out


def _content(content: Any, where: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(content),)
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of parts", param=f"{where}.content"
        )
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}.content.{j}"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append(TextPart(string_field(part, "text", at)))
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            # Chat Completions' shape, so data: URLs become bytes as everywhere else
            parts += _chat_part({"type": "image_url", "image_url": {"url": part["image_url"]}}, at)
        elif kind == "input_file":
            parts.append(_file(part, at))
        else:
            raise InvalidRequestError(
                f"{at} is a {kind!r} part, which the gateway cannot pass on: send"
                " input_text, output_text, input_image (with an image_url) or input_file",
                param=f"{at}.type",
            )
    return tuple(parts)


#: where :func:`coerce_messages` places the one part :func:`_chat_part` hands it
_CHAT_AT = "messages[0].content[0]"


def _chat_part(part: Mapping[str, Any], at: str) -> tuple[Part, ...]:
    """``part``, in Chat Completions' shape, read as relaykit reads it there; an error
    names ``at``, where the caller put it, rather than the one-part message it went in."""
    try:
        (message,) = coerce_messages([{"role": "user", "content": [part]}])
    except InvalidRequestError as e:
        # A file's fields sit inside `file` there, and on the part itself here.
        text = e.message.replace(f"{_CHAT_AT}.file.", f"{at}.").replace(_CHAT_AT, at)
        raise InvalidRequestError(text, param=at, hint=e.hint) from e
    return message.content


def _file(part: Mapping[str, Any], at: str) -> DocumentPart:
    """An ``input_file`` part: its bytes as a ``data:`` URL (``file_data``) or its URL
    (``file_url``). An uploaded file (``file_id``) lives at OpenAI, out of reach."""
    if part.get("file_id") is not None:
        raise InvalidRequestError(
            f"{at} names an uploaded file (file_id), which the gateway cannot read (its"
            " /v1/files holds batch input only): send the file itself as file_data (a"
            " data: URL, with its filename), or its file_url",
            param=f"{at}.file_id",
        )
    name = part.get("filename")
    if name is not None and not isinstance(name, str):
        raise InvalidRequestError(f"{at}.filename must be a string", param=f"{at}.filename")
    if part.get("file_data") is not None:
        file = {"file_data": string_field(part, "file_data", at), "filename": name}
        (document,) = _chat_part({"type": "file", "file": file}, at)
        assert isinstance(document, DocumentPart)
        return document
    if part.get("file_url") is not None:
        url = string_field(part, "file_url", at)
        return DocumentPart(url=url, media_type=_url_media_type(url), name=name)
    raise InvalidRequestError(
        f"{at} is an input_file with neither file_data (a data: URL) nor file_url",
        param=at,
    )


def _url_media_type(url: str) -> str:
    """What a file at ``url`` holds, by its name: plain text for ``.txt``, else a PDF
    (a URL says no more, and a PDF is what callers send most)."""
    path = urlsplit(url).path
    return "text/plain" if path.lower().endswith(".txt") else "application/pdf"


def _output_parts(value: Any, where: str) -> tuple[str, tuple[ImagePart | DocumentPart, ...]]:
    """A ``function_call_output``'s list of parts as a tool result's text (the text
    parts joined) and attachments (its images and files)."""
    if not isinstance(value, list):
        raise InvalidRequestError(f"{where} must be a string or a list of parts", param=where)
    parts = _content(value, where.rsplit(".", 1)[0])
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    return text, tuple(p for p in parts if isinstance(p, ImagePart | DocumentPart))


def _tools(tools: Any, params: dict[str, Any]) -> None:
    """``tools`` into ``params``: function tools as ``tools``, the web search tool as
    ``web_search``."""
    if not isinstance(tools, list):
        raise InvalidRequestError("`tools` must be a list of tools", param="tools")
    functions = []
    search = None
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if is_responses_search(tool):
            only_search(search, where)
            search = search_setting(tool, where, RESPONSES_FIELDS)
        else:
            functions.append(_tool(tool, where))
    if functions:
        params["tools"] = functions
    if search is not None:
        params["web_search"] = search


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        raise InvalidRequestError(
            f"{where} is a {kind!r} tool, which runs at OpenAI: the gateway routes function"
            " tools and web_search only",
            param=f"{where}.type",
        )
    parameters = tool.get("parameters")
    strict = tool.get("strict")
    if strict is None:
        # OpenAI's Responses API, unlike Chat Completions, makes a tool without
        # `strict` strict when it can. It gets there by rewriting the schema (every
        # property made required, every object closed), which changes what the
        # caller's schema says; the gateway takes the strict reading only of a schema
        # that already keeps strict mode's rules, and best effort otherwise, as OpenAI
        # does when its rewriting fails.
        strict = True if isinstance(parameters, Mapping) and strict_ok(parameters) else None
    return {
        "name": tool.get("name"),
        "description": tool.get("description") or "",
        "parameters": parameters,
        "strict": strict,
    }


def _response_format(text_format: Mapping[str, Any]) -> dict[str, Any]:
    if text_format.get("type") == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {
                "name": text_format.get("name") or "response",
                "schema": text_format.get("schema") or {},
                "strict": text_format.get("strict", True) is not False,
            },
        }
    return dict(text_format)  # json_object


# -- responses ------------------------------------------------------------------


def _reasoning_item(part: ReasoningPart, item_id: str | None = None) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    item = {"type": "reasoning", "id": item_id or _new_id("rs"), "summary": summary}
    if part.origin == ORIGIN and part.redacted is not None:
        # OpenAI's own encrypted reasoning (relaykit-openai's Responses mode): the
        # caller sends it back next turn, as with `include: ["reasoning.encrypted_content"]`.
        # No other vendor's encrypted data means anything to a Responses client.
        item["encrypted_content"] = part.redacted
    return item


def _message_item(
    item_id: str, text: str, status: str, annotations: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": list(annotations)}
    content = [part] if text or annotations else []
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _search_item(query: str, status: str = "completed") -> dict[str, Any]:
    # `query` is required by OpenAI's schema (and deprecated for `queries`):
    # both, so that older and newer clients read it
    action = {"type": "search", "query": query, "queries": [query]}
    return {"type": "web_search_call", "id": _new_id("ws"), "status": status, "action": action}


def _call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _response_object(
    response_id: str,
    model: str,
    output: list[dict[str, Any]],
    response: ChatResponse | None,
    created_at: int | None = None,
    *,
    echo: Mapping[str, Any],
) -> dict[str, Any]:
    reason = response.finish_reason if response is not None else None
    status = "in_progress" if response is None else _STATUS.get(str(reason), "completed")
    incomplete = {"reason": _INCOMPLETE[str(reason)]} if status == "incomplete" else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": incomplete,
        **_DEFAULT_SETTINGS,
        **echo,
        "usage": usage(response.usage) if response is not None else None,
    }


#: what a response object says of the settings a request left out: OpenAI's
#: defaults where the gateway knows them, null where the model's own apply
_DEFAULT_SETTINGS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "user": None,
}


def _settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``body`` gave that its response object repeats, as OpenAI's does
    (a client reads them back, from the answer or a retrieve), each as it came: the
    checks in :meth:`ResponsesDialect.parse` have passed by then. Fields OpenAI's
    object has and the gateway cannot know (``service_tier``, the
    model's own default ``temperature``) are left out or null."""
    out = {key: body[key] for key in _DEFAULT_SETTINGS if body.get(key) is not None}
    if "reasoning" in out:
        out["reasoning"] = {**_DEFAULT_SETTINGS["reasoning"], **out["reasoning"]}
    if "text" in out:
        out["text"] = {**_DEFAULT_SETTINGS["text"], **out["text"]}
    if out.get("instructions") == "":
        del out["instructions"]
    return out


class ResponseEventEncoder:
    """One streamed answer as Responses API events, each numbered: ``response.created``,
    ``response.in_progress``, each output item added, filled and done, then
    ``response.completed`` (or ``response.incomplete``) with the whole response."""

    def __init__(self, model: str, echo: Mapping[str, Any] | None = None) -> None:
        self._model = model
        #: the request's settings, which every response object of the stream repeats
        self._echo = echo or {}
        self._id = _new_id("resp")
        self._created = int(time.time())
        self._sequence = 0
        self._started = False
        #: the output items so far, as the final response will list them
        self._output: list[dict[str, Any]] = []
        #: the open message item (its index) and its text so far
        self._message: int | None = None
        self._text: list[str] = []
        #: the answer's text so far (every message item's), where the open message's
        #: text begins in it, and the citations its next message to end will carry
        self._chars = 0
        self._item_start = 0
        self._cited: list[Citation] = []
        #: the open reasoning item (its index), its text so far and its encrypted form
        self._thinking: int | None = None
        self._thought: list[str] = []
        self._encrypted: str | None = None
        #: relaykit's tool-call index -> (output index, arguments so far)
        self._calls: dict[int, tuple[int, list[str]]] = {}
        #: web_search_call items streamed so far (one per SearchQuery event)
        self._searched = 0
        #: the whole response object, once :meth:`end` has made it
        self.final: dict[str, Any] | None = None

    @property
    def response_id(self) -> str:
        """The id of the response these events make (what a caller continues)."""
        return self._id

    def _frame(self, kind: str, **data: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + dumps(body) + b"\n\n"

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        skeleton = _response_object(self._id, self._model, [], None, self._created, echo=self._echo)
        return self._frame("response.created", response=skeleton) + self._frame(
            "response.in_progress", response=skeleton
        )

    def _add(self, item: dict[str, Any]) -> tuple[bytes, int]:
        index = len(self._output)
        self._output.append(item)
        return self._frame("response.output_item.added", output_index=index, item=item), index

    def _close_message(self) -> bytes:
        index = self._message
        if index is None:
            return b""
        self._message = None
        item = self._output[index]
        text = "".join(self._text)
        part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
        item.update(status="completed", content=[part])
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return (
            self._annotations(part, where)
            + self._frame("response.output_text.done", text=text, logprobs=[], **where)
            + self._frame("response.content_part.done", part=part, **where)
            + self._frame("response.output_item.done", output_index=index, item=item)
        )

    def _annotations(self, part: dict[str, Any], where: dict[str, Any]) -> bytes:
        """The citations held for the message that ends, as ``part``'s annotations
        (their ranges made the message's own), each announced."""
        base = self._item_start
        mine = [
            c
            if c.start is None or c.end is None
            else attrs.evolve(c, start=c.start - base, end=c.end - base)
            for c in self._cited
        ]
        self._cited = []
        out = b""
        for i, (c, start, end) in enumerate(spans(mine, len(part["text"]))):
            annotation = url_citation(c, start, end)
            part["annotations"].append(annotation)
            out += self._frame(
                "response.output_text.annotation.added",
                annotation_index=i,
                annotation=annotation,
                **where,
            )
        return out

    def _open_message(self) -> bytes:
        """A message item added, with its one text part."""
        added, self._message = self._add(_message_item(_new_id("msg"), "", "in_progress"))
        self._text = []
        self._item_start = self._chars
        part = {"type": "output_text", "text": "", "annotations": []}
        return added + self._frame(
            "response.content_part.added",
            item_id=self._output[self._message]["id"],
            output_index=self._message,
            content_index=0,
            part=part,
        )

    def _close_thinking(self) -> bytes:
        index = self._thinking
        if index is None:
            return b""
        self._thinking = None
        text = "".join(self._thought)
        encrypted, self._encrypted = self._encrypted, None
        thought = ReasoningPart(text, redacted=encrypted, origin=ORIGIN if encrypted else None)
        item = _reasoning_item(thought, self._output[index]["id"])
        self._output[index] = item
        out = b""
        if text:  # its one summary part, opened by the first delta
            where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out = self._frame("response.reasoning_summary_text.done", text=text, **where)
            part = {"type": "summary_text", "text": text}
            out += self._frame("response.reasoning_summary_part.done", part=part, **where)
        return out + self._frame("response.output_item.done", output_index=index, item=item)

    def _close_calls(self) -> bytes:
        out = b""
        for index, arguments in self._calls.values():
            item = self._output[index]
            if item["status"] == "completed":
                continue
            item.update(arguments="".join(arguments), status="completed")
            out += self._frame(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
            out += self._frame("response.output_item.done", output_index=index, item=item)
        return out

    def event(self, event: StreamEvent) -> bytes:
        """The events ``event`` becomes."""
        if isinstance(event, StreamStart):
            self._model = event.model or self._model
            return b""
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            out = self._start() + self._close_thinking()
            if self._message is None:
                out += self._close_calls() + self._open_message()
            assert self._message is not None
            self._text.append(event.text)
            self._chars += len(event.text)
            return out + self._frame(
                "response.output_text.delta",
                item_id=self._output[self._message]["id"],
                output_index=self._message,
                content_index=0,
                delta=event.text,
                logprobs=[],
            )
        if isinstance(event, ReasoningDelta):
            if event.redacted is not None:
                return self._encrypted_reasoning(event)
            if not event.text:
                return b""
            out = self._open_thinking(event.new_block)
            assert self._thinking is not None
            # The reasoning's text as the item's summary, streamed as OpenAI streams
            # its summaries (a client such as Codex shows it as it comes).
            where = {
                "item_id": self._output[self._thinking]["id"],
                "output_index": self._thinking,
                "summary_index": 0,
            }
            if not self._thought:
                part = {"type": "summary_text", "text": ""}
                out += self._frame("response.reasoning_summary_part.added", part=part, **where)
            self._thought.append(event.text)
            return out + self._frame(
                "response.reasoning_summary_text.delta", delta=event.text, **where
            )
        if isinstance(event, Citation):
            # held until its message ends: its range may reach text still to come
            self._cited.append(event)
            return b""
        if isinstance(event, SearchQuery):
            # The search ran: its item now, between what came before and what follows.
            out = self._start() + self._close_message() + self._close_thinking()
            out += self._close_calls()
            self._searched += 1
            return out + self._searches((event.query,))
        if isinstance(event, ToolCallDelta):
            out = self._start()
            found = self._calls.get(event.index)
            if found is None:
                # OpenAI streams items one after another: the call before is done
                # before this one is added (a client may keep one current item)
                out += self._close_message() + self._close_thinking() + self._close_calls()
                item = _call_item(
                    _new_id("fc"), event.id or "", event.name or "", "", "in_progress"
                )
                added, index = self._add(item)
                found = self._calls[event.index] = (index, [])
                out += added
            index, arguments = found
            if event.arguments:
                arguments.append(event.arguments)
                item = self._output[index]
                if item["status"] == "completed":
                    # a provider that interleaved its calls' fragments: this call's
                    # item was done already; the final response has it whole
                    item["arguments"] = "".join(arguments)
                out += self._frame(
                    "response.function_call_arguments.delta",
                    item_id=self._output[index]["id"],
                    output_index=index,
                    delta=event.arguments,
                )
            return out
        return b""

    def _encrypted_reasoning(self, event: ReasoningDelta) -> bytes:
        """OpenAI's encrypted reasoning ends its item (opening one if its summary was
        empty); any other vendor's encrypted data is left out."""
        if event.origin != ORIGIN:
            return b""
        out = self._open_thinking(event.new_block)
        self._encrypted = event.redacted
        return out + self._close_thinking()

    def _open_thinking(self, new_block: bool) -> bytes:
        """Make sure a reasoning item is open: the current one, unless ``new_block``."""
        out = self._start() + self._close_message() + self._close_calls()
        if self._thinking is None or new_block:
            out += self._close_thinking()
            added, self._thinking = self._add(_reasoning_item(ReasoningPart("")))
            self._thought = []
            out += added
        return out

    def end(self, response: ChatResponse) -> bytes:
        """Every open item done, then the whole response."""
        out = self._start()
        if self._cited and self._message is None:
            # citations after the last text (a tool call came between): a message of
            # their own, so that none is lost
            out += self._close_thinking() + self._close_calls() + self._open_message()
        out += self._close_message() + self._close_thinking() + self._close_calls()
        # A provider that reports its searches on the finish only (no SearchQuery
        # events): those not streamed yet come here, after the message.
        out += self._searches(response.search_queries[self._searched :])
        final = _response_object(
            self._id, self._model, self._output, response, self._created, echo=self._echo
        )
        self.final = final
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return out + self._frame(kind, response=final)

    def _searches(self, queries: Sequence[str]) -> bytes:
        """A ``web_search_call`` item for each query, announced as OpenAI streams one."""
        out = b""
        for query in queries:
            added, index = self._add(_search_item(query, "in_progress"))
            item = self._output[index]
            where = {"item_id": item["id"], "output_index": index}
            out += added
            for stage in ("in_progress", "searching", "completed"):
                out += self._frame(f"response.web_search_call.{stage}", **where)
            item["status"] = "completed"
            out += self._frame("response.output_item.done", output_index=index, item=item)
        return out

    def keepalive(self) -> bytes:
        """An SSE comment (the Responses API's stream has no keep-alive event)."""
        return SSE_COMMENT

    def error(self, error: RelayError) -> bytes:
        """``response.failed``, with the error, as OpenAI ends a response that broke: its
        output as far as it got, the items still open ``incomplete`` with what they
        hold (no done events: they never were)."""
        out = self._start()
        if self._message is not None:
            item = self._output[self._message]
            part = {"type": "output_text", "text": "".join(self._text), "annotations": []}
            item.update(status="incomplete", content=[part])
        if self._thinking is not None:
            thought = ReasoningPart("".join(self._thought))
            self._output[self._thinking] = _reasoning_item(
                thought, self._output[self._thinking]["id"]
            )
        for index, arguments in self._calls.values():
            item = self._output[index]
            if item["status"] != "completed":
                item.update(arguments="".join(arguments), status="incomplete")
        failed = _response_object(
            self._id, self._model, self._output, None, self._created, echo=self._echo
        )
        # OpenAI's codes for a response that failed: a prompt too long for the model
        # is context_length_exceeded (trim the history: Codex does, on that code, where
        # it would retry a server_error as it was), a rate limit rate_limit_exceeded
        # (wait and try again); any other failure is server_error
        code = error_code(error) or (
            "rate_limit_exceeded" if status_of(error) == 429 else "server_error"
        )
        failed.update(status="failed", error={"code": code, "message": caller_message(error)})
        return out + self._frame("response.failed", response=failed)
