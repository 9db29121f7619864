"""What Claude's structured outputs refuse in a JSON schema, in Claude's words.

For the vendor mocks that serve Claude (relaykit-anthropic's AnthropicMock,
relaykit-bedrock's mock on both of its routes): one statement of the rules, so
the two mocks cannot drift apart. An object not closed
(``additionalProperties: false``), a numeric or length constraint, ``minItems``
above 1, and recursion are refused; the sentences are the Anthropic API's.

The mocks keep these rules apart from relaykit's own conversion
(:mod:`relaykit.json_schemas`), so that they catch the client's mistakes rather
than share them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNSUPPORTED", "structured_problem"]

#: keywords Claude's structured outputs refuse, by the type they constrain
UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "string": ("minLength", "maxLength"),
    "array": ("maxItems",),
}


def structured_problem(schema: Any) -> str | None:
    """Claude's refusal of the first part of ``schema`` its structured outputs cannot
    take, or ``None``."""
    return _problem(schema, schema, ())


def _problem(node: Any, root: Any, refs: tuple[str, ...]) -> str | None:
    if isinstance(node, list):
        return next((p for n in node if (p := _problem(n, root, refs))), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in refs or ref == "#":
            return "Too many recursive definitions in schema"
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _problem(target, root, (*refs, ref))
    kind = node.get("type")
    if kind == "object" and node.get("additionalProperties") is not False:
        return "For 'object' type, 'additionalProperties' must be explicitly set to false"
    for key in UNSUPPORTED.get(kind, ()) if isinstance(kind, str) else ():
        if key in node:
            return f"For '{kind}' type, property '{key}' is not supported"
    if kind == "array" and node.get("minItems", 0) not in (0, 1):
        return "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            problem = _problem(list(value.values()), root, refs)
        elif key in ("items", "anyOf", "allOf"):
            problem = _problem(value, root, refs)
        else:
            continue
        if problem:
            return problem
    return None
