"""What Gemini's JSON parsing refuses in a ``generateContent`` body, for the mock.

A mock that takes any body hides encoder bugs the real API answers with a 400
``INVALID_ARGUMENT``: Google parses a request into its protocol buffers first,
and refuses a field the message lacks, a list where one value goes, or a value
of the wrong type. :func:`request_shape_problem` walks a body through the
messages of the API reference (``Content``, ``Part``, ``Blob``, ``FileData``,
``FunctionCall``, ``FunctionResponse``, ``Tool``, ``FunctionDeclaration``,
``ToolConfig``, ``GenerationConfig``, ``SafetySetting``) and answers the first
problem in Google's words, at the field's path in the messages' own (snake
case) names:

- a field the message lacks: ``Invalid JSON payload received. Unknown name
  "x" at 'contents[0].parts[0]': Cannot find field.`` (at the top level
  without the ``at``);
- a list where one value goes: ``Invalid JSON payload received. Unknown name
  "text" at 'contents[0].parts[0]': Proto field is not repeating, cannot start
  list.``;
- a value of the wrong type: ``Invalid value at
  'generation_config.max_output_tokens' (TYPE_INT32), "ten"``, a message's
  type named by its URL (``type.googleapis.com/google.ai.generativelanguage.
  v1beta.Content``). The mock also answers so a single value where a list goes
  (Google reads one object there as a list of one; relaykit sends lists).

A ``null`` is a field left out, as Google reads it: the check drops it from the
body, so the mock's later checks see what Google sees. A number is taken as
text where an integer goes (``"10"``), as protocol buffers' JSON allows. A field
is known by either of its names, as Google knows it (``googleSearch`` or
``google_search``); most of the mock's later checks read the JSON (camel case)
names only, as relaykit sends them. Settings
other checks read field by field (``thinkingConfig``, ``speechConfig``,
``imageConfig``, ``googleSearch``) and the schemas of functions and answers
are left to them: only their JSON type is checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from relaykit.testing.vendor_json import JSONConstant, strict_json

_TYPE_URL = "type.googleapis.com/google.ai.generativelanguage.v1beta."


class Field(NamedTuple):
    """A field of a message: its type (a scalar's ``TYPE_*`` name, ``"struct"``
    for any object, ``"value"`` for any JSON, an enum's name, or a message) and
    whether it is a list."""

    kind: str | Message
    repeated: bool = False


class Message(NamedTuple):
    """A protocol buffer message: its name, and its fields by JSON (camel case) name."""

    name: str
    fields: Mapping[str, Field]


_STRING = Field("TYPE_STRING")
_INT = Field("TYPE_INT32")
_FLOAT = Field("TYPE_FLOAT")
_BOOL = Field("TYPE_BOOL")
_BYTES = Field("TYPE_BYTES")
_STRUCT = Field("struct")
_ANY = Field("value")
_STRINGS = Field("TYPE_STRING", repeated=True)

_BLOB = Message("Blob", {"mimeType": _STRING, "data": _BYTES, "displayName": _STRING})
_PART = Message(
    "Part",
    {
        "text": _STRING,
        "inlineData": Field(_BLOB),
        "fileData": Field(
            Message("FileData", {"mimeType": _STRING, "fileUri": _STRING, "displayName": _STRING})
        ),
        "functionCall": Field(
            Message("FunctionCall", {"id": _STRING, "name": _STRING, "args": _STRUCT})
        ),
        "functionResponse": Field(
            Message(
                "FunctionResponse",
                {
                    "id": _STRING,
                    "name": _STRING,
                    "response": _STRUCT,
                    "parts": _ANY,
                    "willContinue": _BOOL,
                    "scheduling": Field("FunctionResponse.Scheduling"),
                },
            )
        ),
        "executableCode": Field(
            Message(
                "ExecutableCode", {"language": Field("ExecutableCode.Language"), "code": _STRING}
            )
        ),
        "codeExecutionResult": Field(
            Message(
                "CodeExecutionResult",
                {"outcome": Field("CodeExecutionResult.Outcome"), "output": _STRING},
            )
        ),
        "thought": _BOOL,
        "thoughtSignature": _BYTES,
        "videoMetadata": _STRUCT,
        "mediaResolution": _STRUCT,
        "partMetadata": _STRUCT,
    },
)
_CONTENT = Message("Content", {"role": _STRING, "parts": Field(_PART, repeated=True)})
_DECLARATION = Message(
    "FunctionDeclaration",
    {
        "name": _STRING,
        "description": _STRING,
        "behavior": Field("FunctionDeclaration.Behavior"),
        "parameters": _STRUCT,
        "parametersJsonSchema": _ANY,
        "response": _STRUCT,
        "responseJsonSchema": _ANY,
    },
)
_TOOL = Message(
    "Tool",
    {
        "functionDeclarations": Field(_DECLARATION, repeated=True),
        "googleSearch": _STRUCT,
        "googleSearchRetrieval": _STRUCT,
        "codeExecution": _STRUCT,
        "urlContext": _STRUCT,
        "fileSearch": _STRUCT,
        "computerUse": _STRUCT,
        "googleMaps": _STRUCT,
    },
)
_CALLING_FIELDS = {"mode": Field("FunctionCallingConfig.Mode"), "allowedFunctionNames": _STRINGS}
_TOOL_CONFIG = Message(
    "ToolConfig",
    {
        "functionCallingConfig": Field(Message("FunctionCallingConfig", _CALLING_FIELDS)),
        "retrievalConfig": _STRUCT,
        "includeServerSideToolInvocations": _BOOL,
    },
)
#: Vertex AI's: its function calling config has ``streamFunctionCallArguments``
#: too (Gemini 3 streams a call's arguments: ``FunctionCall.partialArgs``), which
#: the Gemini API's has not
_VERTEX_TOOL_CONFIG = Message(
    "ToolConfig",
    {
        **_TOOL_CONFIG.fields,
        "functionCallingConfig": Field(
            Message(
                "FunctionCallingConfig",
                {**_CALLING_FIELDS, "streamFunctionCallArguments": _BOOL},
            )
        ),
    },
)
#: the Gemini API's generation settings (and Vertex AI's, whose mock shares these checks)
_GENERATION_CONFIG = Message(
    "GenerationConfig",
    {
        "stopSequences": _STRINGS,
        "responseMimeType": _STRING,
        "responseSchema": _STRUCT,
        "responseJsonSchema": _ANY,
        "responseModalities": Field("GenerationConfig.Modality", repeated=True),
        "candidateCount": _INT,
        "maxOutputTokens": _INT,
        "temperature": _FLOAT,
        "topP": _FLOAT,
        "topK": _FLOAT,
        "seed": _INT,
        "presencePenalty": _FLOAT,
        "frequencyPenalty": _FLOAT,
        "responseLogprobs": _BOOL,
        "logprobs": _INT,
        "enableEnhancedCivicAnswers": _BOOL,
        "speechConfig": _STRUCT,
        "thinkingConfig": _STRUCT,
        "imageConfig": _STRUCT,
        "mediaResolution": Field("GenerationConfig.MediaResolution"),
        "routingConfig": _STRUCT,
        "audioTimestamp": _BOOL,
        "modelConfig": _STRUCT,
    },
)
_SAFETY_SETTING = Message(
    "SafetySetting",
    {
        "category": Field("HarmCategory"),
        "threshold": Field("SafetySetting.HarmBlockThreshold"),
        "method": Field("SafetySetting.HarmBlockMethod"),
    },
)
#: the body of ``generateContent`` (the top level's unknown names are the caller's check)
REQUEST = Message(
    "GenerateContentRequest",
    {
        "contents": Field(_CONTENT, repeated=True),
        "systemInstruction": Field(_CONTENT),
        "tools": Field(_TOOL, repeated=True),
        "toolConfig": Field(_TOOL_CONFIG),
        "generationConfig": Field(_GENERATION_CONFIG),
        "safetySettings": Field(_SAFETY_SETTING, repeated=True),
        "cachedContent": _STRING,
    },
)
#: the body of Vertex AI's ``generateContent`` (as far as the mock knows it)
VERTEX_REQUEST = Message(
    "GenerateContentRequest", {**REQUEST.fields, "toolConfig": Field(_VERTEX_TOOL_CONFIG)}
)
_INTEGER_TEXT = re.compile(r"-?\d+")
#: a JSON string, escapes and all
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def unparsed_problem(raw: bytes) -> str | None:
    """Google's words for a body that is not JSON, or ``None`` when it parses.

    Google's front end answers 400 ``INVALID_ARGUMENT`` "Invalid JSON payload
    received. Unexpected token." then, on lines of their own, the text around the
    place it stopped (up to 20 characters either side, on that line) and a caret
    under that place, as reported from its APIs (for a bare ``NaN`` in a body, the
    line ``26-07-28", "close": NaN, "volume": 47342`` and a caret under the ``N``). The
    mock stops where Python's parser does, which is not always Google's place, and
    at a ``NaN`` or ``Infinity``, which Python reads and Google does not; a body
    that is not text is read as UTF-8 with its bad bytes replaced."""
    try:
        strict_json(raw)
        return None
    except JSONConstant as e:
        doc = raw.decode("utf-8", errors="replace")
        # where the constant is outside a string: the strings blanked out
        at = _STRING_LITERAL.sub(lambda m: " " * len(m.group()), doc).find(e.name)
    except json.JSONDecodeError as e:
        doc, at = e.doc, e.pos
    except ValueError:  # not text in a JSON encoding
        doc, at = raw.decode("utf-8", errors="replace"), 0
    line_start = doc.rfind("\n", 0, at) + 1
    line_end = doc.find("\n", at)
    start = max(line_start, at - 20)
    end = min(len(doc) if line_end < 0 else line_end, at + 20)
    caret = " " * (at - start) + "^"
    return f"Invalid JSON payload received. Unexpected token.\n{doc[start:end]}\n{caret}"


def request_shape_problem(body: dict[str, Any], *, vertex: bool = False) -> str | None:
    """Google's words for the first place ``body`` (a ``generateContent`` body, an
    object) does not parse into :data:`REQUEST` (:data:`VERTEX_REQUEST` for
    ``vertex``), or ``None``; its ``null`` fields are dropped (see the module's
    docstring)."""
    return _message_problem(body, VERTEX_REQUEST if vertex else REQUEST, "")


def _message_problem(value: dict[str, Any], message: Message, path: str) -> str | None:
    for key, item in list(value.items()):
        field = message.fields.get(_camel(key))
        if field is None:
            at = f" at '{path}'" if path else ""
            return f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
        if item is None:
            # left out, as Google reads it: so the mock's later checks see what Google sees
            del value[key]
            continue
        where = f"{path}.{_snake(key)}" if path else _snake(key)
        if isinstance(item, list) and not field.repeated:
            at = f" at '{path}'" if path else ""
            return (
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Proto field is not'
                " repeating, cannot start list."
            )
        if not field.repeated:
            problem = _value_problem(item, field.kind, where)
        elif not isinstance(item, list):
            problem = _wrong(item, field.kind, where)
        else:
            problem = next(
                (
                    p
                    for i, one in enumerate(item)
                    if (p := _value_problem(one, field.kind, f"{where}[{i}]"))
                ),
                None,
            )
        if problem:
            return problem
    return None


def _value_problem(value: Any, kind: str | Message, where: str) -> str | None:
    if isinstance(kind, Message):
        if not isinstance(value, dict):
            return _wrong(value, kind, where)
        return _message_problem(value, kind, where)
    if kind == "value" or _fits(value, kind):
        return None
    return _wrong(value, kind, where)


def _fits(value: Any, kind: str) -> bool:
    """Whether protocol buffers' JSON reads ``value`` as a ``kind``."""
    if kind == "struct":
        return isinstance(value, dict)
    if kind in ("TYPE_STRING", "TYPE_BYTES"):
        return isinstance(value, str)
    if kind == "TYPE_BOOL":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "TYPE_INT32":
        return isinstance(value, int) or (
            isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None
        )
    if kind == "TYPE_FLOAT":
        return isinstance(value, int | float)
    return isinstance(value, str | int)  # an enum: its name or its number


def _wrong(value: Any, kind: str | Message, where: str) -> str:
    if isinstance(kind, Message):
        named = _TYPE_URL + kind.name
    elif kind.startswith("TYPE_"):
        named = kind
    elif kind == "struct":
        named = "type.googleapis.com/google.protobuf.Struct"
    else:
        named = _TYPE_URL + kind
    return f"Invalid value at '{where}' ({named}), {json.dumps(value)}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
