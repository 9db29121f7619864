"""Tool names and structured-output schemas: Converse's name rule for every model, Claude's
schema subset (converted or refused before sending) for Claude on Converse and on the
Messages API, other models' schemas as given; the mock refuses what Bedrock refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relaykit import InvalidRequestError, Tool
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

CLAUDE = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"  # the Messages API
NOVA = "bedrock/us.amazon.nova-lite-v1:0"

#: a schema Claude's structured outputs take only once converted: open, with constraints
CONSTRAINED = {
    "type": "object",
    "properties": {
        "age": {"type": "integer", "minimum": 0, "description": "years"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "minItems": 2},
    },
    "required": ["age", "tags"],
}
CONVERTED = {
    "type": "object",
    "properties": {
        "age": {"type": "integer", "description": "years\n\n{minimum: 0}"},
        "tags": {
            "type": "array",
            "items": {"type": "string", "description": "{maxLength: 5}"},
            "description": "{minItems: 2}",
        },
    },
    "required": ["age", "tags"],
    "additionalProperties": False,
}
RECURSIVE = {
    "type": "object",
    "properties": {"root": {"$ref": "#/$defs/Node"}},
    "required": ["root"],
    "additionalProperties": False,
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            "required": ["children"],
            "additionalProperties": False,
        }
    },
}
DICT_FIELD = {
    "type": "object",
    "properties": {"scores": {"type": "object", "additionalProperties": {"type": "number"}}},
    "required": ["scores"],
}


def sent(mock: BedrockMock) -> Any:
    return mock.requests[-1].json()


def fmt(schema: dict[str, Any], name: str = "person") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def converse_schema(body: dict[str, Any]) -> Any:
    return json.loads(body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"])


# -- the mock refuses what Bedrock refuses ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("model", [CLAUDE, NOVA])
async def test_mock_refuses_a_tool_name_outside_the_api_pattern(
    make_client: MakeClient, model: str
) -> None:
    spec = {"name": "get.weather", "inputSchema": {"json": {"type": "object"}}}
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(model, "hi", extra={"toolConfig": {"tools": [{"toolSpec": spec}]}})
    assert info.value.status == 400
    assert (
        "Value 'get.weather' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
    ) in str(info.value)


@pytest.mark.anyio
async def test_mock_refuses_for_claude_a_schema_its_structured_outputs_refuse(
    make_client: MakeClient,
) -> None:
    text_format = {
        "type": "json_schema",
        "structure": {"jsonSchema": {"schema": json.dumps(CONSTRAINED), "name": "p"}},
    }
    spec = {"name": "f", "strict": True, "inputSchema": {"json": RECURSIVE}}
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="'additionalProperties' must be explicitly"):
            await client.chat(CLAUDE, "hi", extra={"outputConfig": {"textFormat": text_format}})
        with pytest.raises(InvalidRequestError, match="Too many recursive definitions"):
            await client.chat(CLAUDE, "hi", extra={"toolConfig": {"tools": [{"toolSpec": spec}]}})
        # Other models' schemas are theirs to judge: the mock takes them.
        await client.chat(NOVA, "hi", extra={"outputConfig": {"textFormat": text_format}})


@pytest.mark.anyio
async def test_mock_refuses_on_the_messages_api_what_claude_refuses(
    make_client: MakeClient,
) -> None:
    output_config = {"format": {"type": "json_schema", "schema": CONSTRAINED}}
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(OPUS_4_7, "hi", extra={"output_config": output_config})
    assert (
        "output_config.format.schema: For 'object' type, 'additionalProperties' must be "
        "explicitly set to false"
    ) in str(info.value)


# -- names are checked before sending, for every model -------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("model", [CLAUDE, NOVA, OPUS_4_7])
@pytest.mark.parametrize("name", ["get.weather", "x" * 65, "lookup\n"])
async def test_a_bad_tool_name_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str, name: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="1 to 64 letters") as info:
            await client.chat(model, "hi", tools=[Tool(name, "", {"type": "object"})])
    # at the path of the route the call goes to (Opus 4.7: the Messages API's tools)
    path = "tools[0].name" if model == OPUS_4_7 else "toolConfig.tools[0].toolSpec.name"
    assert info.value.param == path
    assert info.value.hint and "rename" in info.value.hint
    assert mock.requests == []


# -- Claude: converted as relaykit-anthropic converts, or refused --------------------------


@pytest.mark.anyio
async def test_a_claude_response_format_is_converted_on_converse(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.reply('{"age": 3, "tags": ["a", "b"]}')
    async with make_client() as client:
        r = await client.chat(CLAUDE, "who?", response_format=fmt(CONSTRAINED))
    assert converse_schema(sent(mock)) == CONVERTED  # and the mock took it
    assert r.text == '{"age": 3, "tags": ["a", "b"]}'


@pytest.mark.anyio
async def test_a_claude_response_format_is_converted_on_the_messages_api(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.chat(OPUS_4_7, "who?", response_format=fmt(CONSTRAINED))
    assert sent(mock)["output_config"]["format"] == {"type": "json_schema", "schema": CONVERTED}


@pytest.mark.anyio
async def test_a_strict_claude_tool_is_converted_and_a_loose_one_sent_as_given(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    tools = [Tool("strict_one", "", CONSTRAINED, strict=True), Tool("loose", "", CONSTRAINED)]
    async with make_client() as client:
        await client.chat(CLAUDE, "hi", tools=tools)
    specs = [t["toolSpec"] for t in sent(mock)["toolConfig"]["tools"]]
    assert specs[0] == {"name": "strict_one", "inputSchema": {"json": CONVERTED}, "strict": True}
    assert specs[1] == {"name": "loose", "inputSchema": {"json": CONSTRAINED}}


@pytest.mark.anyio
@pytest.mark.parametrize("model", [CLAUDE, OPUS_4_7])
@pytest.mark.parametrize(
    ("schema", "match"),
    [(RECURSIVE, "a recursive schema"), (DICT_FIELD, "an object with any keys at scores")],
)
async def test_a_claude_response_format_that_cannot_be_converted_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str, schema: dict[str, Any], match: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=match) as info:
            await client.chat(model, "hi", response_format=fmt(schema))
    assert info.value.param == "response_format"
    assert info.value.hint and "tool" in info.value.hint
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_strict_claude_tool_that_cannot_be_converted_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="strict tool 'tree' holds a recursive"):
            await client.chat(CLAUDE, "hi", tools=[Tool("tree", "", RECURSIVE, strict=True)])
        assert mock.requests == []
        # Not strict, it goes as it is: a tool's input takes any schema.
        await client.chat(CLAUDE, "hi", tools=[Tool("tree", "", RECURSIVE)])
    assert sent(mock)["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == RECURSIVE


@pytest.mark.anyio
async def test_the_messages_api_sends_no_strict_so_a_strict_tool_goes_as_given(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Opus 4.7 on Bedrock refuses strict ("tools.0.custom.strict: Extra inputs are not
    # permitted", vercel/ai#16237): not sent, so its parameters need no conversion.
    async with make_client() as client:
        await client.chat(OPUS_4_7, "hi", tools=[Tool("tree", "", RECURSIVE, strict=True)])
    assert sent(mock)["tools"] == [{"name": "tree", "input_schema": RECURSIVE}]


# -- other models: as given ------------------------------------------------------------------


@pytest.mark.anyio
async def test_other_models_get_their_schemas_as_given(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.chat(
            NOVA,
            "hi",
            response_format=fmt(DICT_FIELD),
            tools=[Tool("tree", "", RECURSIVE, strict=True)],
        )
    body = sent(mock)
    assert converse_schema(body) == DICT_FIELD
    assert body["toolConfig"]["tools"][0]["toolSpec"] == {
        "name": "tree",
        "inputSchema": {"json": RECURSIVE},
        "strict": True,
    }
