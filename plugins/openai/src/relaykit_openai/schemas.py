"""What OpenAI's strict structured outputs and strict function calling refuse, refused first.

OpenAI answers a strict schema that breaks its rules with a 400 ("Invalid schema
for response_format 'X': In context=('properties', 'tags'), 'additionalProperties'
is required to be supplied and to be false."), and a name outside
``^[a-zA-Z0-9_-]{1,64}$`` likewise. relaykit says so before sending, naming the
place in the schema and the fix: :func:`check_format` for ``response_format``
(both APIs), :func:`check_tool` for a tool sent with ``strict``. The checks are
:mod:`relaykit.json_schemas`' and cached per schema dict, so a call whose
schema came from a class pays nothing for them.
"""

from __future__ import annotations

from relaykit import InvalidRequestError
from relaykit.json_schemas import describe_problem, name_problem, strict_problems
from relaykit.request import ResponseFormat, Tool


def check_format(rf: ResponseFormat) -> None:
    """Refuse a ``json_schema`` response format OpenAI would: a bad name, or a
    strict schema that breaks the strict rules."""
    problem = name_problem(rf.name, "the response format's name")
    if problem is not None:
        raise InvalidRequestError(
            problem,
            param="response_format.json_schema.name",
            hint="name it with letters, digits, '_' and '-' only, at most 64",
        )
    if not rf.strict:
        return
    problems = strict_problems(rf.schema or {})
    if problems:
        raise InvalidRequestError(
            f"OpenAI's strict structured outputs refuse response_format {rf.name!r}: "
            f"{describe_problem(problems[0])}",
            param="response_format",
            hint="close every object (additionalProperties: false) with every property"
            " in required (an optional one nullable), the root an object, and leave out"
            " what strict mode does not take (allOf, oneOf, not, minLength, maxLength,"
            " uniqueItems, ...), within its limits (10 levels of objects, 5,000 properties,"
            " 1,000 enum values); or send it with strict: false",
        )


def check_tool(tool: Tool, where: str) -> None:
    """Refuse a tool OpenAI would: a bad name, or strict parameters that break the rules."""
    problem = name_problem(tool.name, "the tool's name")
    if problem is not None:
        raise InvalidRequestError(
            problem,
            param=f"{where}.name",
            hint="rename the tool with letters, digits, '_' and '-' only, at most 64",
        )
    if not tool.strict:
        return
    problems = strict_problems(tool.parameters)
    if problems:
        raise InvalidRequestError(
            f"OpenAI's strict function calling refuses tool {tool.name!r}: "
            f"{describe_problem(problems[0])}",
            param=f"{where}.parameters",
            hint="close every object (additionalProperties: false) with every property"
            " in required (an optional one nullable), and leave out what strict mode does"
            " not take (allOf, oneOf, not, minLength, maxLength, uniqueItems, ...), within"
            " its limits (10 levels of objects, 5,000 properties, 1,000 enum values); or"
            " leave strict unset",
        )
