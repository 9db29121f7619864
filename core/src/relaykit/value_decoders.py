"""Decoders compiled once per attrs class from its fields: a JSON object to the value, fast.

Reading a cached answer back is structuring a dict that
:func:`relaykit.serialization.to_json` wrote. cattrs calls a hook per field,
each converting what it is given (``str(v)``, ``int(v)``, a Literal checked,
an Optional dispatched), about three quarters of a store hit's decoding. Most
fields need none of it: JSON holds strings, numbers, booleans, null and lists
of them as they are. :func:`make_decoders` compiles, from a class's fields,
one function that passes those through and converts only the rest: nested
attrs classes by decoders of their own, tuples element by element, Decimals
from their strings, and anything else by the converter's own hook. A key
missing from the dict (an entry written before its field existed) takes the
field's default, and keys it does not know are ignored, as cattrs does.

The fields are read when the decoder is made, so a field added to a class
later is decoded without a change here. What the decoder does not check,
cattrs would have (a string where a number belongs passes through): it is
for JSON that ``to_json`` wrote, and :func:`relaykit.serialization.from_json`
asks cattrs again whenever it raises. Integers are taken as the JSON decoder
gives them: the fields typed ``int`` hold counts and offsets, far below 2**63,
where orjson and the standard library agree (see :func:`_exact` for the
fields that hold anything).
"""

from __future__ import annotations

import collections.abc
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

T = TypeVar("T")

#: a decoder: the dict ``to_json`` made of a value, to the value
Decoder = Callable[[Mapping[str, Any]], Any]

#: types JSON holds as they are
_PLAIN = frozenset({str, int, float, bool, type(None), Any, object})
_UNIONS = (Union, types.UnionType)
_MAPPINGS = (dict, Mapping, collections.abc.Mapping)

#: a float at least this large may be an integer beyond 64 bits that orjson read
#: inexactly (see :func:`_exact`); JSON numbers below it come back exact
_INEXACT = float(2**63)


class InexactNumber(ValueError):
    """A decoded number may not be the one written: decode again with the standard library."""


def make_decoders(
    cls: type, converter: cattrs.Converter, omit: Mapping[type, tuple[str, ...]] = {}
) -> dict[type, Decoder]:
    """The decoders of ``cls`` and of every attrs class its fields hold, by class."""
    builder = _Builder(converter, omit)
    builder.decoder(cls)
    return builder.made


class _Builder:
    def __init__(self, converter: cattrs.Converter, omit: Mapping[type, tuple[str, ...]]) -> None:
        self.converter = converter
        self.omit = omit
        self.made: dict[type, Decoder] = {}

    def decoder(self, cls: type) -> Decoder:
        found = self.made.get(cls)
        if found is not None:
            return found
        fields = [f for f in attrs.fields(cls) if f.init and f.name not in self.omit.get(cls, ())]
        try:
            hints = typing.get_type_hints(cls)
        except NameError:  # an annotation only a type checker can resolve
            hints = None
        if hints is None or any(
            isinstance(f.default, attrs.Factory) and f.default.takes_self  # type: ignore[arg-type]
            for f in fields
        ):
            # nothing to compile from (or no default without the instance): cattrs decides
            return self._hook(cls)[1]  # type: ignore[no-any-return]
        # A class holding itself needs its decoder before it is made: this one
        # looks the finished one up when called.
        self.made[cls] = lambda data: self.made[cls](data)
        namespace: dict[str, Any] = {"_cls": cls, "_MISSING": _MISSING}
        lines = ["def decode(data):", "    get = data.get"]
        arguments = []
        for i, field in enumerate(fields):
            template, helper = self._plan(hints.get(field.name, Any))
            namespace[f"_c{i}"] = helper
            value = template.format(v="v", c=f"_c{i}")
            key, default = repr(field.name), field.default
            if default is attrs.NOTHING:
                lines += [f"    v = data[{key}]", f"    f{i} = {value}"]
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                namespace[f"_d{i}"] = default.factory
                lines += [
                    f"    v = get({key}, _MISSING)",
                    f"    f{i} = _d{i}() if v is _MISSING else {value}",
                ]
            elif template == "{v}":
                namespace[f"_d{i}"] = default
                lines.append(f"    f{i} = get({key}, _d{i})")
            else:
                namespace[f"_d{i}"] = default
                lines += [
                    f"    v = get({key}, _MISSING)",
                    f"    f{i} = _d{i} if v is _MISSING else {value}",
                ]
            arguments.append(f"{field.alias}=f{i}")
        lines.append(f"    return _cls({', '.join(arguments)})")
        # The source is made above from the class's own field names and aliases.
        exec(compile("\n".join(lines), f"<decoder of {cls.__qualname__}>", "exec"), namespace)
        decode: Decoder = namespace["decode"]
        self.made[cls] = decode
        return decode

    def _plan(self, kind: Any) -> tuple[str, Any]:
        """How a field of type ``kind`` is decoded: a template of ``{v}`` (the JSON
        value) and ``{c}`` (the helper), and the helper (``None`` if unused)."""
        if _plain(kind):
            if _arbitrary(kind):
                return "{c}({v})", _exact  # JSON of any shape: see _exact
            return "{v}", None
        origin, args = get_origin(kind), get_args(kind)
        if origin in _UNIONS:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1 and len(rest) < len(args):  # X | None
                template, helper = self._plan(rest[0])
                return "None if {v} is None else " + template, helper
            return self._hook(kind)
        if (origin is list and len(args) == 1) or (
            origin is tuple and len(args) == 2 and args[1] is Ellipsis
        ):
            template, helper = self._plan(args[0])
            if template == "{v}":
                return f"{origin.__name__}({{v}})", None
            return f"{origin.__name__}(map({{c}}, {{v}}))", _function(template, helper)
        if kind is Decimal:
            return "{c}({v})", Decimal
        if isinstance(kind, type) and attrs.has(kind):
            return "{c}({v})", self.decoder(kind)
        return self._hook(kind)

    def _hook(self, kind: Any) -> tuple[str, Any]:
        hook = self.converter.get_structure_hook(kind)
        return "{c}({v})", lambda value: hook(value, kind)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()


def _plain(kind: Any) -> bool:
    """Whether JSON holds a value of ``kind`` as it is (as a list, for a list)."""
    if kind in _PLAIN:
        return True
    origin, args = get_origin(kind), get_args(kind)
    if origin is Literal:
        return all(type(a) in _PLAIN for a in args)
    if origin in _UNIONS:
        return all(_plain(a) for a in args)
    if origin is list:
        return not args or _plain(args[0])
    if origin in _MAPPINGS:
        return not args or (args[0] is str and _plain(args[1]))
    return False


def _arbitrary(kind: Any) -> bool:
    """Whether a plain ``kind`` may hold JSON of any shape (``Any``, ``dict[str, Any]``)."""
    if kind is Any or kind is object:
        return True
    return any(_arbitrary(a) for a in get_args(kind))


def _exact(value: T) -> T:
    """``value``, unless it holds a float an integer beyond 64 bits may have become.

    orjson reads such an integer as a float; the standard library reads it
    exactly. Where a field may hold anything (a tool call's arguments, which
    come from a model), :class:`InexactNumber` asks for the standard library.
    """
    if not value:
        return value
    kind = type(value)
    if kind is dict or kind is list:
        pending: list[Any] = [value]
        while pending:  # a loop, not recursion: arguments are small, calls are not
            items = pending.pop()
            for item in items.values() if type(items) is dict else items:
                kind = type(item)
                if kind is float:
                    if not -_INEXACT < item < _INEXACT:
                        raise InexactNumber(item)
                elif kind is dict or kind is list:
                    pending.append(item)
    elif kind is float and not -_INEXACT < value < _INEXACT:  # type: ignore[operator]
        raise InexactNumber(value)
    return value


def _function(template: str, helper: Any) -> Callable[[Any], Any]:
    """``template`` as a function of ``v``."""
    if template == "{c}({v})":
        return helper  # type: ignore[no-any-return]
    namespace: dict[str, Any] = {"_c": helper}
    exec(f"def convert(v):\n    return {template.format(v='v', c='_c')}", namespace)
    return namespace["convert"]  # type: ignore[no-any-return]
