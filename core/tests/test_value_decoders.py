"""The decoders compiled from attrs fields (relaykit.value_decoders): what from_json reads a
cached answer with, exact for every field, old entries included."""

from __future__ import annotations

import enum
import json
from decimal import Decimal
from typing import Any, Literal

import attrs
import pytest
from cattrs.errors import ClassValidationError

from relaykit import ChatResponse, Citation, ReasoningPart, TokenLogprob, ToolCall, Usage
from relaykit.serialization import _decoders, converter, from_json, to_json
from relaykit.value_decoders import InexactNumber, make_decoders

# Every field set to a value other than its default: a field added to a class
# fails test_each_sample_sets_every_field until it is given one here.
USAGE = Usage(
    input_tokens=1200,
    output_tokens=300,
    cached_input_tokens=1000,
    reasoning_tokens=120,
    cache_write_input_tokens=150,
    cache_write_1h_input_tokens=50,
    web_searches=2,
)
TOOL_CALL = ToolCall(
    id="call_1",
    name="weather",
    arguments={"city": "Paris", "days": [1, 2], "detail": {"hourly": True, "unit": None}},
    raw_arguments='{"city": "Paris"}',
    type="tool_call",  # its only value, the default: see NO_OTHER_VALUE
)
REASONING = ReasoningPart(
    "Paris is the capital.", "sig-1", redacted="ZW5jcnlwdGVk", origin="anthropic"
)
CITATION = Citation(
    url="https://example.com/paris", title="Paris", cited_text="Paris is", start=0, end=8
)
LOGPROB = TokenLogprob(
    " Par",
    -0.25,
    bytes=b" Par",
    top_logprobs=(TokenLogprob(" Par", -0.25), TokenLogprob(" Lyon", -2.5, bytes=b" Lyon")),
)
RESPONSE = ChatResponse(
    text="Paris. ✓",
    reasoning="Paris is the capital.",
    tool_calls=(TOOL_CALL, ToolCall("call_2", "time", {})),
    finish_reason="tool_calls",
    usage=USAGE,
    model="claude-haiku-4-5",
    provider="anthropic",
    id="msg_1",
    cost=Decimal("0.00123"),
    latency=0.25,
    time_to_first_token=0.125,
    attempts=2,
    cache_hit=True,
    reasoning_signature="sig-1",
    reasoning_parts=(REASONING,),
    citations=(CITATION,),
    search_queries=("capital of France", "Paris landmarks"),
    search_suggestions='<div class="chip">capital of France</div>',
    stop_sequence="\n\nHuman:",
    usage_estimated=True,
    logprobs=(LOGPROB,),
)
SAMPLES: list[Any] = [RESPONSE, USAGE, TOOL_CALL, REASONING, CITATION, LOGPROB]

#: fields a sample may leave at their default: never written (``parsed``), or a
#: Literal whose one value is the default (a part's ``type`` tag)
NO_OTHER_VALUE = {(ChatResponse, "parsed"), (ToolCall, "type"), (ReasoningPart, "type")}


def default_of(field: attrs.Attribute) -> Any:  # type: ignore[type-arg]
    default: Any = field.default  # a Factory or the value (attrs types it a value)
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_each_sample_sets_every_field(sample: Any) -> None:
    at_default = [
        f.name
        for f in attrs.fields(type(sample))
        if (type(sample), f.name) not in NO_OTHER_VALUE and getattr(sample, f.name) == default_of(f)
    ]
    assert not at_default, (
        f"give these fields of the sample a value other than the default: {at_default}"
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_every_field_comes_back_from_json(sample: Any) -> None:
    cls = type(sample)
    assert from_json(to_json(sample), cls) == sample
    # through the compiled decoder, not cattrs (from_json's fallback)
    assert cls in _decoders()
    assert _decoders()[cls](json.loads(to_json(sample))) == sample


def test_values_keep_their_types() -> None:
    back = from_json(to_json(RESPONSE), ChatResponse)
    assert type(back.tool_calls) is tuple and type(back.tool_calls[0]) is ToolCall
    assert type(back.cost) is Decimal and type(back.reasoning_parts) is tuple
    assert type(back.citations[0]) is Citation and type(back.usage) is Usage


def test_an_entry_of_the_previous_version_is_read() -> None:
    # What to_json wrote before this decoder (and before citations, web_searches and
    # the one-hour cache writes existed): missing keys take their defaults.
    older = (
        '{"text":"Paris.","reasoning":"","tool_calls":[{"id":"c1","name":"f","arguments":'
        '{"a":1},"raw_arguments":null,"type":"tool_call"}],"finish_reason":"tool_calls",'
        '"usage":{"input_tokens":10,"output_tokens":2,"cached_input_tokens":0,'
        '"reasoning_tokens":0,"cache_write_input_tokens":4},"model":"m","provider":"p",'
        '"id":"x","cost":"0.001","latency":0.5,"time_to_first_token":null,"attempts":1,'
        '"cache_hit":false,"reasoning_signature":null,"reasoning_parts":[]}'
    )
    expected = ChatResponse(
        text="Paris.",
        tool_calls=(ToolCall("c1", "f", {"a": 1}),),
        finish_reason="tool_calls",
        usage=Usage(10, 2, cache_write_input_tokens=4),
        model="m",
        provider="p",
        id="x",
        cost=Decimal("0.001"),
        latency=0.5,
    )
    assert _decoders()[ChatResponse](json.loads(older)) == expected
    assert from_json(older, ChatResponse) == expected


def test_keys_it_does_not_know_are_ignored() -> None:
    # an entry a newer version wrote, with a field this one lacks
    data = {**json.loads(to_json(RESPONSE)), "sentiment": "positive"}
    data["usage"]["audio_tokens"] = 3
    assert _decoders()[ChatResponse](data) == RESPONSE


def test_integers_beyond_64_bits_in_tool_arguments_come_back_exact() -> None:
    # orjson reads them as floats: the decoder notices, the standard library decodes
    big = ToolCall("c", "f", {"id": 2**70, "n": [-(2**64), {"m": 3**50}], "ok": 1.5})
    response = ChatResponse(tool_calls=(big,))
    back = from_json(to_json(response), ChatResponse)
    assert back == response
    assert type(back.tool_calls[0].arguments["id"]) is int
    with pytest.raises(InexactNumber):
        _decoders()[ToolCall]({"id": "c", "name": "f", "arguments": {"x": [float(2**70)]}})


def test_what_the_decoder_cannot_take_goes_to_cattrs() -> None:
    # Infinity is JSON only to the standard library (orjson refuses it)
    response = ChatResponse(text="x", latency=float("inf"))
    assert from_json(to_json(response), ChatResponse) == response
    # not a response at all: cattrs says what is wrong, as before
    with pytest.raises(ClassValidationError, match="While structuring ChatResponse") as info:
        from_json('{"usage": 5}', ChatResponse)
    assert [type(e) for e in info.value.exceptions] == [TypeError]
    with pytest.raises(json.JSONDecodeError):
        from_json("{not json", ChatResponse)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Leaf:
    name: str
    weight: Decimal | None = None


@attrs.frozen
class Twig:
    length: int


@attrs.frozen(kw_only=True)
class Tree:
    """A class with a field of every kind the decoder plans for."""

    label: str  # required
    size: float | None = None
    kind: Literal["oak", "elm"] = "oak"
    price: Decimal = Decimal(0)
    leaves: tuple[Leaf, ...] = ()
    tags: tuple[str, ...] = ()
    rings: list[int] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)
    first: Leaf | None = None
    blob: bytes = b""  # by the converter's own hook (base64)
    colour: Colour = Colour.RED  # likewise
    either: Leaf | Twig | None = None  # likewise: a union cattrs tells apart by field
    _private: str = "p"  # its alias, "private", is what __init__ takes
    anything: Any = None


def test_a_class_with_fields_of_every_kind_decodes_as_cattrs_does() -> None:
    tree = Tree(
        label="t",
        size=2.5,
        kind="elm",
        price=Decimal("1.10"),
        leaves=(Leaf("a", Decimal("0.5")), Leaf("b")),
        tags=("x", "y"),
        rings=[1, 2],
        extra={"k": [1, {"z": None}]},
        first=Leaf("f"),
        blob=b"\x00\xff",
        colour=Colour.BLUE,
        either=Twig(3),
        private="q",
        anything={"free": [True]},
    )
    data = converter.unstructure(tree)
    decoders = make_decoders(Tree, converter)
    assert set(decoders) == {Tree, Leaf}  # Twig only in a union: cattrs decodes it
    assert decoders[Tree](json.loads(json.dumps(data))) == tree == converter.structure(data, Tree)
    # every default, but the one required field
    assert decoders[Tree]({"label": "t"}) == Tree(label="t")
    with pytest.raises(KeyError):
        decoders[Tree]({})


def test_a_field_added_to_a_class_is_decoded_without_a_change() -> None:
    grown = attrs.make_class(
        "Grown", {"a": attrs.field(type=str), "b": attrs.field(type=tuple[Leaf, ...], default=())}
    )
    decode = make_decoders(grown, converter)[grown]
    assert decode({"a": "x", "b": [{"name": "n"}]}) == grown("x", (Leaf("n"),))


def test_a_class_holding_itself_decodes() -> None:
    decode = make_decoders(Node, converter)[Node]
    assert decode({"value": 1, "children": [{"value": 2, "children": []}]}) == Node(1, (Node(2),))


@attrs.frozen
class Node:
    value: int
    children: tuple[Node, ...] = ()
