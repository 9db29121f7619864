"""The schemas relaykit writes keep OpenAI's strict rules, Claude's subset is converted,
and every check and conversion is worked out once per schema."""

from __future__ import annotations

import dataclasses
import enum
import keyword
from typing import Annotated, Any, Generic, Literal, TypeVar

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import FunctionTool, InvalidRequestError, ResponseFormat, json_schemas
from relaykit.json_schemas import (
    anthropic_problem,
    anthropic_schema,
    describe_problem,
    name_problem,
    normalized,
    safe_name,
    strict_problems,
)
from relaykit.output_types import output_format
from relaykit.testing import OpenAIMock


@dataclasses.dataclass
class Address:
    street: str


@dataclasses.dataclass
class Person:
    """Someone."""

    name: str
    home: Address = dataclasses.field(metadata={"description": "where they live"})
    work: Annotated[Address, "the office"]
    friends: list[Person]


@dataclasses.dataclass
class Node:
    value: int
    children: list[Node] = dataclasses.field(metadata={"description": "the subtrees"})
    parent: Annotated[Node | None, "up"] = None


@dataclasses.dataclass
class Bag:
    counts: dict[str, int]


T = TypeVar("T")


class Item(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, description="its name")
    price: float = pydantic.Field(ge=0)
    maker: Maker = pydantic.Field(description="who made it")


class Maker(pydantic.BaseModel):
    name: str


class Page(pydantic.BaseModel, Generic[T]):
    items: list[T]


Item.model_rebuild()


def refs_with_siblings(node: Any) -> list[Any]:
    if isinstance(node, list):
        return [x for n in node for x in refs_with_siblings(n)]
    if not isinstance(node, dict):
        return []
    here = [node] if "$ref" in node and len(node) > 1 else []
    return here + [x for v in node.values() for x in refs_with_siblings(v)]


# -- what relaykit writes -------------------------------------------------------------


@pytest.mark.parametrize("cls", [Person, Node, Item, Page[Item]])
def test_a_described_class_field_is_inlined_not_a_ref_with_a_description(cls: type) -> None:
    """OpenAI refuses "$ref cannot have keywords {'description'}": a field whose class
    is described goes inlined (a class inside itself keeps its bare $ref)."""
    _, schema, strict = output_format(cls)
    assert refs_with_siblings(schema) == []
    problems = [what for _, what in strict_problems(schema)]
    if cls in (Item, Page[Item]):  # Item.name's min_length: strict mode takes no minLength
        assert not strict and problems == ["'minLength' is not permitted."]
    else:
        assert strict and problems == []


def test_the_descriptions_stay_and_recursion_still_refers() -> None:
    _, schema, _ = output_format(Person)
    home = schema["properties"]["home"]
    assert home["description"] == "where they live"
    assert home["properties"] == {"street": {"type": "string"}}
    assert schema["properties"]["work"]["description"] == "the office"
    assert schema["properties"]["friends"] == {"type": "array", "items": {"$ref": "#"}}
    _, node, _ = output_format(Node)
    assert node["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": "#"},
        "description": "the subtrees",
    }


def test_a_tool_parameter_described_by_the_docstring_is_inlined() -> None:
    def visit(where: Address, who: Person | None = None) -> str:
        """Visit.

        :param where: the address to go to
        """
        return ""

    params = FunctionTool.from_function(visit).tool.parameters
    assert refs_with_siblings(params) == []
    assert params["properties"]["where"]["description"] == "the address to go to"
    assert "default" not in params["properties"]["who"]  # null defaults say nothing


def test_a_generic_pydantic_model_gets_a_name_openai_takes() -> None:
    name, _, _ = output_format(Page[Item])
    assert name == "Page_Item_" and name_problem(name) is None
    assert safe_name("Ünïcode Name") == "_n_code_Name"
    assert len(safe_name("x" * 100)) == 64


def test_a_dict_field_makes_the_schema_non_strict() -> None:
    _, schema, strict = output_format(Bag)
    assert not strict
    ((path, what),) = strict_problems(schema)
    assert path == ("properties", "counts")
    assert what == "'additionalProperties' is required to be supplied and to be false."


def test_strict_tools_with_a_dict_are_refused_when_built() -> None:
    def count(counts: dict[str, int]) -> int:
        return 0

    with pytest.raises(
        InvalidRequestError,
        match=r"tool count cannot be strict: In context=\('properties', 'counts'\)",
    ):
        FunctionTool.from_function(count, strict=True)
    assert FunctionTool.from_function(count).tool.strict is None


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (
            {"type": "array", "items": {}},
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": False,
            },
            "In context=(), 'required' is required to be supplied and to be an array including"
            " every key in properties. Missing 'a'.",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/A", "description": "x"}},
                "required": ["a"],
                "additionalProperties": False,
                "$defs": {"A": {"type": "string"}},
            },
            "In context=('properties', 'a'), $ref cannot have keywords {'description'}.",
        ),
    ],
)
def test_strict_problems_in_openais_words(schema: dict[str, Any], problem: str) -> None:
    assert describe_problem(strict_problems(schema)[0]) == problem


def test_a_dict_response_format_is_strict_only_when_it_can_be() -> None:
    closed = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert ResponseFormat.coerce(closed).strict
    assert not ResponseFormat.coerce({"type": "object", "properties": {"a": {}}}).strict
    said = {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
    }
    assert ResponseFormat.coerce(said).strict  # said: kept, and the provider refuses it


def test_normalized_unwraps_a_lone_allof_and_leaves_its_input_alone() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"allOf": [{"$ref": "#/$defs/A"}], "description": "d"}},
        "$defs": {"A": {"type": "object", "properties": {}}},
    }
    out = normalized(schema)
    assert out["properties"]["a"] == {"type": "object", "properties": {}, "description": "d"}
    assert schema["properties"]["a"]["allOf"] == [{"$ref": "#/$defs/A"}]


# -- Claude's subset --------------------------------------------------------------------


def test_claude_gets_constraints_in_the_description_as_the_sdk_does() -> None:
    _, schema, _ = output_format(Item)
    converted = anthropic_schema(schema)
    name = converted["properties"]["name"]
    assert "minLength" not in name and name["description"] == "its name\n\n{minLength: 2}"
    assert converted["properties"]["price"]["description"] == "{minimum: 0}"
    assert "minimum" not in converted["properties"]["price"]
    assert anthropic_problem(schema) is None


def test_claude_cannot_take_recursion_or_dicts() -> None:
    assert "recursive" in (anthropic_problem(output_format(Node)[1]) or "")
    assert "counts" in (anthropic_problem(output_format(Bag)[1]) or "")
    assert anthropic_problem(output_format(Person)[1]) is not None  # friends: list[Person]


def test_each_check_is_worked_out_once_per_schema() -> None:
    _, schema, _ = output_format(Item)
    assert strict_problems(schema) is strict_problems(schema)
    assert anthropic_schema(schema) is anthropic_schema(schema)
    assert anthropic_problem(schema) is anthropic_problem(schema)


# -- a property: whatever classes a caller writes, a strict schema keeps the rules --------

_leaf = st.sampled_from([str, int, float, bool, Literal["a", "b"], enum.Enum("Colour", "RED BLUE")])
_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n)
)
_count = iter(range(1_000_000))


def _wrap(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: t | None),
        inner.map(lambda t: Annotated[t, "described"]),
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        st.lists(_names, min_size=1, max_size=3, unique=True).flatmap(
            lambda names: st.lists(inner, min_size=len(names), max_size=len(names)).map(
                lambda types: _class(names, types)
            )
        ),
    )


def _class(names: list[str], types: list[Any]) -> type:
    fields = [
        (n, t, dataclasses.field(metadata={"description": "d"}))
        for n, t in zip(names, types, strict=True)
    ]
    return dataclasses.make_dataclass(f"C{next(_count)}", fields)


_types = st.recursive(_leaf, _wrap, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_names, min_size=1, max_size=4, unique=True).flatmap(
        lambda names: st.lists(_types, min_size=len(names), max_size=len(names)).map(
            lambda types: _class(names, types)
        )
    )
)
def test_every_schema_sent_strict_keeps_openais_strict_rules(cls: type) -> None:
    _, schema, strict = output_format(cls)
    assert refs_with_siblings(schema) == []
    assert strict == (strict_problems(schema) == ())
    if not strict:  # only a dict makes it so
        assert any("additionalProperties" in what for _, what in strict_problems(schema))


# -- over the wire ------------------------------------------------------------------------

KEY = "sk-test-0123456789abcdef0123"


def _client(mock: OpenAIMock, api: str) -> relaykit.Client:
    settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
    return relaykit.Client({"storage": {"backend": "none"}, "providers": {"openai": settings}})


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_openai_takes_what_relaykit_writes(api: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.reply('{"items": [{"name": "ab", "price": 1, "maker": {"name": "m"}}]}')
        mock.script.reply(tool_calls=[("visit", {"where": {"street": "s"}})])

        def visit(where: Address) -> str:
            """Visit.

            :param where: the address to go to
            """
            return "ok"

        async with _client(mock, api) as c:
            r = await c.chat("openai/gpt-4o-mini", "list", response_format=Page[Item])
            assert r.parsed.items[0].maker.name == "m"
            tool = FunctionTool.from_function(visit, strict=True)
            r = await c.chat("openai/gpt-4o-mini", "go", tools=[tool])
            assert r.tool_calls[0].name == "visit"


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_strict_schema_openai_refuses_is_refused_before_sending(api: str) -> None:
    bad = {
        "type": "json_schema",
        "json_schema": {
            "name": "r",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
            "strict": True,
        },
    }
    with OpenAIMock(api_key=KEY) as mock:
        async with _client(mock, api) as c:
            with pytest.raises(
                InvalidRequestError, match=r"additionalProperties' is required"
            ) as e:
                await c.chat("openai/gpt-4o-mini", "x", response_format=bad)
            assert e.value.param == "response_format"
            with pytest.raises(InvalidRequestError, match="not 1 to 64 letters") as e:
                await c.chat("openai/gpt-4o-mini", "x", tools=[{"name": "a.b"}])
            assert mock.requests == []


@pytest.mark.parametrize("name", ["lookup\n", "a" * 65, "", "two words"])
def test_a_name_with_a_final_newline_or_out_of_shape_is_refused(name: str) -> None:
    assert name_problem(name) is not None
    tool = relaykit.Tool(name, "d", {"type": "object", "properties": {}})
    with pytest.raises(InvalidRequestError, match="cannot be a tool's name"):
        FunctionTool.from_schema(tool, lambda arguments: None)


# -- OpenAI strict mode, keyword by keyword ("Supported schemas") ----------------------------

_STRING = {"type": "string"}


def _closed(prop: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"x": prop},
        "required": ["x"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "string", "pattern": "^[a-z]+$"},
        *({"type": "string", "format": f} for f in sorted(json_schemas.OPENAI_FORMATS)),
        {"type": "number", "minimum": 0},
        {"type": "number", "maximum": 9},
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "number", "exclusiveMaximum": 9},
        {"type": "integer", "multipleOf": 5},
        {"type": "array", "items": _STRING, "minItems": 2},
        {"type": "array", "items": _STRING, "maxItems": 4},
        {"anyOf": [_STRING, {"type": "null"}]},
    ],
    ids=lambda p: next(k for k in p if k not in ("type", "items")) + f"={next(iter(p.values()))}",
)
def test_strict_mode_takes_these_keywords(prop: dict[str, Any]) -> None:
    assert strict_problems(_closed(prop)) == ()


@pytest.mark.parametrize(
    ("prop", "what"),
    [
        ({"allOf": [_STRING, {"maxLength": 3}]}, "'allOf' is not permitted."),
        ({"oneOf": [_STRING, {"type": "null"}]}, "'oneOf' is not permitted."),
        ({"type": "string", "not": {"const": "x"}}, "'not' is not permitted."),
        ({"type": "string", "if": _STRING, "then": _STRING}, "'if' is not permitted."),
        ({"type": "string", "minLength": 1}, "'minLength' is not permitted."),
        ({"type": "string", "maxLength": 9}, "'maxLength' is not permitted."),
        ({"type": "string", "format": "uri"}, "format 'uri' is not supported."),
        (
            {"type": "array", "items": _STRING, "uniqueItems": True},
            "'uniqueItems' is not permitted.",
        ),
        ({"type": "array", "items": _STRING, "contains": _STRING}, "'contains' is not permitted."),
        (
            {**_closed(_STRING), "minProperties": 1},
            "'minProperties' is not permitted.",
        ),
        (
            {**_closed(_STRING), "patternProperties": {"^a": _STRING}},
            "'patternProperties' is not permitted.",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_strict_mode_refuses_these_keywords_naming_the_place(
    prop: dict[str, Any], what: str
) -> None:
    problems = strict_problems(_closed(prop))
    assert ((("properties", "x"), what)) in problems
    assert (
        describe_problem((("properties", "x"), what)) == f"In context=('properties', 'x'), {what}"
    )


@pytest.mark.anyio
async def test_the_openai_wire_refuses_a_strict_keyword_before_sending() -> None:
    rf = {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": _closed({"oneOf": [_STRING]}), "strict": True},
    }
    with OpenAIMock(api_key=KEY) as mock:
        async with _client(mock, "chat") as c:
            with pytest.raises(InvalidRequestError, match="'oneOf' is not permitted"):
                await c.chat("openai/gpt-4o-mini", "x", response_format=rf)
        assert mock.requests == []


# -- OpenAI strict mode's size limits ("Objects have limitations on nesting depth and size",
# "Limitations on enum size"): 10 levels, 5,000 properties, 1,000 enum values, 120,000
# characters of names and values, 15,000 for the values of a string enum over 250 -------


def _nested(levels: int) -> dict[str, Any]:
    node = _closed(_STRING)
    for _ in range(levels - 1):
        node = _closed(node)
    return node


def _wide(properties: int) -> dict[str, Any]:
    return _named([f"p{i}" for i in range(properties)])


def _named(names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: _STRING for n in names},
        "required": names,
        "additionalProperties": False,
    }


def test_strict_mode_takes_schemas_at_its_size_limits() -> None:
    assert strict_problems(_nested(10)) == ()
    assert strict_problems(_wide(5000)) == ()
    assert (
        strict_problems(_closed({"type": "string", "enum": [f"v{i}" for i in range(1000)]})) == ()
    )
    # 260 values of 57 characters: 14,820, under 15,000
    assert (
        strict_problems(
            _closed({"type": "string", "enum": ["x" * 54 + f"{i:03}" for i in range(260)]})
        )
        == ()
    )


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (_nested(11), "11 levels of nesting exceeds limit of 10."),
        (_wide(5001), "5001 object properties exceed the limit of 5000."),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "enum": [f"a{i}" for i in range(600)]},
                    "b": {"type": "string", "enum": [f"b{i}" for i in range(401)]},
                },
                "required": ["a", "b"],
                "additionalProperties": False,
            },
            "1001 enum values exceed the limit of 1000.",
        ),
        (
            _closed({"type": "string", "enum": ["x" * 57 + f"{i:03}" for i in range(260)]}),
            "The enum at ('properties', 'x') has 260 values of 15600 characters in all, over"
            " the limit of 15000 for an enum of over 250 values.",
        ),
        (
            _named(["n" * 61 + f"{i:04}" for i in range(1900)]),
            "The property names, definition names, enum and const values are 123500"
            " characters, over the limit of 120000.",
        ),
    ],
    ids=["depth", "properties", "enum values", "big enum", "characters"],
)
def test_strict_mode_refuses_a_schema_over_a_size_limit(
    schema: dict[str, Any], problem: str
) -> None:
    problems = strict_problems(schema)
    assert [describe_problem(p) for p in problems] == [problem]


@pytest.mark.anyio
async def test_the_openai_wire_refuses_a_schema_too_deep_before_sending() -> None:
    rf = {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": _nested(11), "strict": True},
    }
    with OpenAIMock(api_key=KEY) as mock:
        async with _client(mock, "chat") as c:
            with pytest.raises(
                InvalidRequestError, match="11 levels of nesting exceeds limit of 10"
            ):
                await c.chat("openai/gpt-4o-mini", "x", response_format=rf)
        assert mock.requests == []
