"""FunctionTool.from_schema: a JSON schema written elsewhere (an MCP server's tool) and a
callable taking the arguments as one dict, checked at the schema's top level."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import relaykit
from relaykit import FunctionTool, InvalidRequestError, Message, Tool
from relaykit.testing import FakePlugin, Reply

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "units": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city"],
    "additionalProperties": False,
}
FORECAST = Tool("forecast", "The weather to come.", SCHEMA)


@pytest.mark.anyio
async def test_the_call_gets_the_arguments_as_one_dict() -> None:
    seen: list[dict[str, Any]] = []

    async def call(arguments: dict[str, Any]) -> str:
        seen.append(arguments)
        return "rain"

    tool = FunctionTool.from_schema(FORECAST, call)
    assert tool.tool is FORECAST and tool.name == "forecast" and tool.takes_arguments_dict
    # 3.0 is an integer to JSON schema; None fits ["string", "null"]
    assert await tool.call({"city": "Oslo", "days": 3.0, "units": None}) == "rain"
    assert seen == [{"city": "Oslo", "days": 3.0, "units": None}]


@pytest.mark.anyio
async def test_a_sync_call_runs_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()

    def call(arguments: dict[str, Any]) -> str:
        return "worker" if threading.get_ident() != loop_thread else "loop"

    assert await FunctionTool.from_schema(FORECAST, call).call({"city": "Oslo"}) == "worker"


@pytest.mark.anyio
async def test_arguments_that_break_the_top_level_are_refused_before_the_call() -> None:
    async def call(arguments: dict[str, Any]) -> str:
        raise AssertionError("not called")

    tool = FunctionTool.from_schema(FORECAST, call)
    with pytest.raises(InvalidRequestError) as caught:
        await tool.call({"days": True, "tags": "x", "wind": 3})
    message = str(caught.value)
    assert "argument 'city' is missing" in message
    assert "argument 'days' must be of JSON type integer" in message  # a bool is no number
    assert "argument 'tags' must be of JSON type array" in message
    assert "there is no argument 'wind'" in message
    assert "its arguments are: city, days, units, tags" in message


@pytest.mark.anyio
async def test_an_open_schema_passes_unknown_arguments_and_unknown_types_through() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "vector"}, "n": {}}}

    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        return arguments

    tool = FunctionTool.from_schema(Tool("search", "", schema), call)
    assert await tool.call({"q": [1], "n": "x", "extra": 1}) == {"q": [1], "n": "x", "extra": 1}


@pytest.mark.parametrize(
    ("tool", "call", "expected"),
    [
        (Tool("fs.read", "", SCHEMA), print, "'fs.read' cannot be a tool's name"),
        (Tool("read", "", {"type": "array"}), print, "must be a JSON schema of type 'object'"),
        ({"name": "read"}, print, "needs a relaykit.Tool, not dict"),
        (FORECAST, "not callable", "is not a function"),
    ],
)
def test_what_cannot_be_a_schema_tool_is_refused(tool: Any, call: Any, expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=expected):
        FunctionTool.from_schema(tool, call)


@pytest.mark.anyio
async def test_run_tools_sends_the_schema_and_checks_the_models_arguments() -> None:
    async def call(arguments: dict[str, Any]) -> str:
        return f"rain in {arguments['city']}"

    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("forecast", {"town": "Oslo"}),)),
        Reply(tool_calls=(("forecast", {"city": "Oslo"}),)),
        Reply(text="Rain."),
    )
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        run = await client.run_tools(
            "fake/m", "Weather?", [FunctionTool.from_schema(FORECAST, call)]
        )
    assert fake.calls[0].tools == (FORECAST,)
    first, second = (m for m in run.messages if m.role == "tool")
    assert first.content[0].is_error  # type: ignore[union-attr]
    assert "argument 'city' is missing" in first.content[0].content  # type: ignore[union-attr]
    assert second == Message.tool("call_0", "rain in Oslo")  # ids count per step
    assert run.text == "Rain."


def test_a_tool_of_another_type_is_refused_naming_its_type_not_a_missing_name() -> None:
    # OpenAI's custom (free-form) tools keep their name under "custom": "needs a
    # `name`" sent the caller looking for a name that was there.
    custom = {"type": "custom", "custom": {"name": "run_sql", "description": "SQL"}}
    with pytest.raises(InvalidRequestError) as raised:
        Tool.coerce(custom, "tools[0]")
    assert "tools[0] is a 'custom' tool" in raised.value.message
    assert raised.value.param == "tools[0].type" and raised.value.hint
    with pytest.raises(InvalidRequestError, match="needs a `name`"):
        Tool.coerce({"description": "nameless"}, "tools[0]")
    # Anthropic's client tools may say type "custom" with their name beside it
    anthropic = {"type": "custom", "name": "f", "input_schema": {"type": "object"}}
    assert Tool.coerce(anthropic).name == "f"
