"""Tool names and JSON schemas as Bedrock takes them, checked or converted before sending.

- Every tool's name must match ``^[a-zA-Z0-9_-]{1,64}$``: the Converse API
  reference (ToolSpecification: "Minimum length of 1. Maximum length of 64.
  Pattern: ``[a-zA-Z0-9_-]+``") for every model, and Claude's own rule on the
  Messages route. Bedrock refuses another with a ValidationException ("A tool name
  is invalid. Tool names can only contain letters, numbers, underscores, and
  hyphens", kagent-dev/kagent#1473); :func:`tool_schema` refuses it first.
- For Claude models (Converse and the Messages API alike), a JSON schema
  ``response_format`` and a ``strict`` tool's parameters take Claude's
  structured-output subset, which AWS's own sample lists the same as Anthropic
  does (aws-samples/amazon-bedrock-samples, structured-outputs: every object
  ``additionalProperties: false``, no recursion, no ``minimum``/``maximum``, no
  ``minLength``/``maxLength``). They are converted as relaykit-anthropic converts
  them (:func:`relaykit.json_schemas.anthropic_schema`: objects closed, the
  constraints written into the description) or, when that would change what the
  answer means (a recursive class, a ``dict[str, X]`` field), refused naming the
  place and the fix (:func:`relaykit.json_schemas.anthropic_problem`).
- Other models' schemas go as given: Bedrock documents no conversion for them
  (Nova, Llama, Mistral and the rest each take what their own decoder takes, and
  Bedrock answers a schema it cannot compile with a 400).

The checks and conversions are cached per schema dict, so a call whose schema came
from a class pays for them once.
"""

from __future__ import annotations

from typing import Any

from relaykit import InvalidRequestError
from relaykit.json_schemas import anthropic_problem, anthropic_schema, name_problem
from relaykit.request import ResponseFormat, Tool


def tool_schema(tool: Tool, where: str, *, claude: bool, strict: bool | None) -> dict[str, Any]:
    """``toolSpec.inputSchema.json`` for ``tool``: its name checked, its parameters
    converted when sent ``strict`` to a Claude model, else as given."""
    problem = name_problem(tool.name, "the tool's name")
    if problem is not None:
        raise InvalidRequestError(
            problem,
            param=f"{where}.name",
            hint="rename the tool with letters, digits, '_' and '-' only, at most 64",
        )
    if not (claude and strict):
        return tool.parameters
    problem = anthropic_problem(tool.parameters)
    if problem is not None:
        raise InvalidRequestError(
            f"strict tool {tool.name!r} holds {problem}",
            param=f"{where}.inputSchema",
            hint="leave strict unset for this tool, or change its parameters",
        )
    return anthropic_schema(tool.parameters)


def format_schema(rf: ResponseFormat, *, claude: bool) -> dict[str, Any]:
    """The schema sent as ``outputConfig.textFormat`` (``output_config.format`` on the
    Messages route): converted for Claude, else as given."""
    schema = rf.schema or {}
    if not claude:
        return schema
    problem = anthropic_problem(schema)
    if problem is not None:
        raise InvalidRequestError(
            f"response_format {rf.name!r} holds {problem}",
            param="response_format",
            hint="ask for the answer as a tool's input instead (a tool with this schema and"
            " tool_choice naming it: tool inputs take any schema), or change the class: a"
            " list of key/value objects for a dict, a depth-limited class for recursion",
        )
    return anthropic_schema(schema)
