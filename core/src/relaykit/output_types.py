"""Structured output into the caller's own types: a class in, its JSON schema out, an instance back.

``client.chat(model, messages, response_format=Invoice)`` takes a pydantic
model, a dataclass, an attrs class or a ``TypedDict``. :func:`output_format`
turns it into the JSON schema every provider plugin already sends (OpenAI's
strict mode wants every property required and no others, so the schema says
exactly that), and :func:`parse_output` turns the answer's text back into an
instance: ``response.parsed``.

Pydantic models bring their own schema and validation (``model_json_schema``,
``model_validate_json``); relaykit does not import pydantic. The other kinds
get a schema written here from their type hints and are built with a cattrs
converter that refuses keys the class does not have.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, Literal, is_typeddict

import attrs

from .errors import InvalidRequestError, OutputValidationError
from .json_schemas import normalized, safe_name, strict_ok

if typing.TYPE_CHECKING:
    from .response import ChatResponse

_SEQUENCES = (list, tuple, set, frozenset, typing.Sequence, typing.MutableSequence)


def is_output_type(value: object) -> bool:
    """Whether ``value`` is a class :func:`output_format` can describe."""
    return isinstance(value, type) and (
        _is_pydantic(value)
        or dataclasses.is_dataclass(value)
        or attrs.has(value)
        or is_typeddict(value)
    )


@lru_cache(maxsize=256)
def output_format(cls: type[Any]) -> tuple[str, dict[str, Any], bool]:
    """``cls``'s schema name, its JSON schema, and whether the schema is strict.

    Strict (OpenAI's structured outputs) when every object in it lists all its
    properties as required and no others; a ``dict[str, X]`` field cannot say
    that, and makes the schema non-strict. A class inside it described beside
    its ``$ref`` is inlined, as strict mode wants (:func:`relaykit.json_schemas.normalized`);
    the name is the class's with what a name may not hold as ``_`` (a pydantic
    generic's ``Page[Item]`` is ``Page_Item_``). Worked out once per class (pydantic
    takes milliseconds to write a schema): every call shares the same dict,
    which nothing may change.
    """
    if _is_pydantic(cls):
        schema = normalized(_strict_copy(cls.model_json_schema()))
    else:
        schema = normalized(_SchemaWriter(cls).root())
    return safe_name(cls.__name__), schema, strict_ok(schema)


def parse_output(cls: type[Any], response: ChatResponse) -> Any:
    """``response.text`` as an instance of ``cls``; :class:`OutputValidationError` if not."""
    text = response.text
    where: dict[str, Any] = {
        "provider": response.provider,
        "model": response.model,
        "response": response,
    }
    if response.finish_reason == "length":
        raise OutputValidationError(
            f"the answer was cut off at max_tokens before its {cls.__name__} was complete",
            hint="raise max_tokens",
            **where,
        )
    if not text.strip():
        reason = response.finish_reason
        raise OutputValidationError(
            f"the answer holds no {cls.__name__} (finish reason: {reason})",
            hint="a refusal or a tool call comes back as text or tool_calls; see response",
            **where,
        )
    try:
        return _parser(cls)(text)  # type: ignore[arg-type]  # classes are hashable
    except OutputValidationError:
        raise
    except Exception as e:
        raise OutputValidationError(
            f"the answer is not a valid {cls.__name__}: {_describe(e)}", **where
        ) from None


# -- parsing -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _parser(cls: type[Any]) -> Callable[[str], Any]:
    if _is_pydantic(cls):
        return cls.model_validate_json  # type: ignore[no-any-return]
    converter = _converter()

    def parse(text: str) -> Any:
        return converter.structure(json.loads(text), cls)

    return parse


@cache
def _converter() -> Any:
    import cattrs
    from cattrs.gen import make_dict_structure_fn

    converter = cattrs.Converter(forbid_extra_keys=True)
    # attrs classes by their init names (an alias, or a private field without
    # its underscore), which the schema lists: cattrs' own keyword for it is
    # newer than the oldest cattrs relaykit supports
    converter.register_structure_hook_factory(
        attrs.has,
        lambda cls: make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=True, _cattrs_use_alias=True
        ),
    )
    converter.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
    converter.register_structure_hook(dt.datetime, lambda v, _: dt.datetime.fromisoformat(v))
    converter.register_structure_hook(dt.date, lambda v, _: dt.date.fromisoformat(v))
    converter.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(v))
    for kind in (str, int, float, bool):
        # cattrs would turn 1 into "1" or "x" into an error deep inside int():
        # the schema says what each value is, so a value of another kind is wrong.
        converter.register_structure_hook(kind, _exactly(kind))
    # cattrs has no hook for `int | str` (only for Optional, and unions of attrs
    # classes it can tell apart): the schema's anyOf takes any member, so does this.
    converter.register_structure_hook_factory(
        _is_open_union, lambda tp: _first_fit(converter, typing.get_args(tp))
    )
    return converter


def _is_open_union(tp: Any) -> bool:
    """A union of two or more types besides None, not all of them attrs classes."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    return len(members) > 1 and not all(isinstance(a, type) and attrs.has(a) for a in members)


def _first_fit(converter: Any, members: tuple[Any, ...]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if value is None and type(None) in members:
            return None
        reasons = []
        for member in members:
            if member is type(None):
                continue
            try:
                return converter.structure(value, member)
            except Exception as e:  # the next member may fit
                reasons.append(f"not {getattr(member, '__name__', member)} ({_describe(e)})")
        raise ValueError(f"{value!r} fits none of the union's types: {'; '.join(reasons)}")

    return structure


def _exactly(kind: type[Any]) -> Callable[[Any, Any], Any]:
    def check(value: Any, _: Any) -> Any:
        if kind is float and type(value) is int:
            return float(value)  # JSON writes 2.0 as 2
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    return check


def _describe(error: Exception) -> str:
    """A short reason, naming the fields: cattrs' and pydantic's errors are long."""
    import cattrs

    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error)[:3])
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON ({error.msg} at character {error.pos})"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines[:4]) or type(error).__name__


# -- schemas -------------------------------------------------------------------------


def _is_pydantic(cls: Any) -> bool:
    return callable(getattr(cls, "model_json_schema", None)) and callable(
        getattr(cls, "model_validate_json", None)
    )


class _SchemaWriter:
    """The JSON schema of a dataclass, attrs class or TypedDict, from its type hints.

    Classes inside it go to ``$defs`` (so a class used twice, or recursively,
    is written once); the root class is the schema itself, as OpenAI requires.
    ``root`` is ``None`` when the writer describes a function's parameters
    (:mod:`relaykit.function_tools`), one :meth:`describe` at a time; ``where`` is
    what errors blame.
    """

    def __init__(self, root: type[Any] | None, where: str = "response_format") -> None:
        self._root = root
        self._where = where
        self._defs: dict[str, dict[str, Any]] = {}
        self._names: dict[type[Any], str] = {}

    @property
    def defs(self) -> dict[str, dict[str, Any]]:
        """The classes written so far, by the names their ``$ref`` use."""
        return self._defs

    def root(self) -> dict[str, Any]:
        assert self._root is not None
        schema = self._object(self._root)
        if self._defs:
            schema["$defs"] = self._defs
        return schema

    def describe(self, tp: Any) -> dict[str, Any]:
        """The schema of a value of type ``tp`` (its classes go to :attr:`defs`)."""
        return self._type(tp)

    def _type(self, tp: Any) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            # Annotated[int, "how many"]: a string among the extras describes the value
            schema = self._type(args[0])
            said = [extra for extra in tp.__metadata__ if isinstance(extra, str)]
            return {**schema, "description": " ".join(said)} if said else schema
        if tp is type(None) or tp is None:
            return {"type": "null"}
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self._type(a) for a in args]}
        if origin is Literal:
            return {"enum": list(args)}
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return dict(simple)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [member.value for member in tp]}
        if origin in _SEQUENCES or tp in _SEQUENCES:
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                raise self._unsupported(
                    tp, "a tuple of fixed length: use a class with named fields"
                )
            item = args[0] if args else Any
            return {"type": "array", "items": self._type(item)}
        if origin in (dict, typing.Mapping, Mapping) or tp is dict:
            if args and args[0] is not str:
                raise self._unsupported(tp, "a dict whose keys are not strings")
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self._type(value)}
        if tp is Any:
            return {}
        if isinstance(tp, type) and is_output_type(tp):
            if _is_pydantic(tp):
                raise self._unsupported(tp, "a pydantic model inside another kind of class")
            return {"$ref": self._ref(tp)}
        raise self._unsupported(tp, "a type JSON schema cannot describe")

    def _unsupported(self, tp: Any, what: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"{self._where} cannot describe {tp!r}: {what}",
            param=self._where,
            hint="use str, int, float, bool, lists, Literal, Enum, Optional and nested classes",
        )

    def _ref(self, cls: type[Any]) -> str:
        if cls is self._root:
            return "#"
        name = self._names.get(cls)
        if name is None:
            name = cls.__name__
            while name in self._defs:
                name += "_"
            self._names[cls] = name
            self._defs[name] = {}  # taken before its fields: a class may refer to itself
            self._defs[name] = self._object(cls)
        return f"#/$defs/{name}"

    def _object(self, cls: type[Any]) -> dict[str, Any]:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except NameError as e:
            # String annotations (from __future__ import annotations) are read
            # in the class's module: a class made inside a function cannot name
            # its neighbours there.
            raise InvalidRequestError(
                f"{self._where} cannot read {cls.__name__}'s fields: {e}",
                param=self._where,
                hint="define the class (and those its fields name) at module level",
            ) from None
        descriptions = _field_descriptions(cls)
        # (the name in JSON, the attribute's name) of each field the class is built from
        if attrs.has(cls):
            names = [(a.alias, a.name) for a in attrs.fields(cls) if a.init]
        elif dataclasses.is_dataclass(cls):
            names = [(f.name, f.name) for f in dataclasses.fields(cls) if f.init]
        else:  # a TypedDict
            names = [(name, name) for name in hints]
        properties: dict[str, Any] = {}
        for key, name in names:
            field = self._type(hints[name])
            if name in descriptions:
                field = {**field, "description": descriptions[name]}
            properties[key] = field
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }
        doc = _own_docstring(cls)
        if doc:
            schema["description"] = doc
        return schema


_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    Decimal: {"type": "string", "description": "a decimal number"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}


def _field_descriptions(cls: type[Any]) -> dict[str, str]:
    """``metadata={"description": ...}`` on dataclass or attrs fields."""
    if attrs.has(cls):
        fields: Any = attrs.fields(cls)
    elif dataclasses.is_dataclass(cls):
        fields = dataclasses.fields(cls)
    else:
        return {}
    return {f.name: str(f.metadata["description"]) for f in fields if "description" in f.metadata}


def _own_docstring(cls: type[Any]) -> str:
    doc = (cls.__doc__ or "").strip()
    # dataclasses write a signature as the docstring of a class without one
    if not doc or doc.startswith(f"{cls.__name__}("):
        return ""
    return " ".join(doc.split())


def _strict_copy(schema: Any) -> Any:
    """A pydantic schema as OpenAI's strict mode takes it: every object closed, with
    every property required (an optional one is nullable already), no null defaults."""
    if isinstance(schema, list):
        return [_strict_copy(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict_copy(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
        out["required"] = list(out["properties"])
    return out
