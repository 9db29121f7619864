"""record_builder: a positional builder makes the same value as the class's __init__."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from relaykit.messages import Message
from relaykit.protocols import CallRecord
from relaykit.record_builder import positional_builder
from relaykit.response import Usage


def test_the_builder_makes_what_init_makes() -> None:
    names = [field.name for field in attrs.fields(CallRecord)]
    order = list(reversed(names))
    build = positional_builder(CallRecord, order)
    values = {
        name: getattr(
            CallRecord(
                id="i",
                started_at=1.5,
                operation="chat",
                provider="p",
                model_requested="p/m",
                model="m",
                streamed=True,
            ),
            name,
        )
        for name in names
    }
    values.update(
        messages=(Message.user("hi"),),
        usage=Usage(3, 4),
        cost=Decimal("0.5"),
        error_type="E",
        status=500,
        finished_at=2.5,
        route=("p/m",),
    )
    built = build(*(values[name] for name in order))
    assert type(built) is CallRecord
    assert built == CallRecord(**values)
    assert hash(built.route) == hash(("p/m",))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.id = "x"  # type: ignore[misc]


def test_the_builder_must_name_each_field_once() -> None:
    names = [field.name for field in attrs.fields(CallRecord)]
    with pytest.raises(TypeError, match=r"missing \['status'\]"):
        positional_builder(CallRecord, [n for n in names if n != "status"])
    with pytest.raises(TypeError, match="unknown or repeated"):
        positional_builder(CallRecord, [*names, "id"])


def test_a_class_the_builder_would_get_wrong_is_refused() -> None:
    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Converted:
        n: int = attrs.field(converter=int)

    @attrs.frozen(slots=False)
    class Unslotted:
        n: int

    for cls in (Checked, Converted):
        with pytest.raises(TypeError, match="validator or converter"):
            positional_builder(cls, ["n"])
    with pytest.raises(TypeError, match="slotted"):
        positional_builder(Unslotted, ["n"])
