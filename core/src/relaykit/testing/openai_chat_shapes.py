"""What Chat Completions refuses in a request's shape, for :class:`~relaykit.testing.OpenAIMock`.

A mock that takes any body hides encoder bugs the real API answers with a 400:
:func:`check_chat_shape` refuses, in OpenAI's words and error fields, a body whose
JSON has the wrong shape somewhere (as reported in issues quoting the API):

- ``model``: required, a string; ``messages``: required, a non-empty array
  (``Invalid 'messages': empty array. ...``, code ``empty_array``);
- each message an object with a ``role`` OpenAI knows; ``content`` a string or an
  array of objects (``Invalid type for 'messages[1].content': expected one of a
  string or array of objects, but got an object instead.``, code
  ``invalid_type``), required but in an assistant message, which without it
  must carry tool calls (``Invalid value for 'content': expected a string, got
  null.``); each part typed (``Invalid value: 'image'. Supported values are:
  'text' and 'image_url'.``, code ``invalid_value``) with its own field; a
  tool message's ``tool_call_id`` (``Missing parameter 'tool_call_id': messages
  with role 'tool' must have a 'tool_call_id'.``); an assistant's tool calls
  with an id, ``"type": "function"`` and a function's name and arguments, text;
- ``max_tokens``, ``max_completion_tokens``, ``n``, ``seed``, ``top_logprobs``
  integers (``Invalid type for 'max_tokens': expected an integer, but got a
  string instead.``); ``stream``, ``logprobs``, ``parallel_tool_calls``,
  ``store`` booleans; ``stop`` a string or an array of strings;
  ``stream_options`` an object, and only with ``stream`` (``The
  'stream_options' parameter is only allowed when 'stream' is enabled.``);
- ``tools`` an array of ``{"type": "function", "function": {"name": ...}}``
  (``Missing required parameter: 'tools[0].function'.``, code
  ``missing_required_parameter``); ``tool_choice`` ``none``, ``auto``,
  ``required`` or an object naming a function, and only with ``tools``
  (``Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools'
  are specified.``); ``response_format`` an object of a known type;
- a top-level field OpenAI does not know, for OpenAI's own models
  (``Unrecognized request argument supplied: thinking``, no param or code). The
  compatible services the mock also stands in for (Groq, Mistral, OpenRouter,
  vLLM, ...) take fields of their own, so a model not OpenAI's may carry any.

``null`` stands for a field left out, as the API reads it, but in ``model`` and
``messages`` and an assistant's ``content``. Checks of what a well-shaped
request says (tool messages answering calls, files, schemas) stay in
:mod:`.openai_mock`, which runs them after this.
"""

from __future__ import annotations

import re
from typing import Any

from .openai_responses import Refusal, _invalid, _missing

#: Chat Completions' request fields (the API reference's, and the deprecated ones it still takes)
CHAT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
#: the roles a message may have, in the order OpenAI lists them
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
#: the types a content part may have
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_TOOL_CHOICES = ("none", "auto", "required")
_TOOL_CHOICE_TYPES = ("function", "allowed_tools", "custom")
_FORMAT_TYPES = ("text", "json_object", "json_schema")
_INTEGERS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_BOOLEANS = ("stream", "logprobs", "parallel_tool_calls", "store")
#: OpenAI's own chat models (not gpt-oss, which compatible services serve)
_OPENAI_MODEL = re.compile(r"^(gpt-(?!oss)|chatgpt-|o\d|ft:|codex-|computer-use-)")


def check_chat_shape(body: Any) -> None:
    """Raise :class:`Refusal` for a Chat Completions body of a shape OpenAI refuses
    (see the module's docstring), naming the first place it is wrong."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    if "model" not in body:
        raise _missing("model")
    model = _typed(body["model"], str, "model", "a string")
    if _OPENAI_MODEL.match(model):
        for key in body:
            if key not in CHAT_FIELDS:
                raise Refusal(f"Unrecognized request argument supplied: {key}")
    if "messages" not in body:
        raise _missing("messages")
    messages = _typed(body["messages"], list, "messages", "an array")
    if not messages:
        raise Refusal(
            "Invalid 'messages': empty array. Expected an array with minimum length 1,"
            " but got an empty array instead.",
            "messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        _check_message(message, i)
    for key in _INTEGERS:
        _optional(body, key, int, "an integer")
    for key in _BOOLEANS:
        _optional(body, key, bool, "a boolean")
    if body.get("stream_options") is not None:
        _typed(body["stream_options"], dict, "stream_options", "an object")
        if not body.get("stream"):
            raise Refusal(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _wrong_type("stop", "one of a string or array of strings", stop)
    _check_tools(body)
    _check_response_format(body.get("response_format"))


#: what the API takes as a message's ``name``: no whitespace, none of < | \ / >
_NAME = re.compile(r"[^\s<|\\/>]+")


def _check_message(message: Any, i: int) -> None:
    at = f"messages[{i}]"
    _typed(message, dict, at, "an object")
    if "role" not in message:
        raise _missing(f"{at}.role")
    role = message["role"]
    if role not in ROLES:
        raise _value(role, f"{at}.role", ROLES)
    content = message.get("content")
    if content is None:
        if role != "assistant":
            raise _missing(f"{at}.content")
        if not message.get("tool_calls") and not message.get("function_call"):
            # the API's words, and param, for an assistant message with nothing in it
            raise Refusal(
                "Invalid value for 'content': expected a string, got null.",
                f"messages.[{i}].content",
            )
    elif not isinstance(content, str):
        _typed(content, list, f"{at}.content", "one of a string or array of objects")
        for j, part in enumerate(content):
            _check_part(part, f"{at}.content[{j}]")
    if message.get("name") is not None:
        name = _typed(message["name"], str, f"{at}.name", "a string")
        if _NAME.fullmatch(name) is None:  # the API's own pattern, in its words
            raise Refusal(
                f"Invalid '{at}.name': string does not match pattern. Expected a string"
                " that matches the pattern '^[^\\s<|\\\\/>]+$'.",
                f"{at}.name",
            )
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise Refusal(
            "Missing parameter 'tool_call_id': messages with role 'tool' must have a"
            " 'tool_call_id'.",
            f"messages.[{i}].tool_call_id",
        )
    calls = message.get("tool_calls")
    if role == "assistant" and calls is not None:
        for j, call in enumerate(_typed(calls, list, f"{at}.tool_calls", "an array")):
            _check_call(call, f"{at}.tool_calls[{j}]")


def _check_part(part: Any, at: str) -> None:
    _typed(part, dict, at, "an object")
    kind = _type_of(part, at, PART_TYPES)
    if kind in ("text", "refusal"):
        if kind not in part:
            raise _missing(f"{at}.{kind}")
        _typed(part[kind], str, f"{at}.{kind}", "a string")
    elif kind == "image_url":
        _check_texts(part, "image_url", at, ("url",))
    elif kind == "input_audio":
        _check_texts(part, "input_audio", at, ("data", "format"))


def _check_call(call: Any, at: str) -> None:
    _typed(call, dict, at, "an object")
    for key in ("id", "type", "function"):
        if key not in call:
            raise _missing(f"{at}.{key}")
    _typed(call["id"], str, f"{at}.id", "a string")
    if len(call["id"]) > 40:
        # OpenAI's words (vercel/ai#5171, agno#5382): ids of other vendors, such as
        # vLLM's chatcmpl-tool-<uuid> (46 characters), are too long for it.
        raise Refusal(
            f"Invalid '{at}.id': string too long. Expected a string with maximum length 40,"
            f" but got a string with length {len(call['id'])} instead.",
            f"{at}.id",
            code="string_above_max_length",
        )
    if call["type"] != "function":
        raise _value(call["type"], f"{at}.type", ("function",))
    _check_texts(call, "function", at, ("name", "arguments"))


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        for i, tool in enumerate(_typed(tools, list, "tools", "an array")):
            at = f"tools[{i}]"
            _typed(tool, dict, at, "an object")
            if "type" not in tool:
                raise _missing(f"{at}.type")
            if tool["type"] != "function":
                continue  # other tools' shapes: openai_web_search's checks
            _check_texts(tool, "function", at, ("name",))
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not tools:
        raise Refusal(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools'"
            " are specified.",
            "tool_choice",
        )
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise _value(choice, "tool_choice", _TOOL_CHOICES)
        return
    _typed(choice, dict, "tool_choice", "one of a string or object")
    if _type_of(choice, "tool_choice", _TOOL_CHOICE_TYPES) == "function":
        _check_texts(choice, "function", "tool_choice", ("name",))


def _check_texts(holder: dict[str, Any], key: str, at: str, fields: tuple[str, ...]) -> None:
    """``holder[key]``: an object holding each of ``fields`` as text (a tool's
    function and its name, an image part's ``image_url`` and its URL, ...)."""
    if key not in holder:
        raise _missing(f"{at}.{key}")
    held = _typed(holder[key], dict, f"{at}.{key}", "an object")
    for field in fields:
        if field not in held:
            raise _missing(f"{at}.{key}.{field}")
        _typed(held[field], str, f"{at}.{key}.{field}", "a string")


def _check_response_format(fmt: Any) -> None:
    if fmt is None:
        return
    _typed(fmt, dict, "response_format", "an object")
    if _type_of(fmt, "response_format", _FORMAT_TYPES) == "json_schema":
        if "json_schema" not in fmt:
            raise _missing("response_format.json_schema")
        schema = _typed(fmt["json_schema"], dict, "response_format.json_schema", "an object")
        if "name" not in schema:
            raise _missing("response_format.json_schema.name")


def _type_of(holder: dict[str, Any], at: str, supported: tuple[str, ...]) -> str:
    """``holder``'s ``type``, one of ``supported``; else OpenAI's refusal of it."""
    if "type" not in holder:
        raise _missing(f"{at}.type")
    kind = holder["type"]
    if kind not in supported:
        raise _value(kind, f"{at}.type", supported)
    return str(kind)


def _optional(body: dict[str, Any], key: str, kind: type, expected: str) -> None:
    if body.get(key) is not None:
        _typed(body[key], kind, key, expected)


def _typed(value: Any, kind: type, param: str, expected: str) -> Any:
    """``value``, if of JSON type ``kind`` (a boolean is no integer); else OpenAI's
    refusal of its type."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _wrong_type(param, expected, value)
    return value


def _wrong_type(param: str, expected: str, value: Any) -> Refusal:
    return Refusal(
        f"Invalid type for '{param}': expected {expected}, but got {_json_kind(value)} instead.",
        param,
        code="invalid_type",
    )


def _json_kind(value: Any) -> str:
    """What OpenAI calls ``value``'s JSON type in its refusals."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _value(value: Any, param: str, supported: tuple[str, ...]) -> Refusal:
    if not isinstance(value, str):
        return _wrong_type(param, "a string", value)
    return _invalid(value, param, supported)
