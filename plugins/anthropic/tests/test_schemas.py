"""Structured output and strict tools as Claude takes them, over loopback HTTP: constraints
moved into descriptions as the SDK does, what cannot be converted refused before sending,
and the mock refusing what the API refuses."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pydantic
import pytest

import relaykit
from relaykit import FunctionTool, InvalidRequestError
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-haiku-4-5"


class Maker(pydantic.BaseModel):
    name: str


class Item(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, description="its name")
    price: float = pydantic.Field(ge=0)
    tags: list[str] = pydantic.Field(min_length=2)
    maker: Maker = pydantic.Field(description="who made it")


@dataclasses.dataclass
class Node:
    value: int
    children: list[Node]


@dataclasses.dataclass
class Bag:
    counts: dict[str, int]


def client(mock: AnthropicMock, **options: Any) -> relaykit.Client:
    settings = {"base_url": mock.base_url, "api_key": KEY, **options}
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"anthropic": settings},
        }
    )


@pytest.mark.anyio
async def test_a_class_with_constraints_goes_converted_and_comes_back(mock: AnthropicMock) -> None:
    answer = {"name": "ab", "price": 2.5, "tags": ["x", "y"], "maker": {"name": "m"}}
    mock.script.reply(json.dumps(answer))
    async with client(mock) as c:
        r = await c.chat(MODEL, "one item", response_format=Item)
    assert r.parsed == Item.model_validate(answer)
    schema = mock.last_request.json()["output_config"]["format"]["schema"]
    assert schema["properties"]["name"]["description"] == "its name\n\n{minLength: 2}"
    assert schema["properties"]["price"] == {
        "type": "number",
        "title": "Price",
        "description": "{minimum: 0}",
    }
    assert "minItems" not in schema["properties"]["tags"]
    assert schema["properties"]["maker"]["additionalProperties"] is False


@pytest.mark.anyio
@pytest.mark.parametrize(("cls", "what"), [(Node, "recursive"), (Bag, "counts")])
async def test_what_claude_cannot_take_is_refused_before_sending(
    mock: AnthropicMock, cls: type, what: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=what) as e:
            await c.chat(MODEL, "x", response_format=cls)
    assert "structured_output = 'tool'" in (e.value.hint or "")
    assert mock.requests == []


@pytest.mark.anyio
async def test_emulated_with_a_tool_it_goes_as_it_is(mock: AnthropicMock) -> None:
    mock.script.reply(tool_calls=[("Bag", {"counts": {"a": 1}})])
    async with client(mock, structured_output="tool") as c:
        r = await c.chat(MODEL, "x", response_format=Bag)
    assert r.parsed == Bag({"a": 1})


@pytest.mark.anyio
async def test_strict_tools_are_converted_or_refused(mock: AnthropicMock) -> None:
    def count(counts: dict[str, int]) -> int:
        return 0

    async with client(mock) as c:
        params = Item.model_json_schema()
        await c.chat(MODEL, "x", tools=[relaykit.Tool("price", "", params)])
        sent = mock.last_request.json()["tools"][0]["input_schema"]
        assert "minLength" in json.dumps(sent)  # not strict: as written
        strict = relaykit.Tool("price", "", params, True)
        await c.chat(MODEL, "x", tools=[strict])
        sent = mock.last_request.json()["tools"][0]["input_schema"]
        assert "minLength" not in sent["properties"]["name"]
        assert sent["properties"]["name"]["description"] == "its name\n\n{minLength: 2}"
        loose = relaykit.Tool("count", "", FunctionTool.from_function(count).tool.parameters, True)
        with pytest.raises(
            InvalidRequestError, match="strict tool 'count' holds an object with any keys"
        ):
            await c.chat(MODEL, "x", tools=[loose])
        with pytest.raises(InvalidRequestError, match="not 1 to 64 letters"):
            await c.chat(MODEL, "x", tools=[{"name": "a.b"}])


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "object", "properties": {}},
            "output_config.format.schema: For 'object' type, 'additionalProperties' must be"
            " explicitly set to false",
        ),
        (
            {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
            "output_config.format.schema: For 'integer' type, property 'minimum' is not supported",
        ),
        (
            {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
                "additionalProperties": False,
            },
            "output_config.format.schema: Too many recursive definitions in schema",
        ),
    ],
)
def test_the_mock_refuses_what_claude_refuses(
    mock: AnthropicMock, schema: dict[str, Any], message: str
) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    r = httpx.post(
        f"{mock.base_url}/v1/messages",
        json=body,
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert (r.status_code, r.json()["error"]["message"]) == (400, message)
