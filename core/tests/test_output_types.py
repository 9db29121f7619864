"""response_format=SomeClass: the class's JSON schema goes out, an instance comes back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any, Literal, TypedDict

import attrs
import pydantic
import pytest

import relaykit
from relaykit import InvalidRequestError, OutputValidationError, ResponseFormat
from relaykit.output_types import output_format
from relaykit.serialization import from_json, to_json
from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter, Reply


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"


@dataclasses.dataclass
class Line:
    description: str
    amount: Decimal


@dataclasses.dataclass
class Invoice:
    """An invoice read from a document."""

    number: str = dataclasses.field(metadata={"description": "as printed, with its prefix"})
    issued: dt.date
    currency: Currency
    lines: list[Line]
    status: Literal["paid", "open"]
    note: str | None = None


INVOICE_JSON = {
    "number": "INV-7",
    "issued": "2026-11-30",
    "currency": "EUR",
    "lines": [{"description": "pipes", "amount": "12.50"}],
    "status": "open",
    "note": None,
}
INVOICE = Invoice(
    "INV-7", dt.date(2026, 11, 30), Currency.EUR, [Line("pipes", Decimal("12.50"))], "open"
)


def client(*plugins: object, **sections: Any) -> relaykit.Client:
    return relaykit.Client({"storage": {"backend": "none"}, **sections}, plugins=plugins)


# -- schemas ------------------------------------------------------------------------------


def test_a_dataclass_becomes_a_strict_schema_with_its_classes_in_defs() -> None:
    name, schema, strict = output_format(Invoice)
    assert (name, strict) == ("Invoice", True)
    assert schema == {
        "type": "object",
        "description": "An invoice read from a document.",
        "properties": {
            "number": {"type": "string", "description": "as printed, with its prefix"},
            "issued": {"type": "string", "format": "date"},
            "currency": {"enum": ["EUR", "USD"]},
            "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
            "status": {"enum": ["paid", "open"]},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["number", "issued", "currency", "lines", "status", "note"],
        "additionalProperties": False,
        "$defs": {
            "Line": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "amount": {"type": "string", "description": "a decimal number"},
                },
                "required": ["description", "amount"],
                "additionalProperties": False,
            }
        },
    }


@attrs.frozen
class Node:
    label: str
    children: tuple[Node, ...] = ()
    _private: int = attrs.field(default=0, alias="weight")


class Point(TypedDict):
    x: float
    y: float


@dataclasses.dataclass
class Tagged:
    counts: dict[str, int]


def test_attrs_typeddict_recursion_and_dicts() -> None:
    _, node, strict = output_format(Node)
    assert strict and node["properties"]["children"] == {"type": "array", "items": {"$ref": "#"}}
    assert list(node["properties"]) == ["label", "children", "weight"]  # init names
    _, point, _ = output_format(Point)
    assert point["properties"] == {"x": {"type": "number"}, "y": {"type": "number"}}
    from relaykit.output_types import parse_output

    leaf = {"label": "leaf", "children": [], "weight": 2}
    text = json.dumps({"label": "root", "children": [leaf], "weight": 1})
    assert parse_output(Node, relaykit.ChatResponse(text=text)) == Node(
        "root", (Node("leaf", (), weight=2),), weight=1
    )
    _, tagged, strict = output_format(Tagged)
    assert tagged["properties"]["counts"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    assert strict is False  # a dict's keys cannot all be listed as required


@dataclasses.dataclass
class Pair:
    both: tuple[int, str]


class Plain:
    x: int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Pair, "a tuple of fixed length"),
        (Plain, "Plain is not a class relaykit can describe"),
    ],
)
def test_what_cannot_be_described_is_a_typed_error(value: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        ResponseFormat.coerce(value)


class Review(pydantic.BaseModel):
    stars: int = pydantic.Field(ge=1, le=5)
    summary: str
    tags: list[str] | None = None


def test_a_pydantic_model_brings_its_schema_made_strict() -> None:
    name, schema, strict = output_format(Review)
    assert (name, strict) == ("Review", True)
    assert schema["required"] == ["stars", "summary", "tags"]
    assert schema["additionalProperties"] is False
    assert "default" not in schema["properties"]["tags"]
    assert schema["properties"]["stars"]["maximum"] == 5


def test_a_class_whose_annotations_cannot_be_read_is_a_typed_error() -> None:
    @dataclasses.dataclass
    class Outer:
        inner: Inner  # a local class: not in the module's namespace

    @dataclasses.dataclass
    class Inner:
        x: int

    with pytest.raises(InvalidRequestError, match=r"cannot read Outer's fields.*'Inner'"):
        ResponseFormat.coerce(Outer)


def test_the_format_equals_one_built_from_the_same_schema() -> None:
    from_class = ResponseFormat.coerce(Invoice)
    assert from_class.output_type is Invoice
    _, schema, _ = output_format(Invoice)
    assert from_class == ResponseFormat("json_schema", schema, "Invoice", True)


# -- answers ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_answer_is_parsed_into_the_class() -> None:
    fake = FakePlugin()
    fake.script.reply(json.dumps(INVOICE_JSON))
    async with client(fake) as c:
        r = await c.chat("fake/m", "Read this invoice", response_format=Invoice)
    assert r.parsed == INVOICE
    (request,) = fake.calls
    assert request.response_format is not None
    assert request.response_format.name == "Invoice"


@pytest.mark.anyio
async def test_pydantic_validation_applies() -> None:
    fake = FakePlugin()
    fake.script.reply(json.dumps({"stars": 4, "summary": "good", "tags": ["x"]}))
    fake.script.reply(json.dumps({"stars": 9, "summary": "too good", "tags": None}))
    async with client(fake) as c:
        r = await c.chat("fake/m", "Review it", response_format=Review)
        assert r.parsed == Review(stars=4, summary="good", tags=["x"])
        with pytest.raises(
            OutputValidationError, match=r"not a valid Review:.*less than or equal to 5"
        ):
            await c.chat("fake/m", "Review it", response_format=Review)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(text='{"number": "INV-7", '), r"not JSON \(Expecting"),
        (
            Reply(text=json.dumps({**INVOICE_JSON, "status": "lost"})),
            r"not a valid Invoice: .*\$\.status",
        ),
        (Reply(text=json.dumps({**INVOICE_JSON, "number": 7})), r"expected str.*\$\.number"),
        (Reply(text=json.dumps({**INVOICE_JSON, "extra": 1})), "extra"),
        (Reply(text='{"number": "INV', finish="length"), "cut off at max_tokens"),
        (Reply(text=""), "holds no Invoice"),
    ],
)
async def test_an_answer_that_is_not_the_class_is_a_typed_error_and_still_a_logged_call(
    reply: Reply, message: str
) -> None:
    fake = FakePlugin()
    fake.script.push(reply)
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        with pytest.raises(OutputValidationError, match=message) as info:
            await c.chat("fake/m", "Read this invoice", response_format=Invoice)
    assert info.value.response.text == reply.text
    assert info.value.response.usage.output_tokens == len(reply.text.split())
    (record,) = exporter.records
    assert record.ok  # the provider answered, and billed for it


@pytest.mark.anyio
async def test_a_stream_parses_its_whole_answer() -> None:
    fake = FakePlugin()
    fake.script.reply(json.dumps(INVOICE_JSON))
    fake.script.reply('{"number": ')
    async with client(fake) as c:
        async with c.stream("fake/m", "Read it", response_format=Invoice) as s:
            async for _ in s:
                pass
        assert s.response.parsed == INVOICE
        with pytest.raises(OutputValidationError, match="not JSON"):
            async with c.stream("fake/m", "Read it", response_format=Invoice) as s:
                async for _ in s:
                    pass


@pytest.mark.anyio
async def test_a_cached_answer_is_parsed_again() -> None:
    fake = FakePlugin()
    fake.script.reply(json.dumps(INVOICE_JSON))
    async with client(fake, cache={"enabled": True}) as c:
        first = await c.chat("fake/m", "Read it", response_format=Invoice, temperature=0)
        again = await c.chat("fake/m", "Read it", response_format=Invoice, temperature=0)
    assert again.cache_hit and again.parsed == first.parsed == INVOICE
    assert again.parsed is not first.parsed


def test_parsed_is_never_serialised() -> None:
    response = relaykit.ChatResponse(text=json.dumps(INVOICE_JSON), parsed=INVOICE)
    data = to_json(response)
    assert "parsed" not in json.loads(data)
    assert from_json(data, relaykit.ChatResponse) == response


def test_the_openai_wire_sends_the_schema_strict() -> None:
    with OpenAIMock(api_key="sk-test-0123456789abcdef") as mock:
        mock.script.reply(json.dumps({"stars": 5, "summary": "fine", "tags": None}))
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": mock.api_key}},
        }
        with relaykit.SyncClient(config) as c:
            r = c.chat("openai/gpt-4o-mini", "Review it", response_format=Review)
        body = mock.last_request.json()
    assert r.parsed == Review(stars=5, summary="fine")
    sent = body["response_format"]
    assert sent["type"] == "json_schema"
    assert (sent["json_schema"]["name"], sent["json_schema"]["strict"]) == ("Review", True)
    assert sent["json_schema"]["schema"]["required"] == ["stars", "summary", "tags"]


# -- asking again -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_output_retries_ask_again_saying_what_was_wrong() -> None:
    fake = FakePlugin()
    fake.script.reply(json.dumps({**INVOICE_JSON, "status": "lost"}))
    fake.script.reply(json.dumps(INVOICE_JSON))
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        r = await c.chat("fake/m", "Read this invoice", response_format=Invoice, output_retries=2)
    assert r.parsed == INVOICE
    first, second = fake.calls
    assert len(first.messages) == 1
    question, answer, feedback = second.messages
    assert question == first.messages[0]
    assert answer.role == "assistant" and '"lost"' in answer.text
    assert feedback.role == "user" and "$.status" in feedback.text
    assert [record.ok for record in exporter.records] == [True, True]  # two calls, both billed


@pytest.mark.anyio
async def test_output_retries_give_up_and_skip_cut_off_answers() -> None:
    fake = FakePlugin()
    for _ in range(2):
        fake.script.reply('{"number": ')
    fake.script.push(Reply(text='{"number": "INV', finish="length"))
    async with client(fake) as c:
        with pytest.raises(OutputValidationError, match="not JSON"):
            await c.chat("fake/m", "Read it", response_format=Invoice, output_retries=1)
        assert len(fake.calls) == 2
        with pytest.raises(OutputValidationError, match="cut off"):
            await c.chat("fake/m", "Read it", response_format=Invoice, output_retries=3)
        assert len(fake.calls) == 3  # asking again would be cut off again


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"output_retries": 2}, "needs response_format=SomeClass"),
        (
            {"output_retries": 2, "response_format": {"type": "json_object"}},
            "needs response_format",
        ),
        ({"output_retries": -1, "response_format": Invoice}, "must be a whole number"),
    ],
)
async def test_output_retries_without_a_class_is_a_typed_error(
    params: dict[str, Any], message: str
) -> None:
    async with client(FakePlugin()) as c:
        with pytest.raises(InvalidRequestError, match=message):
            await c.chat("fake/m", "hi", **params)
        with pytest.raises(InvalidRequestError, match="works with chat, not stream"):
            c.stream("fake/m", "hi", response_format=Invoice, output_retries=1)
