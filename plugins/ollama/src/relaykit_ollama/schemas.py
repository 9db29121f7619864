"""A ``response_format`` schema as Ollama's ``format`` takes it, checked before sending.

Ollama turns a ``format`` schema into a llama.cpp grammar (``json_schema_to_grammar``),
which follows local ``$ref``s (``#/$defs/...``, ``#/definitions/...``, recursion
included) and reads ``anyOf``/``oneOf``, ``enum``, ``const``, lengths and ``pattern``.
Two things it cannot take, each refused here naming the place and the fix:

- a ``$ref`` that does not resolve inside the schema (a definition left out, or
  another document): Ollama answers 500 ``invalid JSON schema in format``
  (datalab-to/marker#780, #984);
- a ``pattern`` using a class escape (``\\d``, ``\\w``, ``\\s`` and their
  capitals): the grammar does not parse ("parse: error parsing grammar: unknown
  escape at \\d", ollama/ollama#8063) and the model answers unconstrained, with a
  200: the schema would be lost without a word.

Everything else goes as given. The check is cached per schema dict, so a call whose
schema came from a class pays for it once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from relaykit import InvalidRequestError

#: the regex class escapes llama.cpp's grammar does not parse inside a pattern
_CLASS_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\([dDwWsS])")
_CLASSES = {"d": "[0-9]", "w": "[a-zA-Z0-9_]", "s": "[ \\t\\n\\r]"}

#: keywords whose values are data, not schemas
_VALUES = frozenset({"enum", "const", "default", "examples", "required"})

_lock = threading.Lock()
_checked: OrderedDict[int, dict[str, Any]] = OrderedDict()  # id -> the schema, checked
_SIZE = 256


def format_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` for ``format``, once checked (see the module docstring)."""
    with _lock:
        if _checked.get(id(schema)) is schema:
            _checked.move_to_end(id(schema))
            return schema
    problem = _problem(schema, schema, ())
    if problem is not None:
        where, what, hint = problem
        raise InvalidRequestError(
            f"response_format's schema at {where or 'the root'} {what}",
            param="response_format",
            hint=hint,
        )
    with _lock:
        _checked[id(schema)] = schema  # held, so its id is not reused while cached
        while len(_checked) > _SIZE:
            _checked.popitem(last=False)
    return schema


def _problem(
    node: Any, root: Mapping[str, Any], path: tuple[str, ...]
) -> tuple[str, str, str] | None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            if found := _problem(item, root, (*path, str(i))):
                return found
        return None
    if not isinstance(node, Mapping):
        return None
    where = ".".join(path)
    ref = node.get("$ref")
    if isinstance(ref, str) and not _resolves(root, ref):
        return (
            where,
            f"refers to {ref!r}, which is not in the schema (Ollama answers 'invalid JSON"
            " schema in format')",
            "put the definition in the schema's $defs, or inline it",
        )
    pattern = node.get("pattern")
    if isinstance(pattern, str) and (m := _CLASS_ESCAPE.search(pattern)):
        letter = m.group(1)
        plain = _CLASSES.get(letter.lower(), "")
        if letter.isupper():
            plain = f"[^{plain[1:]}" if plain else ""
        return (
            where,
            f"has the pattern {pattern!r}, whose \\{letter} Ollama's grammar cannot parse"
            " (the schema would be dropped and the answer left unconstrained)",
            f"write \\{letter} as {plain}" if plain else "spell the class out as [...]",
        )
    for key, value in node.items():
        if key in _VALUES or not isinstance(value, Mapping | list):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            inner = (*path, key) if key != "properties" else path
            found = _first(((name, sub) for name, sub in value.items()), root, inner)
        else:
            found = _problem(value, root, (*path, key))
        if found:
            return found
    return None


def _first(
    named: Any, root: Mapping[str, Any], path: tuple[str, ...]
) -> tuple[str, str, str] | None:
    for name, sub in named:
        if found := _problem(sub, root, (*path, name)):
            return found
    return None


def _resolves(root: Mapping[str, Any], ref: str) -> bool:
    if ref == "#":
        return True
    if not ref.startswith("#/"):
        return False
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
