"""What the Responses API refuses in a request's shape, for :class:`~relaykit.testing.OpenAIMock`.

A mock that takes any body hides encoder bugs the real API answers with a 400:
:func:`check_responses_shape` refuses, in OpenAI's words and error fields
(``param``, and ``code``: ``missing_required_parameter``, ``invalid_type``,
``invalid_value``, ``unknown_parameter``, ...), a ``POST /v1/responses`` body
whose JSON has the wrong shape somewhere, as the API answered such bodies in
reports that quote it:

- ``model`` required, a string; ``input`` required, a string or an array of
  input items (``Invalid type for 'input': expected one of a string or array of
  input items, but got an object instead.``), not empty (``One of "input" or
  "previous_response_id" or 'prompt' or 'conversation' must be provided.``);
- each item an object (``expected an input item``); a message's ``role`` one
  of four (``Invalid value: 'tool'. Supported values are: 'assistant', 'system',
  'developer', and 'user'.``, param ``input[1]``), its ``content`` required, a
  string or an array of parts (``expected one of an array of objects or
  string``); a user, system or developer message's parts ``input_text``,
  ``input_image`` or ``input_file``, an assistant's ``output_text`` or
  ``refusal`` (``Invalid value: 'input_text'. Supported values are:
  'output_text' and 'refusal'.``, param ``input[2].content[0]``), each with its
  own field as text; an item ``type`` OpenAI does not know (param
  ``input[i]``); a ``function_call``'s ``call_id``, ``name`` and ``arguments``,
  non-empty text (``Invalid 'input[4].call_id': empty string. ...``, code
  ``empty_string``); a ``function_call_output``'s ``call_id`` and ``output`` (a
  string or an array of input parts); a member an item or a part does not have
  (``Unknown parameter: 'input[0].status'.``);
- scalar fields of their JSON type: ``max_output_tokens``, ``max_tool_calls``,
  ``top_logprobs`` integers (``max_output_tokens`` at least 16: ``Invalid
  'max_output_tokens': integer below minimum value. Expected a value >= 16, but
  got 15 instead.``, code ``integer_below_min_value``); ``temperature`` and
  ``top_p`` numbers (``expected a decimal``); ``stream``, ``store``,
  ``parallel_tool_calls``, ``background`` booleans; ``instructions``,
  ``previous_response_id``, ``user``, ``safety_identifier``,
  ``prompt_cache_key`` strings; ``truncation`` and ``service_tier`` of their
  values;
- ``tools`` an array (``expected an array of tools``) of typed tools (for
  OpenAI's own models, of a type the API knows: ``Invalid value: 'x'.
  Supported values are: ...``, param ``tools[0].type``), a function one flat
  (``{"type": "function", "name": ...}``: a Chat Completions tool, nested under
  ``function``, gets ``Missing required parameter: 'tools[0].name'.``);
  ``tool_choice`` ``none``, ``auto``, ``required`` or an
  object with a ``type`` (a function's ``name`` flat too); ``text`` an object of
  ``format`` (``text``, ``json_object``, or ``json_schema`` with a ``name`` and
  a ``schema``) and ``verbosity``; ``reasoning`` an object of ``effort`` and
  ``summary``; ``include`` an array; ``metadata`` an object of at most 16 keys;
  ``stream_options`` an object of ``include_obfuscation`` only;
- for OpenAI's own models, a top-level field the API does not know
  (``Unknown parameter: 'zzz'.``).

``null`` stands for an optional field left out. What a well-shaped request says
(tool outputs answering calls, files, strict schemas, reasoning efforts, the
encrypted reasoning the mock gave) stays in :mod:`.openai_responses`, whose
``validate`` runs this first. Messages for a shape no report quotes follow the
API's pattern for the same kind of fault. An item OpenAI takes and the mock
does not read (``item_reference``, ``web_search_call``, ...) is refused in the
mock's own words, naming the item types it reads.
"""

from __future__ import annotations

from typing import Any

from .openai_chat_shapes import _OPENAI_MODEL, _typed, _wrong_type
from .openai_responses import Refusal, _invalid, _missing

#: ``POST /v1/responses``'s request fields (the API reference's)
RESPONSES_FIELDS = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
#: the item types OpenAI lists when refusing one it does not know, in its order
ITEM_TYPES = (
    "additional_tools",
    "agent_message",
    "apply_patch_call",
    "apply_patch_call_output",
    "code_interpreter_call",
    "compaction",
    "compaction_trigger",
    "computer_call",
    "computer_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "file_search_call",
    "function_call",
    "function_call_output",
    "image_generation_call",
    "item_reference",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "mcp_list_tools",
    "message",
    "multi_agent_call",
    "multi_agent_call_output",
    "program",
    "program_output",
    "reasoning",
    "shell_call",
    "shell_call_output",
    "tool_search_call",
    "tool_search_output",
    "web_search_call",
)
#: the tool types of the Responses API's ``tools`` (the API reference's tool union, as
#: OpenAI's SDKs generate it from the OpenAPI spec, read 2026-12-04): relaykit sends
#: ``function`` and ``web_search``; the others are OpenAI's built-in tools, taken
#: and not run by the mock. No report quotes the API's list for an unknown type,
#: so its order here is alphabetical, as :data:`ITEM_TYPES`'s
TOOL_TYPES = (
    "apply_patch",
    "code_interpreter",
    "computer",
    "computer_use_preview",
    "custom",
    "file_search",
    "function",
    "image_generation",
    "local_shell",
    "mcp",
    "namespace",
    "programmatic_tool_calling",
    "shell",
    "tool_search",
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
)
#: the item types the mock reads; OpenAI's others it refuses in its own words
MODELLED_ITEMS = ("message", "function_call", "function_call_output", "reasoning")
#: a message's roles, in the order OpenAI lists them
ROLES = ("assistant", "system", "developer", "user")
#: every content part type OpenAI knows, in its order (a type outside it is refused so)
PART_TYPES = (
    "input_text",
    "input_image",
    "input_audio",
    "output_text",
    "refusal",
    "input_file",
    "computer_screenshot",
    "summary_text",
    "encrypted_content",
)
#: the parts of an input message (user, system, developer) and of a tool's output
INPUT_PARTS = ("input_text", "input_image", "input_file")
#: the parts of an assistant message
OUTPUT_PARTS = ("output_text", "refusal")
#: each part's members: what it must hold as text, then what else it may hold
_PART_FIELDS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "input_text": (("text",), frozenset({"type", "text"})),
    "output_text": (("text",), frozenset({"type", "text", "annotations", "logprobs"})),
    "refusal": (("refusal",), frozenset({"type", "refusal"})),
    "input_image": ((), frozenset({"type", "image_url", "file_id", "detail"})),
    "input_file": ((), frozenset({"type", "file_data", "file_id", "file_url", "filename"})),
}
_MESSAGE_FIELDS = frozenset({"type", "role", "content", "id", "status"})
#: an assistant message's own member (``commentary`` or ``final_answer``)
_PHASES = ("commentary", "final_answer")
_CALL_FIELDS = frozenset({"type", "call_id", "name", "arguments", "id", "status"})
_OUTPUT_FIELDS = frozenset({"type", "call_id", "output", "id", "status"})
_FUNCTION_TOOL_FIELDS = frozenset({"type", "name", "description", "parameters", "strict"})
_TOOL_CHOICES = ("none", "auto", "required")
_FORMAT_TYPES = ("json_object", "text", "json_schema")
_SCHEMA_FORMAT_FIELDS = frozenset({"type", "name", "schema", "strict", "description"})
_VERBOSITIES = ("low", "medium", "high")
_SUMMARIES = ("concise", "detailed", "auto")
_TRUNCATIONS = ("auto", "disabled")
_SERVICE_TIERS = ("auto", "default", "fast", "flex", "priority")
#: what ``include`` may hold, in the order OpenAI lists it
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
#: the least ``max_output_tokens`` the API takes
MIN_OUTPUT_TOKENS = 16
#: the most keys ``metadata`` holds
_METADATA_KEYS = 16


def check_responses_shape(body: Any, *, counting: bool = False) -> None:
    """Raise :class:`Refusal` for a Responses body of a shape OpenAI refuses (see the
    module's docstring), naming the first place it is wrong, in about the order the
    API checks. ``counting``: a ``/v1/responses/input_tokens`` body, whose
    ``input`` may be left out and whose fields that endpoint checks itself."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    if "model" not in body:
        raise _missing("model")
    if not counting and "input" not in body:
        raise _missing("input")
    model = body["model"]
    if not isinstance(model, str):
        raise _top_type("model", "a string", model)
    if not counting and _OPENAI_MODEL.match(model):
        for key in body:
            if key not in RESPONSES_FIELDS:
                raise _unknown(key)
    if "input" in body and not (counting and body["input"] is None):
        _check_input(body["input"])
    _check_include(body.get("include"))
    _check_tools(body.get("tools"), openai=_OPENAI_MODEL.match(model) is not None)
    _check_tool_choice(body.get("tool_choice"))
    metadata = _optional(body, "metadata", dict, "a metadata object")
    if metadata is not None and len(metadata) > _METADATA_KEYS:
        raise Refusal(
            f"Invalid 'metadata': too many properties. Expected an object with at most"
            f" {_METADATA_KEYS} properties, but got an object with {len(metadata)}"
            " properties instead.",
            "metadata",
            code="object_above_max_properties",
        )
    _check_text(body.get("text"))
    for key in ("temperature", "top_p"):
        _optional(body, key, (int, float), "a decimal")
    for key in ("parallel_tool_calls", "stream"):
        _optional(body, key, bool, "a boolean")
    options = _optional(body, "stream_options", dict, "an object")
    for key in sorted(set(options or ()) - {"include_obfuscation"}):
        raise _unknown(f"stream_options.{key}")
    _optional(body, "background", bool, "a boolean")
    tokens = _optional(body, "max_output_tokens", int, "an integer")
    if tokens is not None and tokens < MIN_OUTPUT_TOKENS:
        raise _below("max_output_tokens", MIN_OUTPUT_TOKENS, tokens)
    calls = _optional(body, "max_tool_calls", int, "an integer")
    if calls is not None and calls < 1:
        raise _below("max_tool_calls", 1, calls)
    _check_reasoning(body.get("reasoning"))
    for key in ("user", "safety_identifier", "prompt_cache_key"):
        _optional(body, key, str, "a string")
    _check_choice(body, "truncation", _TRUNCATIONS)
    for key in ("instructions", "previous_response_id"):
        _optional(body, key, str, "a string")
    _optional(body, "store", bool, "a boolean")
    _check_choice(body, "service_tier", _SERVICE_TIERS)
    _optional(body, "top_logprobs", int, "an integer")
    inp = body.get("input")
    stated = ("previous_response_id", "prompt", "conversation")
    if not counting and inp in ("", []) and not any(body.get(k) for k in stated):
        raise Refusal(
            "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation'"
            " must be provided.",
            code="missing_required_parameter",
        )


# -- input ---------------------------------------------------------------------------


def _check_input(items: Any) -> None:
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise _top_type("input", "one of a string or array of input items", items)
    for i, item in enumerate(items):
        at = f"input[{i}]"
        _typed(item, dict, at, "an input item")
        if "type" in item and item["type"] != "message":
            _check_item(item, at)
        else:
            _check_message(item, at)


def _check_item(item: dict[str, Any], at: str) -> None:
    kind = item["type"]
    if kind not in ITEM_TYPES:  # OpenAI shows a type that is no string as ''
        raise _invalid(kind if isinstance(kind, str) else "", at, ITEM_TYPES)
    if kind == "function_call":
        _members(item, _CALL_FIELDS, at)
        for key in ("call_id", "name", "arguments"):
            _text(item, key, at, nonempty=key != "arguments")
    elif kind == "function_call_output":
        _members(item, _OUTPUT_FIELDS, at)
        _text(item, "call_id", at, nonempty=True)
        if "output" not in item:
            raise _missing(f"{at}.output")
        output = item["output"]
        if not isinstance(output, str | list):
            raise _wrong_type(f"{at}.output", "one of a string or array of objects", output)
        for j, part in enumerate(output if isinstance(output, list) else ()):
            _check_part(part, f"{at}.output[{j}]", INPUT_PARTS)
    elif kind not in MODELLED_ITEMS:
        # OpenAI takes it; the mock, which stands in for a stateless conversation, reads none
        raise Refusal(
            f"OpenAIMock reads no input items of type '{kind}' (only"
            f" {', '.join(MODELLED_ITEMS)}): leave it out of the request.",
            at,
        )


def _check_message(item: dict[str, Any], at: str) -> None:
    role = item.get("role")
    if role not in ROLES:
        raise _invalid(role if isinstance(role, str) else "", at, ROLES)
    _members(item, _MESSAGE_FIELDS | ({"phase"} if role == "assistant" else set()), at)
    phase = item.get("phase")
    if phase is not None and phase not in _PHASES:
        raise _value(phase, f"{at}.phase", _PHASES)
    if "content" not in item:
        raise _missing(f"{at}.content")
    content = item["content"]
    if isinstance(content, str):
        return
    _typed(content, list, f"{at}.content", "one of an array of objects or string")
    allowed = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS
    for j, part in enumerate(content):
        _check_part(part, f"{at}.content[{j}]", allowed)


def _check_part(part: Any, at: str, allowed: tuple[str, ...]) -> None:
    """One content part at ``at``, of a type in ``allowed`` (an input message's, an
    assistant's, or a tool output's), holding its own fields."""
    _typed(part, dict, at, "an object")
    if "type" not in part:
        raise _missing(f"{at}.type")
    kind = part["type"]
    if kind not in PART_TYPES:
        raise _value(kind, f"{at}.type", PART_TYPES)
    if kind not in allowed:  # a known part in the wrong place: OpenAI names the part
        raise _invalid(kind, at, allowed)
    required, known = _PART_FIELDS[kind]
    _members(part, known, at)
    for key in required:
        _text(part, key, at)
    for key in sorted(known - {"type", *required}):
        if key in ("annotations", "logprobs"):
            _optional(part, key, list, "an array", at)
        else:
            _optional(part, key, str, "a string", at)


def _text(holder: dict[str, Any], key: str, at: str, *, nonempty: bool = False) -> str:
    """``holder[key]``, required text (``nonempty``: at least a character)."""
    if key not in holder:
        raise _missing(f"{at}.{key}")
    value = holder[key]
    if not isinstance(value, str):
        raise _wrong_type(f"{at}.{key}", "a string", value)
    if nonempty and not value:
        raise Refusal(
            f"Invalid '{at}.{key}': empty string. Expected a string with minimum length 1,"
            " but got an empty string instead.",
            f"{at}.{key}",
            code="empty_string",
        )
    return value


# -- tools, tool choice, text, reasoning, include ------------------------------------


def _check_tools(tools: Any, *, openai: bool) -> None:
    """``tools``: typed tools, a function one flat; for OpenAI's own models (``openai``)
    each of a type the API knows (:data:`TOOL_TYPES`). A type OpenAI does not know
    is refused as its APIs refuse a value not in an enum, at ``tools[i].type``
    (code ``invalid_value``): the Assistants API's words for one ("Invalid value:
    'retrieval'. Supported values are: 'code_interpreter', 'function', and
    'file_search'.", param ``tools[0].type``) and Chat Completions' ("Supported
    values are: 'function' and 'custom'.") are reported; no report quotes the
    Responses API's, so this is the closest documented form. The services the mock
    also stands in for may take tool types of their own."""
    if tools is None:
        return
    _typed(tools, list, "tools", "an array of tools")
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        _typed(tool, dict, at, "an object")
        if "type" not in tool:
            raise _missing(f"{at}.type")
        _typed(tool["type"], str, f"{at}.type", "a string")
        if openai and tool["type"] not in TOOL_TYPES:
            raise _invalid(tool["type"], f"{at}.type", TOOL_TYPES)
        if tool["type"] != "function":
            continue  # the web search tools' shapes: openai_web_search's checks
        _text(tool, "name", at)  # first: a Chat Completions tool nests it
        _members(tool, _FUNCTION_TOOL_FIELDS, at)
        _optional(tool, "description", str, "a string", at)
        _optional(tool, "parameters", dict, "an object", at)
        _optional(tool, "strict", bool, "a boolean", at)


def _check_tool_choice(choice: Any) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise _invalid(choice, "tool_choice", _TOOL_CHOICES)
        return
    if not isinstance(choice, dict):
        raise _wrong_type(
            "tool_choice", "one of an object or 'none', 'auto', or 'required'", choice
        )
    if "type" not in choice:
        raise _missing("tool_choice.type")
    _typed(choice["type"], str, "tool_choice.type", "a string")
    if choice["type"] == "function":
        _text(choice, "name", "tool_choice")  # first: Chat Completions nests it
        _members(choice, frozenset({"type", "name"}), "tool_choice")
    elif choice["type"] == "allowed_tools":
        _check_choice(choice, "mode", ("auto", "required"), "tool_choice", required=True)
        if "tools" not in choice:
            raise _missing("tool_choice.tools")
        _typed(choice["tools"], list, "tool_choice.tools", "an array of objects")


def _check_text(text: Any) -> None:
    if text is None:
        return
    _typed(text, dict, "text", "an object")
    _members(text, frozenset({"format", "verbosity"}), "text")
    fmt = text.get("format")
    if fmt is not None:
        _typed(fmt, dict, "text.format", "an object")
        if "type" not in fmt:
            raise _missing("text.format.type")
        if _value_of(fmt["type"], "text.format.type", _FORMAT_TYPES) == "json_schema":
            _text(fmt, "name", "text.format")  # first: Chat Completions nests it
            if "schema" not in fmt:
                raise _missing("text.format.schema")
            _typed(fmt["schema"], dict, "text.format.schema", "an object")
            _members(fmt, _SCHEMA_FORMAT_FIELDS, "text.format")
            _optional(fmt, "strict", bool, "a boolean", "text.format")
            _optional(fmt, "description", str, "a string", "text.format")
        else:
            _members(fmt, frozenset({"type"}), "text.format")
    _check_choice(text, "verbosity", _VERBOSITIES, "text")


def _check_reasoning(reasoning: Any) -> None:
    if reasoning is None:
        return
    _typed(reasoning, dict, "reasoning", "an object")
    _members(reasoning, frozenset({"effort", "summary"}), "reasoning")
    effort = reasoning.get("effort")
    if effort is not None and not isinstance(effort, str):
        # the effort's values: openai_responses.check_effort, which knows the model
        raise _wrong_type("reasoning.effort", "a string", effort)
    _check_choice(reasoning, "summary", _SUMMARIES, "reasoning")


def _check_include(include: Any) -> None:
    if include is None:
        return
    if not isinstance(include, list):
        # OpenAI shortens each value it lists here to its ends ('fil...lts')
        short = [f"'{v[:3]}...{v[-3:]}'" for v in INCLUDABLE]
        raise _wrong_type(
            "include",
            f"an array of one of {', '.join(short[:-1])}, or {short[-1]}",
            include,
        )
    for i, value in enumerate(include):
        if value not in INCLUDABLE:
            raise _value(value, f"include[{i}]", INCLUDABLE)


# -- the API's refusals ----------------------------------------------------------------


def _members(holder: dict[str, Any], known: frozenset[str] | set[str], at: str) -> None:
    """Refuse a member of ``holder`` (at ``at``) that is not one of ``known``."""
    for key in holder:
        if key not in known:
            raise _unknown(f"{at}.{key}")


def _optional(
    holder: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    expected: str,
    at: str = "",
) -> Any:
    """``holder[key]`` (``None`` when left out or null), if of JSON type ``kind``
    (a boolean is no number); else OpenAI's refusal of its type."""
    value = holder.get(key)
    if value is None:
        return None
    param = f"{at}.{key}" if at else key
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise _wrong_type(param, expected, value)
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _check_choice(
    holder: dict[str, Any],
    key: str,
    supported: tuple[str, ...],
    at: str = "",
    *,
    required: bool = False,
) -> None:
    """``holder[key]``, one of ``supported`` (or left out, unless ``required``)."""
    param = f"{at}.{key}" if at else key
    if holder.get(key) is None:
        if required:
            raise _missing(param)
        return
    value = holder[key]
    if not isinstance(value, str):
        quoted = [f"'{s}'" for s in supported]
        listed = f"{', '.join(quoted[:-1])}{',' if len(quoted) > 2 else ''} or {quoted[-1]}"
        raise _wrong_type(param, f"one of {listed}", value)
    _value_of(value, param, supported)


def _value_of(value: Any, param: str, supported: tuple[str, ...]) -> str:
    if value not in supported:
        raise _value(value, param, supported)
    return str(value)


def _value(value: Any, param: str, supported: tuple[str, ...]) -> Refusal:
    """OpenAI's refusal of ``value`` at ``param``: of a value not ``supported``, or
    of its type when it is no string."""
    if not isinstance(value, str):
        return _wrong_type(param, "a string", value)
    return _invalid(value, param, supported)


def _top_type(param: str, expected: str, value: Any) -> Refusal:
    """The refusal of a required top-level field's type (``model``, ``input``): OpenAI
    answers a null in either with "expected a string, but got an object"."""
    if value is None:
        return _wrong_type(param, "a string", {})
    return _wrong_type(param, expected, value)


def _unknown(param: str) -> Refusal:
    return Refusal(f"Unknown parameter: '{param}'.", param, code="unknown_parameter")


def _below(param: str, least: int, value: int) -> Refusal:
    return Refusal(
        f"Invalid '{param}': integer below minimum value. Expected a value >= {least},"
        f" but got {value} instead.",
        param,
        code="integer_below_min_value",
    )
