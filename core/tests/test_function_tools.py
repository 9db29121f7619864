"""Python functions as tools: the schema from type hints and docstrings, the arguments
checked and converted, the result as a tool result's text."""

from __future__ import annotations

import dataclasses
import enum
import json
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional, TypedDict

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import relaykit
from relaykit import FunctionTool, ImagePart, InvalidRequestError, Tool
from relaykit.docstrings import parse_docstring
from relaykit.function_tools import result_content
from relaykit.request import build_request
from relaykit.testing import PNG


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Place(TypedDict):
    """Where."""

    city: str
    country: str


@dataclasses.dataclass
class Window:
    start: int
    end: int


@attrs.frozen
class Box:
    side: float


def _taking(annotation: Any) -> Any:
    def f(x):  # type: ignore[no-untyped-def]  # annotated below, per case
        return x

    f.__annotations__ = {"x": annotation}
    return f


def param_schema(annotation: Any) -> dict[str, Any]:
    parameters = FunctionTool.from_function(_taking(annotation), name="f").tool.parameters
    return dict(parameters["properties"]["x"])


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (Any, {}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Optional[str], {"anyOf": [{"type": "string"}, {"type": "null"}]}),  # noqa: UP045
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Literal["a", "b"], {"enum": ["a", "b"]}),
        (Unit, {"enum": ["celsius", "fahrenheit"]}),
        (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
        (
            list[Annotated[str, "a tag"]],
            {"type": "array", "items": {"type": "string", "description": "a tag"}},
        ),
        (Place, {"$ref": "#/$defs/Place"}),
        (Window, {"$ref": "#/$defs/Window"}),
        (Box, {"$ref": "#/$defs/Box"}),
    ],
    ids=repr,
)
def test_annotations_become_json_schema(annotation: Any, schema: dict[str, Any]) -> None:
    assert param_schema(annotation) == schema


def test_classes_go_to_defs_closed_and_described() -> None:
    def book(place: Place, window: Window) -> str:
        return ""

    parameters = FunctionTool.from_function(book).tool.parameters
    assert parameters["$defs"] == {
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
            "additionalProperties": False,
            "description": "Where.",
        },
        "Window": {
            "type": "object",
            "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
            "required": ["start", "end"],
            "additionalProperties": False,
        },
    }


def get_weather(
    city: str, unit: Unit = Unit.C, days: Annotated[int, "how many days ahead"] = 1
) -> str:
    """Current weather in a city.

    Temperatures come in the unit asked for.

    Args:
        city: The city's name,
            in English.
        unit (Unit): Celsius or Fahrenheit.
        days: ignored: Annotated says it first.

    Returns:
        The weather, as text.
    """
    return f"{city}: sunny, 20 degrees {unit.value}, {days} day(s)"


def test_a_function_becomes_a_tool() -> None:
    tool = FunctionTool.from_function(get_weather)
    assert tool.function is get_weather
    assert tool.tool == Tool(
        "get_weather",
        "Current weather in a city.\n\nTemperatures come in the unit asked for.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city's name, in English."},
                "unit": {
                    "enum": ["celsius", "fahrenheit"],
                    "description": "Celsius or Fahrenheit.",
                    "default": "celsius",
                },
                "days": {"type": "integer", "description": "how many days ahead", "default": 1},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    )


def test_name_description_and_strict_can_be_given() -> None:
    def find(query: str, limit: int | None) -> list[str]:
        return []

    tool = FunctionTool.from_function(find, name="search", description="Search.", strict=True)
    assert (tool.name, tool.tool.description, tool.tool.strict) == ("search", "Search.", True)


@pytest.mark.parametrize(
    ("doc", "description", "params"),
    [
        (
            """Add two numbers.

            :param a: the first,
                a whole number
            :param int b: the second
            :returns: their sum
            """,
            "Add two numbers.",
            {"a": "the first, a whole number", "b": "the second"},
        ),
        (
            """Add two numbers.

            Parameters
            ----------
            a : int
                The first.
            b : int
                The second,
                a whole number.

            Returns
            -------
            int
            """,
            "Add two numbers.",
            {"a": "The first.", "b": "The second, a whole number."},
        ),
        (
            """Add
            two numbers.

            Exact for any size.

            Arguments:
                a (int): The first.
                *b: The rest.
            Raises:
                ValueError: never.
            """,
            "Add two numbers.\n\nExact for any size.",
            {"a": "The first.", "b": "The rest."},
        ),
        (None, "", {}),
    ],
    ids=["rest", "numpy", "google", "none"],
)
def test_docstrings_in_three_styles(
    doc: str | None, description: str, params: dict[str, str]
) -> None:
    parsed = parse_docstring(doc)
    assert (parsed.description, parsed.params) == (description, params)


def _untyped(city, days: int):  # type: ignore[no-untyped-def]
    return city


def _starred(*cities: str) -> str:
    return ""


def _timed(delay: complex) -> None:
    pass


def _fixed(pair: tuple[int, str]) -> None:
    pass


def _optional(city: str, days: int = 1) -> None:
    pass


@pytest.mark.parametrize(
    ("function", "kwargs", "message", "hint"),
    [
        (_untyped, {}, "tool _untyped: parameter 'city' has no type annotation", "annotate it"),
        (_starred, {}, "tool _starred: parameter 'cities' is \\*args or \\*\\*kwargs", "named"),
        (_timed, {}, "tool _timed: JSON schema cannot describe parameter 'delay'", "str, int"),
        (_fixed, {}, "parameter 'pair'.*a tuple of fixed length", "annotate it with"),
        (lambda x: x, {}, "'<lambda>' cannot be a tool's name", "pass name="),
        (_optional, {"strict": True}, "_optional cannot be strict.*days has a default", "drop"),
        (_optional, {"name": "has.dot"}, "'has.dot' cannot be a tool's name", "name="),
        # a class whose signature inspect cannot read: ValueError "no signature found"
        (dict, {}, "tool dict: its signature cannot be read", "wrap it in a function"),
    ],
    ids=["untyped", "starred", "complex", "fixed-tuple", "lambda", "strict", "bad-name", "dict"],
)
def test_what_cannot_be_a_tool_is_refused_naming_the_fix(
    function: Any, kwargs: dict[str, Any], message: str, hint: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        FunctionTool.from_function(function, **kwargs)
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.param == "tools"


def test_what_is_not_a_function_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="42 is not a function"):
        FunctionTool.from_function(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="42 is not a callable"):
        FunctionTool(Tool("t"), 42)  # type: ignore[arg-type]


def book(
    place: Place,
    window: Window,
    unit: Unit,
    sizes: tuple[int, ...],
    note: str = None,  # type: ignore[assignment]  # noqa: RUF013  # an old-style optional
) -> str:
    return ""


def test_arguments_are_converted_to_the_annotated_types() -> None:
    tool = FunctionTool.from_function(book)
    args, kwargs = tool.arguments(
        {
            "place": {"city": "Paris", "country": "FR"},
            "window": {"start": 1, "end": 2},
            "unit": "fahrenheit",
            "sizes": [1, 2],
            "note": None,  # the default, whatever the annotation says
        }
    )
    assert args == []
    assert kwargs == {
        "place": {"city": "Paris", "country": "FR"},
        "window": Window(1, 2),
        "unit": Unit.F,
        "sizes": (1, 2),
        "note": None,
    }


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"days": 2}, "argument 'city' is missing"),
        ({"city": "Paris", "town": "Lyon"}, "there is no argument 'town'"),
        ({"city": 7}, "argument 'city': expected str, got int 7"),
        ({"city": "Paris", "unit": "kelvin"}, "argument 'unit': 'kelvin' is not a valid Unit"),
        ({"city": "Paris", "days": True}, "argument 'days': expected int, got bool True"),
    ],
)
def test_wrong_arguments_are_refused_naming_each(arguments: dict[str, Any], problem: str) -> None:
    tool = FunctionTool.from_function(get_weather)
    with pytest.raises(InvalidRequestError) as caught:
        tool.arguments(arguments)
    assert str(caught.value) == (
        f"the arguments for get_weather are not valid: {problem}"
        " (its arguments are: city, unit, days)"
    )


@pytest.mark.anyio
async def test_call_takes_positional_only_parameters_and_awaits_async_functions() -> None:
    def scale(value: float, /, factor: float = 2.0) -> float:
        return value * factor

    async def shout(text: str) -> str:
        return text.upper()

    assert await FunctionTool.from_function(scale).call({"value": 3}) == 6.0
    assert await FunctionTool.from_function(shout).call({"text": "hi"}) == "HI"


@pytest.mark.anyio
async def test_a_hand_written_tool_calls_its_function_with_the_arguments_as_given() -> None:
    def lookup(**query: Any) -> dict[str, Any]:
        return query

    tool = FunctionTool(Tool("lookup", "Look up.", {"type": "object"}), lookup)
    assert await tool.call({"id": 3, "deep": [1]}) == {"id": 3, "deep": [1]}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (None, "null"),
        ({"unit": Unit.C, "price": Decimal("1.50")}, '{"unit": "celsius", "price": "1.50"}'),
        (Window(1, 2), '{"start": 1, "end": 2}'),
        (Box(1.5), '{"side": 1.5}'),
        ([1, "é"], '[1, "é"]'),
    ],
)
def test_results_are_text_or_json(value: Any, text: str) -> None:
    assert result_content(value, "t") == (text, ())


def test_images_a_tool_returns_go_as_attachments() -> None:
    image = ImagePart(data=PNG, media_type="image/png")
    assert result_content(image, "t") == ("", (image,))
    assert result_content(["the radar", image], "t") == ("the radar", (image,))


def test_a_result_json_cannot_hold_is_refused_naming_the_tool() -> None:
    with pytest.raises(InvalidRequestError, match="tool radar returned bytes") as caught:
        result_content(b"\x89PNG", "radar")
    assert caught.value.hint is not None and "return a str" in caught.value.hint


def test_chat_takes_functions_as_tools() -> None:
    request = build_request(
        "m",
        (relaykit.Message.user("hi"),),
        {"tools": [get_weather, FunctionTool.from_function(book)]},
    )
    assert request.tools == (
        FunctionTool.from_function(get_weather).tool,
        FunctionTool.from_function(book).tool,
    )


def test_unions_of_plain_types_parse_in_structured_output_too() -> None:
    from relaykit.output_types import parse_output
    from relaykit.response import ChatResponse

    @dataclasses.dataclass
    class Reading:
        value: int | str

    assert parse_output(Reading, ChatResponse(text='{"value": "n/a"}')) == Reading("n/a")
    assert parse_output(Reading, ChatResponse(text='{"value": 3}')) == Reading(3)


def measure(
    count: int,
    ratio: float,
    name: str,
    flags: list[bool],
    scores: dict[str, float],
    unit: Unit,
    window: Window,
    maybe: int | None,
) -> None:
    pass


MEASURE = FunctionTool.from_function(measure)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@given(
    count=st.integers(),
    ratio=_FINITE,
    name=st.text(),
    flags=st.lists(st.booleans()),
    scores=st.dictionaries(st.text(), _FINITE),
    unit=st.sampled_from(Unit),
    window=st.builds(Window, st.integers(), st.integers()),
    maybe=st.none() | st.integers(),
)
def test_arguments_sent_as_json_come_back_as_they_were(**values: Any) -> None:
    # What a model sends is JSON: any value of the annotated types, written as
    # the schema describes it, converts back to the same value.
    text, _ = result_content(values, "measure")
    _, kwargs = MEASURE.arguments(json.loads(text))
    assert kwargs == values
