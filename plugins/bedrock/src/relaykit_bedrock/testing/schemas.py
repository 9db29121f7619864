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

The mock keeps its own rules (Claude's: relaykit.testing.claude_schemas, shared with
relaykit-anthropic's mock) rather than importing relaykit's checks, so that it
catches the client's mistakes instead of sharing them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from relaykit.testing.claude_schemas import structured_problem

from .errors import constraint

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"  # as Claude's API quotes it
_MODEL_ERRORS = "The model returned the following errors: "


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
            if problem := structured_problem(schema):
                return f"{_MODEL_ERRORS}tools.{i}.custom.input_schema: {problem}"
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    if claude and text_format.get("type") == "json_schema":
        raw = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        schema = json.loads(raw) if isinstance(raw, str) else raw
        if problem := structured_problem(schema):
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
    if problem := structured_problem(fmt.get("schema")):
        return f"output_config.format.schema: {problem}"
    return None
