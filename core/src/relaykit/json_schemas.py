"""JSON schemas as each vendor takes them: OpenAI's strict rules, Anthropic's subset, names.

The schemas relaykit writes (:mod:`relaykit.output_types`,
:mod:`relaykit.function_tools`) go through :func:`normalized` once per class or
function: a ``$ref`` with a description beside it becomes the definition
inlined (OpenAI's strict mode refuses ``$ref`` with other keywords, and
openai-python's ``to_strict_json_schema`` inlines it the same way), a lone
``allOf`` is unwrapped and a ``null`` default dropped.

Provider plugins check what they send with these, before sending:

- :func:`strict_problems`: where a schema breaks OpenAI's strict structured
  outputs (the root an object, every object closed with
  ``additionalProperties: false`` and every property required, ``$ref`` alone;
  no ``allOf``/``oneOf``/``not``/``if``, no ``minLength``/``maxLength``,
  ``uniqueItems``, ``minProperties`` and the other keywords OpenAI's "Supported
  schemas" lists as not supported, a ``format`` among :data:`OPENAI_FORMATS`;
  ``pattern``, ``minimum``/``maximum``, ``multipleOf`` and
  ``minItems``/``maxItems`` are taken; and the size limits: 10 levels of
  objects, 5,000 properties, 1,000 enum values, 120,000 characters of names
  and values, 15,000 for the values of an enum of over 250);
  :func:`strict_ok` is the same as a yes or no.
- :func:`anthropic_schema`: a schema as Claude's structured outputs take it
  (``output_config.format``, strict tools), converted as the Anthropic SDK's
  ``transform_schema`` does: the constraints Claude cannot enforce
  (``minimum``, ``maxLength``, a ``pattern``-less format it does not know...)
  moved into the description, ``oneOf`` read as ``anyOf``. What cannot be
  converted without changing the answer's meaning (a recursive schema, an
  object with open ``additionalProperties``: a ``dict[str, X]`` field) is named
  by :func:`anthropic_problem`.
- :func:`name_problem`: a response format's or tool's name OpenAI, Anthropic
  and Bedrock refuse (they take ``^[a-zA-Z0-9_-]{1,64}$``); :func:`safe_name`
  makes one from a class's name (``Page[Item]`` is ``Page_Item_``).

Every check and conversion is cached by the schema dict itself (relaykit's own
schemas are the same dict on every call), so a call pays nothing for them after
the first; the dicts passed in are never changed, and those returned are shared:
nothing may change them.

Public plugin API: plugins may import this module; the names in ``__all__`` are
kept stable (see :mod:`relaykit.plugin_api`).
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "NAME",
    "anthropic_problem",
    "anthropic_schema",
    "describe_problem",
    "name_problem",
    "normalized",
    "safe_name",
    "strict_ok",
    "strict_problems",
]

#: what OpenAI (``response_format.json_schema.name``, function names), Anthropic
#: (tool names) and Bedrock (``toolSpec.name``) take as a name
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}\Z")  # \Z: "$" would let a final newline through

_T = TypeVar("_T")
_MISSING = object()


class _ByIdentity:
    """A small LRU of results by the identity of the schema dict they came from
    (holding the dict, so its id is not reused while the entry lives)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[object, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object, compute: Callable[[Any], _T]) -> _T:
        with self._lock:
            hit = self._entries.get(id(key))
            if hit is not None and hit[0] is key:
                self._entries.move_to_end(id(key))
                return hit[1]  # type: ignore[no-any-return]
        value = compute(key)
        with self._lock:
            self._entries[id(key)] = (key, value)
            self._entries.move_to_end(id(key))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value


def name_problem(name: object, what: str = "name") -> str | None:
    """Why ``name`` cannot be a response format's or tool's name, or ``None``."""
    if isinstance(name, str) and NAME.match(name):
        return None
    return (
        f"{what} {name!r} is not 1 to 64 letters, digits, '_' or '-'"
        " (OpenAI, Anthropic and Bedrock refuse it)"
    )


def safe_name(name: str) -> str:
    """``name`` with each character a name may not hold as ``_``, cut to 64."""
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]
    return cleaned or "response"


# -- normalizing the schemas relaykit writes -------------------------------------------


def normalized(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` every vendor reads alike: a ``$ref`` with other keywords
    beside it (a field's description) inlined, unless it refers to a definition it
    is inside of (then the other keywords are dropped); a one-member ``allOf``
    unwrapped; ``"default": null`` dropped."""
    root = copy.deepcopy(dict(schema))
    return _normalize(root, root, ())  # type: ignore[no-any-return]


def _normalize(node: Any, root: dict[str, Any], inside: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_normalize(n, root, inside) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("default", _MISSING) is None:
        node.pop("default")
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del node["allOf"]
        node = {**all_of[0], **node}
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        target = _resolve(root, ref)
        if target is None or ref in inside:
            return {"$ref": ref}
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _normalize(merged, root, (*inside, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {
                k: _normalize(v, root, (*inside, f"#/{key}/{k}") if key != "properties" else inside)
                for k, v in value.items()
            }
        elif key in ("enum", "const", "default", "required", "examples"):
            out[key] = value
        else:
            out[key] = _normalize(value, root, inside)
    return out


def _resolve(root: Mapping[str, Any], ref: str) -> dict[str, Any] | None:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


# -- OpenAI's strict mode ---------------------------------------------------------------

_strict_cache = _ByIdentity()

#: the string formats OpenAI's strict mode takes ("Supported schemas"); ``pattern``,
#: ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/``multipleOf`` and
#: ``minItems``/``maxItems`` are taken too
OPENAI_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
#: keywords OpenAI's strict mode refuses ("Supported schemas": composition other than
#: anyOf, conditionals, and the type-specific keywords "not yet supported")
OPENAI_REFUSED = (
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
)


#: OpenAI's size limits for a strict schema ("Objects have limitations on nesting
#: depth and size", "Limitations on enum size"): object levels, object properties,
#: enum values in all, characters of property and definition names and enum and
#: const values, and characters of one string enum's values once it has over
#: :data:`OPENAI_BIG_ENUM` of them
OPENAI_MAX_DEPTH = 10
OPENAI_MAX_PROPERTIES = 5000
OPENAI_MAX_ENUM_VALUES = 1000
OPENAI_MAX_CHARACTERS = 120_000
OPENAI_BIG_ENUM = 250
OPENAI_MAX_BIG_ENUM_CHARACTERS = 15_000


def strict_problems(schema: Mapping[str, Any]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """Where ``schema`` breaks OpenAI's strict structured outputs, each as (the path
    to the node, what is wrong, in OpenAI's words); empty when it keeps them."""
    return _strict_cache.get(schema, _strict_problems)


def strict_ok(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI's strict mode takes ``schema``."""
    return not strict_problems(schema)


def _strict_problems(schema: Mapping[str, Any]) -> tuple[tuple[tuple[str, ...], str], ...]:
    problems: list[tuple[tuple[str, ...], str]] = []
    kind = schema.get("type")
    if kind != "object" or "anyOf" in schema:
        got = "anyOf" if "anyOf" in schema else f'type: "{kind}"' if kind else "no type"
        problems.append(((), f"schema must be a JSON Schema of 'type: \"object\"', got '{got}'."))
    _walk_strict(schema, (), problems)
    problems.extend(_size_problems(schema))
    return tuple(problems)


class _Size:
    """What OpenAI's size limits count, summed over a schema."""

    def __init__(self) -> None:
        self.depth = 0
        self.properties = 0
        self.enum_values = 0
        self.characters = 0
        self.big_enums: list[tuple[tuple[str, ...], int, int]] = []


def _size_problems(schema: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    size = _Size()
    _measure(schema, (), 0, size)
    problems: list[tuple[tuple[str, ...], str]] = []
    # OpenAI words these without a context ("6 levels of nesting exceeds limit of 5.",
    # "144 parameters exceed the limit of 100." when the limits were 5 and 100)
    if size.depth > OPENAI_MAX_DEPTH:
        problems.append(
            ((), f"{size.depth} levels of nesting exceeds limit of {OPENAI_MAX_DEPTH}.")
        )
    if size.properties > OPENAI_MAX_PROPERTIES:
        problems.append(
            (
                (),
                f"{size.properties} object properties exceed the limit of {OPENAI_MAX_PROPERTIES}.",
            )
        )
    if size.enum_values > OPENAI_MAX_ENUM_VALUES:
        problems.append(
            ((), f"{size.enum_values} enum values exceed the limit of {OPENAI_MAX_ENUM_VALUES}.")
        )
    problems.extend(
        (
            (),
            f"The enum at {path!r} has {count} values of {chars} characters in all, over the"
            f" limit of {OPENAI_MAX_BIG_ENUM_CHARACTERS} for an enum of over {OPENAI_BIG_ENUM}"
            " values.",
        )
        for path, count, chars in size.big_enums
    )
    if size.characters > OPENAI_MAX_CHARACTERS:
        problems.append(
            (
                (),
                "The property names, definition names, enum and const values are"
                f" {size.characters} characters, over the limit of {OPENAI_MAX_CHARACTERS}.",
            )
        )
    return problems


def _measure(node: Any, path: tuple[str, ...], level: int, size: _Size) -> None:
    """Add ``node``'s counts to ``size``; ``level`` is the object levels above it.
    A ``$ref`` is not followed and a definition counts from level 0, so a schema is
    never measured deeper than it is (OpenAI's own count decides the rest)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _measure(item, (*path, str(i)), level, size)
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
        level += 1
        size.depth = max(size.depth, level)
    enum = node.get("enum")
    if isinstance(enum, list):
        size.enum_values += len(enum)
        strings = [v for v in enum if isinstance(v, str)]
        chars = sum(map(len, strings))
        size.characters += chars
        if len(strings) > OPENAI_BIG_ENUM and chars > OPENAI_MAX_BIG_ENUM_CHARACTERS:
            size.big_enums.append((path, len(strings), chars))
    const = node.get("const")
    if isinstance(const, str):
        size.characters += len(const)
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            size.properties += len(value)
            for name, sub in value.items():
                size.characters += len(name)
                _measure(sub, (*path, key, name), level, size)
        elif key in ("$defs", "definitions") and isinstance(value, Mapping):
            for name, sub in value.items():
                size.characters += len(name)
                _measure(sub, (*path, key, name), 0, size)
        elif key in ("items", "anyOf", "prefixItems", "additionalProperties"):
            _measure(value, (*path, key), level, size)


def _walk_strict(
    node: Any, path: tuple[str, ...], problems: list[tuple[tuple[str, ...], str]]
) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk_strict(item, (*path, str(i)), problems)
        return
    if not isinstance(node, Mapping):
        return
    if "$ref" in node and len(node) > 1:
        others = ", ".join(repr(k) for k in node if k != "$ref")
        problems.append((path, f"$ref cannot have keywords {{{others}}}."))
    problems.extend((path, f"'{key}' is not permitted.") for key in OPENAI_REFUSED if key in node)
    fmt = node.get("format")
    if isinstance(fmt, str) and node.get("type") == "string" and fmt not in OPENAI_FORMATS:
        problems.append((path, f"format '{fmt}' is not supported."))
    properties = node.get("properties")
    is_object = node.get("type") == "object" or (
        isinstance(node.get("type"), list) and "object" in node["type"]
    )
    if is_object or isinstance(properties, Mapping):
        if node.get("additionalProperties") is not False:
            problems.append(
                (path, "'additionalProperties' is required to be supplied and to be false.")
            )
        if isinstance(properties, Mapping):
            required = node.get("required")
            required = required if isinstance(required, list) else []
            missing = [k for k in properties if k not in required]
            if missing:
                problems.append(
                    (
                        path,
                        "'required' is required to be supplied and to be an array including"
                        f" every key in properties. Missing '{missing[0]}'.",
                    )
                )
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            for name, sub in value.items():
                _walk_strict(sub, (*path, key, name), problems)
        elif key in ("items", "anyOf", "allOf", "oneOf", "not", "prefixItems") or (
            key in ("if", "then", "else", "additionalProperties", "contains")
        ):
            _walk_strict(value, (*path, key), problems)


def describe_problem(problem: tuple[tuple[str, ...], str]) -> str:
    """A problem of :func:`strict_problems` as OpenAI words it: ``In context=(...), ...``."""
    path, what = problem
    if not path and (what.startswith("schema must be") or " limit of " in what):
        return what  # the root's type and the size limits are worded without a context
    return f"In context={path!r}, {what}"


# -- Anthropic's structured outputs -------------------------------------------------------

#: the string formats Claude's structured outputs enforce
ANTHROPIC_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
#: the keywords Claude's structured outputs take (others go into the description)
_ANTHROPIC_KEEP = frozenset(
    {
        "type",
        "description",
        "title",
        "enum",
        "const",
        "anyOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "default",
        "format",
        "minItems",
        "pattern",
        "$schema",
    }
)
_anthropic_cache = _ByIdentity()
_anthropic_problem_cache = _ByIdentity()


def anthropic_problem(schema: Mapping[str, Any]) -> str | None:
    """What in ``schema`` Claude's structured outputs cannot take and relaykit cannot
    convert without changing what the answer means, or ``None``: a recursive
    definition, or an object taking other keys (``additionalProperties`` other
    than false, a ``dict[str, X]`` field)."""
    return _anthropic_problem_cache.get(schema, _anthropic_problem)


def _anthropic_problem(schema: Mapping[str, Any]) -> str | None:
    found: list[str] = []

    def walk(node: Any, path: tuple[str, ...], refs: tuple[str, ...]) -> None:
        if found or not isinstance(node, Mapping | list):
            return
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, (*path, str(i)), refs)
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in refs or ref == "#":
                found.append(
                    f"a recursive schema (at {'.'.join(path) or 'the root'}, "
                    f"{ref} refers to itself), which Claude's structured outputs do not take"
                )
                return
            target = _resolve(schema, ref)
            if target is not None:
                walk(target, path, (*refs, ref))
        extra = node.get("additionalProperties", False)
        if extra is not False and (
            extra is not True or node.get("type") == "object" or "properties" in node
        ):
            if extra is True and "properties" in node:
                extra = None  # open objects with properties: closed on conversion
            if extra is not None:
                found.append(
                    f"an object with any keys at {'.'.join(path) or 'the root'}"
                    " (additionalProperties other than false: a dict field), which"
                    " Claude's structured outputs do not take"
                )
                return
        for key, value in node.items():
            if key in ("$defs", "definitions"):
                continue
            if key == "properties" and isinstance(value, Mapping):
                for name, sub in value.items():
                    walk(sub, (*path, name), refs)
            elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems"):
                walk(value, (*path, key) if key != "items" else (*path, "[]"), refs)

    walk(schema, (), ())
    return found[0] if found else None


def anthropic_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as Claude's structured outputs take it, converted as the Anthropic
    SDK's ``transform_schema`` does: every object closed
    (``additionalProperties: false``), ``oneOf`` read as ``anyOf``, and what Claude
    cannot enforce (numeric and length constraints, ``minItems`` above 1, formats
    it does not know, other keywords) written into the description as
    ``{minimum: 1, maxLength: 5}`` for the model to follow. Check
    :func:`anthropic_problem` first."""
    return _anthropic_cache.get(schema, _anthropic)


def _anthropic(node: Any) -> Any:
    if isinstance(node, list):
        return [_anthropic(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {k: _anthropic(v) for k, v in value.items()}
        elif key == "oneOf":
            out["anyOf"] = _anthropic(value)
        elif key in ("anyOf", "allOf", "items"):
            out[key] = _anthropic(value)
        elif (key == "format" and value not in ANTHROPIC_FORMATS) or (
            key == "minItems" and value not in (0, 1)
        ):
            moved[key] = value
        elif key in _ANTHROPIC_KEEP:
            out[key] = value
        else:
            moved[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
    if moved:
        said = "{" + ", ".join(f"{k}: {v}" for k, v in moved.items()) + "}"
        description = out.get("description")
        out["description"] = f"{description}\n\n{said}" if description else said
    return out
