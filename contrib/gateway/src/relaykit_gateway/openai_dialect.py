"""OpenAI's Chat Completions API (``POST /v1/chat/completions``), served.

Messages, tools, ``tool_choice`` and ``response_format`` arrive in the shape
relaykit already accepts from callers, and so do the ``cache_control`` marks
LiteLLM and OpenRouter callers put on content parts, messages and tools (or
inside a tool's ``function``): they become :class:`~relaykit.CachePoint` values.

The thinking setting becomes relaykit's ``reasoning=``, which each provider
plugin sends in its own vendor's terms (see :mod:`relaykit_gateway.reasoning_fields`):

- ``reasoning_effort`` (``none`` ... ``xhigh``) is that effort;
- OpenRouter's ``reasoning`` object, which many OpenAI-compatible clients send,
  is read too: ``effort`` as an effort, ``max_tokens`` as a budget in tokens
  (one or the other, as OpenRouter takes them), ``enabled`` alone as thinking
  on (the model's own amount) or off. Its ``exclude: true`` asks, with one of
  those, that the reasoning's text not come back (relaykit's ``summary=False``:
  vendors that return it only when asked are not asked); reasoning a provider
  returns anyway still comes back as ``reasoning_content``. Any other key is a 400.

Both at once must agree; a value the API would refuse is a 400 that names the
field, before any call. The effort ``max``, which relaykit has no word for, is
not translated: the field goes to the provider as sent.

``web_search_options`` (``{}``, or ``search_context_size`` and
``user_location``) becomes relaykit's ``web_search=`` (see
:mod:`relaykit_gateway.web_search_fields`): whatever provider the call goes to
searches in its own terms, or refuses with a 400 before sending. The answer's
citations come back as ``message.annotations`` (``url_citation``); streamed,
in one ``annotations`` delta just before the finish, as OpenAI's search models
send them.

Parameters relaykit has no name for (``frequency_penalty``, ``logit_bias``,
``parallel_tool_calls``...) go to the provider untouched in ``extra``; a
provider that does not know one says so, and the caller gets its 400.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from relaykit import (
    ChatResponse,
    InvalidRequestError,
    Reasoning,
    ReasoningDelta,
    RelayError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from relaykit.errors import did_you_mean
from relaykit.json_encode import dumps
from relaykit.messages import coerce_messages

from .dialect import (
    INSUFFICIENT_QUOTA,
    OPENAI_CHOICE_WORDS,
    SSE_COMMENT,
    GatewayCall,
    caller_message,
    checked_tool_choice,
    error_code,
    model_id,
    openai_extra,
    openai_stream_flag,
    require_object,
    status_of,
    string_metadata,
    unclaimed,
)
from .reasoning_fields import (
    OPENAI_EFFORTS,
    VENDOR_ONLY_EFFORTS,
    effort_word,
    flag,
    require_mapping,
    setting,
    whole_tokens,
)
from .web_search_fields import CHAT_OPTIONS, chat_annotations, search_setting

#: request fields that become relaykit parameters of the same name
_SAME = ("temperature", "top_p", "stop", "seed", "tools", "tool_choice", "response_format")
#: request fields the gateway itself reads (``reasoning_effort`` and ``reasoning`` too,
#: unless they ask for an effort relaykit has no word for: see :func:`_reasoning`)
_OWN = frozenset((*_SAME, "model", "messages", "stream", "stream_options", "n")) | {
    "web_search_options",
    "max_tokens",
    "max_completion_tokens",
    "metadata",
    "user",
    # refused when they ask for log probabilities (refuse_logprobs); otherwise they ask
    # for nothing, and sent on they would reach APIs without such a field
    "logprobs",
    "top_logprobs",
}
#: relaykit's finish reasons in OpenAI's words (it has none for "other")
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "other": "stop",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    # OpenAI's own 401 (a key it does not take) is an invalid_request_error whose code
    # says what is wrong
    401: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    # OpenAI's 429 names the limit met ("requests" or "tokens", which the gateway does
    # not know, so the first) and says rate_limit_exceeded: clients tell it from
    # insufficient_quota (not worth retrying) by that code
    429: "requests",
}
#: the codes OpenAI sends with those statuses (the gateway's 401: no gateway key)
_ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


class OpenAIDialect:
    """Parses Chat Completions requests and renders relaykit's answers as OpenAI's."""

    default_provider = "openai"
    #: OpenAI's SDKs take any 5xx alike: an overloaded provider is unavailable (503)
    overloaded_status = 503

    def parse(self, body: Any, aliases: Sequence[str]) -> GatewayCall:
        """The call a Chat Completions request body asks for."""
        body = require_object(body)
        if body.get("n") not in (None, 1):
            raise InvalidRequestError(
                "the gateway returns one choice: leave `n` out or set it to 1", param="n"
            )
        refuse_logprobs(body, "logprobs" if body.get("logprobs") is True else None)
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise InvalidRequestError("`messages` must be a list of messages", param="messages")
        _require_arguments(messages)
        params: dict[str, Any] = {key: body[key] for key in _SAME if body.get(key) is not None}
        if "tool_choice" in params:
            params["tool_choice"] = checked_tool_choice(
                params["tool_choice"], params.get("tools"), words=OPENAI_CHOICE_WORDS
            )
        # The newer name wins: OpenAI's own SDKs send max_completion_tokens for o-series models.
        max_tokens = body.get("max_completion_tokens")
        if max_tokens is None:
            max_tokens = body.get("max_tokens")
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        metadata = caller_metadata(body)
        if metadata:
            params["metadata"] = metadata
        if body.get("web_search_options") is not None:
            search = body["web_search_options"]
            params["web_search"] = search_setting(search, "web_search_options", CHAT_OPTIONS)
        extra = openai_extra(body, _OWN)
        reasoning = _reasoning(extra)
        if reasoning is not None:
            params["reasoning"] = reasoning
        if extra:
            params["extra"] = extra
        stream = openai_stream_flag(body)
        options = body.get("stream_options") or {}
        return GatewayCall(
            model=model_id(body.get("model"), aliases, self.default_provider),
            messages=coerce_messages(messages),
            params=params,
            stream=stream,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )

    def response(
        self, response: ChatResponse, model: str, call: GatewayCall | None = None
    ) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
        if response.tool_calls:
            message["tool_calls"] = [_tool_call(c) for c in response.tool_calls]
        if response.reasoning:
            # Not OpenAI's (it sends no reasoning text); the name DeepSeek, vLLM and
            # OpenRouter use, which OpenAI-compatible clients read.
            message["reasoning_content"] = response.reasoning
        if response.citations:
            message["annotations"] = chat_annotations(response.citations, response.text)
        return {
            "id": _completion_id(response.id),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": response.model or model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": FINISH_REASONS[response.finish_reason],
                    "logprobs": None,
                }
            ],
            "usage": usage(response.usage),
        }

    def encoder(self, call: GatewayCall) -> ChunkEncoder:
        """An encoder of ``chat.completion.chunk`` events."""
        return ChunkEncoder(call.model, call.include_usage)

    def error_body(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """OpenAI's ``{"error": {...}}``: ``code`` if given, else the status's own (a quota
        reached is of its code's type, as at OpenAI)."""
        fallback = "server_error" if status >= 500 else "invalid_request_error"
        kind = (
            INSUFFICIENT_QUOTA if code == INSUFFICIENT_QUOTA else _ERROR_TYPES.get(status, fallback)
        )
        code = code or _ERROR_CODES.get(status)
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def refuse_logprobs(body: Mapping[str, Any], asked_by: str | None) -> None:
    """Refuse a request for log probabilities (by the field ``asked_by`` names, or
    ``top_logprobs`` above 0): relaykit's answers carry none, and OpenAI's field for
    them left null (or empty) reads as an answer without them, not as a request the
    gateway cannot serve."""
    top = body.get("top_logprobs")
    if asked_by is not None or top not in (None, 0):
        param = asked_by or "top_logprobs"
        raise InvalidRequestError(
            "the gateway does not return log probabilities: leave out `logprobs` and"
            " `top_logprobs` (or ask the provider directly)",
            param=param,
        )


def _require_arguments(messages: list[Any]) -> None:
    """Refuse a history tool call without ``function.arguments``, as OpenAI does:
    relaykit's own ``coerce_messages`` reads it as no arguments, which would hide a
    client's bug behind a call the model never made."""
    for i, m in enumerate(messages):
        calls = m.get("tool_calls") if isinstance(m, dict) else None
        if not isinstance(calls, list):
            continue  # coerce_messages names anything else wrong here
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and fn.get("arguments") is None:
                where = f"messages[{i}].tool_calls[{j}].function.arguments"
                raise InvalidRequestError(
                    f"Missing required parameter: '{where}'",
                    param=where,
                    hint='send the arguments the model gave, as JSON text: "{}" for none',
                )


#: the keys of OpenRouter's ``reasoning`` object (its Chat Completions API's)
_OPENROUTER_KEYS = ("effort", "max_tokens", "enabled", "exclude")
#: the keys of that object that set how much the model thinks
_AMOUNT_KEYS = ("effort", "max_tokens", "enabled")


def _reasoning(extra: dict[str, Any]) -> Reasoning | None:
    """``reasoning=`` from ``reasoning_effort`` or OpenRouter's ``reasoning`` object,
    taken out of ``extra`` (the request's unclaimed fields). A field asking for an
    effort relaykit has no word for stays in ``extra``, as the caller sent it."""
    from_effort: Reasoning | None = None
    word = extra.get("reasoning_effort")
    if word is not None:
        word = effort_word(word, "reasoning_effort", OPENAI_EFFORTS)
        if word not in VENDOR_ONLY_EFFORTS:
            from_effort = setting("reasoning_effort", word)
            del extra["reasoning_effort"]
    obj = extra.get("reasoning")
    if obj is None:
        return from_effort
    obj = require_mapping(obj, "reasoning", "OpenRouter's: effort, max_tokens, enabled, exclude")
    from_object, as_sent = _openrouter_reasoning(obj)
    if not as_sent:
        del extra["reasoning"]
    both = word is not None and any(obj.get(k) is not None for k in _AMOUNT_KEYS)
    if both and from_effort != from_object:  # (both None: both ask for the same untranslated word)
        raise InvalidRequestError(
            "`reasoning_effort` and `reasoning` ask for different thinking: send one of them",
            param="reasoning",
        )
    return from_effort if from_effort is not None else from_object


def _openrouter_reasoning(obj: Mapping[str, Any]) -> tuple[Reasoning | None, bool]:
    """OpenRouter's ``reasoning`` object as relaykit's setting (``None``: the model's
    default), and whether it goes to the provider as sent instead (an effort
    relaykit has no word for)."""
    unknown = sorted(set(obj) - set(_OPENROUTER_KEYS))
    if unknown:
        keys = ", ".join(_OPENROUTER_KEYS)
        raise InvalidRequestError(
            f"`reasoning.{unknown[0]}` is not a field the gateway reads: OpenRouter's"
            f" `reasoning` takes {keys}",
            param=f"reasoning.{unknown[0]}",
            hint=did_you_mean(unknown[0], _OPENROUTER_KEYS),
        )
    effort, budget, enabled = obj.get("effort"), obj.get("max_tokens"), obj.get("enabled")
    # exclude: the reasoning's text is not to come back (relaykit's summary=False)
    exclude = flag(obj["exclude"], "reasoning.exclude") if obj.get("exclude") is not None else False
    hidden = False if exclude else None
    if enabled is not None:
        flag(enabled, "reasoning.enabled")
    if effort is not None and budget is not None:
        raise InvalidRequestError(
            "`reasoning` takes an `effort` or a `max_tokens` budget, not both", param="reasoning"
        )
    found: Reasoning
    if effort is not None:
        word = effort_word(effort, "reasoning.effort", OPENAI_EFFORTS)
        if word in VENDOR_ONLY_EFFORTS:
            return None, True
        found = setting("reasoning.effort", word, summary=hidden)
    elif budget is not None:
        tokens = whole_tokens(budget, "reasoning.max_tokens", 0)
        found = setting("reasoning.max_tokens", None, tokens, summary=hidden)
    elif enabled is not None:
        return (Reasoning(summary=hidden) if enabled else Reasoning("none")), False
    else:
        return None, False  # exclude alone: the model thinks as it likes
    if enabled is not None and enabled == found.off:
        raise InvalidRequestError(
            f"`reasoning.enabled` is {str(enabled).lower()}, but its"
            f" {'effort' if effort is not None else 'max_tokens'} turns thinking"
            f" {'off' if found.off else 'on'}",
            param="reasoning.enabled",
        )
    return found, False


def caller_metadata(body: Mapping[str, Any]) -> dict[str, str]:
    """OpenAI's ``metadata``, with ``user`` (the end user's id) in it, as both of its APIs
    send them."""
    metadata = string_metadata(body.get("metadata"), "metadata")
    if isinstance(body.get("user"), str):
        metadata.setdefault("user", body["user"])
    return metadata


def with_body_fields(
    params: dict[str, Any], body: Mapping[str, Any], own: frozenset[str]
) -> dict[str, Any]:
    """``params`` with what else an OpenAI body asks of its call: its
    :func:`caller_metadata`, and the fields the gateway does not read (all but ``own``)
    as the provider's ``extra``. For the calls that are not a chat (no reasoning is
    read out of those fields)."""
    metadata = caller_metadata(body)
    if metadata:
        params["metadata"] = metadata
    extra = unclaimed(body, own)
    if extra:
        params["extra"] = extra
    return params


def usage(u: Usage) -> dict[str, Any]:
    """OpenAI's usage object; relaykit's counts already include cached and reasoning tokens."""
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    # Arguments that were not valid JSON go back as the model wrote them.
    arguments = call.raw_arguments
    if arguments is None:
        arguments = json.dumps(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _completion_id(provider_id: str | None) -> str:
    return provider_id or f"chatcmpl-{os.urandom(12).hex()}"


class ChunkEncoder:
    """One streamed answer as ``data: {chat.completion.chunk}`` events, then ``[DONE]``."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        #: the provider's response id once the stream says it, else one of our own
        self._id: str | None = None
        self._created = int(time.time())
        self._started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        head = b""
        if self._id is None:
            self._id = _completion_id(None)
        if not self._started:
            # The first chunk says who is speaking, as OpenAI's does.
            self._started = True
            head = self._chunk({"role": "assistant", "content": ""})
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self._include_usage:
            # as OpenAI's: every chunk but the usage chunk says its usage is null
            chunk["usage"] = None
        return head + b"data: " + dumps(chunk) + b"\n\n"

    def event(self, event: StreamEvent) -> bytes:
        """The chunk ``event`` becomes."""
        if isinstance(event, TextDelta):
            return self._chunk({"content": event.text}) if event.text else b""
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {"index": event.index}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = "function"
            function: dict[str, str] = {"arguments": event.arguments}
            if event.name is not None:
                function["name"] = event.name
            call["function"] = function
            return self._chunk({"tool_calls": [call]})
        if isinstance(event, ReasoningDelta):
            return self._chunk({"reasoning_content": event.text}) if event.text else b""
        if isinstance(event, StreamStart):
            if self._id is None:
                self._id = _completion_id(event.id)
            if event.model:
                self._model = event.model
        # A Citation waits for the end (the response has them all): its range may
        # reach text not streamed yet, and OpenAI sends a stream's annotations
        # together, in one last delta.
        return b""

    def end(self, response: ChatResponse) -> bytes:
        """The annotations chunk if the answer cites sources, the chunk with the finish
        reason, the usage chunk if asked for, and ``[DONE]``."""
        out = b""
        if response.citations:
            annotations = chat_annotations(response.citations, response.text)
            out = self._chunk({"annotations": annotations})
        out += self._chunk({}, FINISH_REASONS[response.finish_reason])
        if self._include_usage:
            chunk: dict[str, Any] = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": usage(response.usage),
            }
            out += b"data: " + dumps(chunk) + b"\n\n"
        return out + b"data: [DONE]\n\n"

    def keepalive(self) -> bytes:
        """An SSE comment (Chat Completions has no keep-alive event)."""
        return SSE_COMMENT

    def error(self, error: RelayError) -> bytes:
        """An ``error`` event, which OpenAI's SDKs raise as an API error."""
        body = OpenAIDialect().error_body(
            status_of(error), caller_message(error), code=error_code(error)
        )
        return b"data: " + dumps(body) + b"\n\n"
