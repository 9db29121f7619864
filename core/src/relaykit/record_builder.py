"""Build a frozen attrs value from positional values, for the few built on every call.

A :class:`~relaykit.protocols.CallRecord` has 30 fields and is keyword-only:
matching 30 keyword arguments to their parameters cost as much as setting
them (about half of what building a record took). The client builds one
per recorded call, so it builds them through a function taking the values
in an order it names, generated once (as attrs generates ``__init__``),
setting each slot directly: the same value, at half the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

T = TypeVar("T")


def positional_builder(cls: type[T], order: Sequence[str]) -> Callable[..., T]:
    """A function ``build(v1, v2, ...)`` returning ``cls(**dict(zip(order, values)))``.

    ``order`` must name every field of ``cls`` once. ``cls`` must be a slotted
    attrs class whose fields have no validator, converter or ``on_setattr``
    (the builder would skip them): a :class:`TypeError` says so when the
    builder is made, at import, so neither can go unnoticed.
    """
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    names = [field.name for field in fields]
    if sorted(order) != sorted(names):
        missing, extra = set(names) - set(order), set(order) - set(names)
        raise TypeError(
            f"a builder of {cls.__name__} must name each field once:"
            f" missing {sorted(missing)}, unknown or repeated {sorted(extra) or 'none'}"
        )
    for field in fields:
        if field.validator is not None or field.converter is not None:
            raise TypeError(
                f"{cls.__name__}.{field.name} has a validator or converter, which a"
                " positional builder would skip: build it with its __init__"
            )
    if "__slots__" not in cls.__dict__ or getattr(cls, "__attrs_post_init__", None) is not None:
        raise TypeError(f"{cls.__name__} must be slotted, without __attrs_post_init__")
    # Each slot's descriptor sets its value, as the generated __init__ does
    # through object.__setattr__, without looking the name up on the class.
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({', '.join(order)}):", "    self = _new(_cls)"]
    for name in order:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
        lines.append(f"    _set_{name}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # the source: the field names above, nothing else
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build
