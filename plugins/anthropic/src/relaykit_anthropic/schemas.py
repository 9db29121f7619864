"""Schemas as Claude's structured outputs take them, and names as the Messages API takes them.

``output_config.format`` and a tool sent with ``strict: true`` take a subset of JSON
Schema: every object closed, no numeric or length constraints, ``minItems`` 0 or 1,
a known set of string formats, no recursion. :func:`format_schema` and
:func:`tool_schema` convert what relaykit sends as the Anthropic SDK's
``transform_schema`` does (the constraints written into the description), and refuse
before sending what cannot be converted without changing the answer's meaning
(a recursive class, a ``dict[str, X]`` field), naming it and the fix. Both are
cached per schema dict (:mod:`relaykit.json_schemas`). A tool's name, and the
name of the tool an emulated format goes in, must match ``^[a-zA-Z0-9_-]{1,64}$``.
"""

from __future__ import annotations

from typing import Any

from relaykit import InvalidRequestError
from relaykit.json_schemas import anthropic_problem, anthropic_schema, name_problem
from relaykit.request import Tool


def format_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """``output_config.format.schema`` for a response format's schema."""
    problem = anthropic_problem(schema)
    if problem is not None:
        raise InvalidRequestError(
            f"response_format {name!r} holds {problem}",
            param="response_format",
            hint="set structured_output = 'tool' for this provider (the answer comes as"
            " a tool's input, which takes any schema), or change the class: a list of"
            " key/value objects for a dict, a depth-limited class for recursion",
        )
    return anthropic_schema(schema)


def tool_entry(tool: Tool, where: str) -> dict[str, Any]:
    """The tool's ``input_schema``: converted when strict, as given when not."""
    problem = name_problem(tool.name, "the tool's name")
    if problem is not None:
        raise InvalidRequestError(
            problem, param=f"{where}.name", hint="rename the tool with letters, digits, '_', '-'"
        )
    if not tool.strict:
        return tool.parameters
    problem = anthropic_problem(tool.parameters)
    if problem is not None:
        raise InvalidRequestError(
            f"strict tool {tool.name!r} holds {problem}",
            param=f"{where}.input_schema",
            hint="leave strict unset for this tool, or change its parameters",
        )
    return anthropic_schema(tool.parameters)
