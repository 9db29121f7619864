"""Tool names and structured-output schemas the mock refuses, as Bedrock and Claude do.

- A tool name outside ``[a-zA-Z0-9_-]+`` (1 to 64 characters) breaks the Converse
  API's model (ToolSpecification in the API reference): refused for every model
  with AWS's constraint message. On the Messages route, in Claude's words.
- For Claude models, a schema in ``outputConfig.textFormat`` (a JSON string) or
  ``output_config.format``, or a ``strict`` tool's, that Claude's structured
  outputs refuse: an object not closed (``additionalProperties: false``), a
  numeric or length constraint, ``minItems`` above 1, recursion. The sentences
  are Claude's (as the Anthropic API words them); how Converse wraps them is the
  mock's guess ("The model returned the following errors: ..."), since AWS does
  not publish it.

The mock keeps its own rules rather than importing relaykit's checks, so that it
catches the client's mistakes instead of sharing them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import constraint

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"  # as Claude's API quotes it
_MODEL_ERRORS = "The model returned the following errors: "

#: keywords Claude's structured outputs refuse, by the type they constrain
_UNSUPPORTED = {
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "string": ("minLength", "maxLength"),
    "array": ("maxItems",),
}


def converse_schema_problem(model_id: str, body: dict[str, Any]) -> str | None:
    """What Converse refuses in ``body``'s tools and output format, or ``None``."""
    claude = "anthropic.claude" in model_id
    tools = (body.get("toolConfig") or {}).get("tools") or ()
    for i, entry in enumerate(tools):
        spec = entry.get("toolSpec") if isinstance(entry, dict) else None
        if not isinstance(spec, dict):
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return constraint(
                f"Value '{name}' at 'toolConfig.tools.{i + 1}.member.toolSpec.name'",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
            )
        if claude and spec.get("strict"):
            schema = (spec.get("inputSchema") or {}).get("json")
            if problem := structured_problem(schema, schema, ()):
                return f"{_MODEL_ERRORS}tools.{i}.custom.input_schema: {problem}"
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    if claude and text_format.get("type") == "json_schema":
        raw = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        schema = json.loads(raw) if isinstance(raw, str) else raw
        if problem := structured_problem(schema, schema, ()):
            return f"{_MODEL_ERRORS}output_config.format.schema: {problem}"
    return None


def messages_schema_problem(body: dict[str, Any]) -> str | None:
    """What the Messages route refuses in ``body``'s tools and ``output_config.format``."""
    for i, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and "input_schema" in tool:
            name = tool.get("name")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                return f"tools.{i}.custom.name: String should match pattern '{_PATTERN}'"
    fmt = (body.get("output_config") or {}).get("format")
    if not (isinstance(fmt, dict) and fmt.get("type") == "json_schema"):
        return None
    if problem := structured_problem(fmt.get("schema"), fmt.get("schema"), ()):
        return f"output_config.format.schema: {problem}"
    return None


def structured_problem(node: Any, root: Any, refs: tuple[str, ...]) -> str | None:
    """Claude's refusal of the first part of ``node`` its structured outputs cannot take."""
    if isinstance(node, list):
        return next((p for n in node if (p := structured_problem(n, root, refs))), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in refs or ref == "#":
            return "Too many recursive definitions in schema"
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return structured_problem(target, root, (*refs, ref))
    kind = node.get("type")
    if kind == "object" and node.get("additionalProperties") is not False:
        return "For 'object' type, 'additionalProperties' must be explicitly set to false"
    for key in _UNSUPPORTED.get(kind, ()) if isinstance(kind, str) else ():
        if key in node:
            return f"For '{kind}' type, property '{key}' is not supported"
    if kind == "array" and node.get("minItems", 0) not in (0, 1):
        return "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            problem = structured_problem(list(value.values()), root, refs)
        elif key in ("items", "anyOf", "allOf"):
            problem = structured_problem(value, root, refs)
        else:
            continue
        if problem:
            return problem
    return None
