"""``response_format={"type": "json_object"}`` on Bedrock: Converse has no JSON mode, so it
is emulated with a forced tool whose input is the answer's text, on Converse and on the
Messages route alike, whole and streamed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relaykit import InvalidRequestError, Tool
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

CLAUDE = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"  # the Messages API
NOVA = "bedrock/us.amazon.nova-lite-v1:0"
JSON_OBJECT = {"type": "json_object"}
ANSWER = {"city": "Paris", "tags": ["a", "b"]}


def sent(mock: BedrockMock) -> Any:
    return mock.requests[-1].json()


@pytest.mark.anyio
@pytest.mark.parametrize("model", [CLAUDE, NOVA])
async def test_json_object_is_a_forced_tool_on_converse(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    mock.script.reply("", tool_calls=(("response", ANSWER),))
    async with make_client() as client:
        r = await client.chat(model, "json please", response_format=JSON_OBJECT)
    body = sent(mock)
    assert "outputConfig" not in body
    assert body["toolConfig"]["tools"] == [
        {
            "toolSpec": {
                "name": "response",
                "description": "Give the final answer as this tool's input.",
                "inputSchema": {"json": {"type": "object"}},
            }
        }
    ]
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "response"}}
    # the tool's input is the answer: text, no tool call, a plain stop
    assert json.loads(r.text) == ANSWER
    assert (r.tool_calls, r.finish_reason) == ((), "stop")


@pytest.mark.anyio
async def test_json_object_streams_as_text_on_converse(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.reply("", tool_calls=(("response", ANSWER),))
    async with (
        make_client() as client,
        client.stream(CLAUDE, "json please", response_format=JSON_OBJECT) as s,
    ):
        kinds = {type(event).__name__ async for event in s}
    assert "ToolCallDelta" not in kinds and "TextDelta" in kinds
    assert json.loads(s.response.text) == ANSWER
    assert (s.response.tool_calls, s.response.finish_reason) == ((), "stop")


@pytest.mark.anyio
async def test_json_object_beside_tools_keeps_them_and_forces_its_own(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.reply("", tool_calls=(("response", ANSWER),))
    async with make_client() as client:
        r = await client.chat(
            CLAUDE, "json please", response_format=JSON_OBJECT, tools=[WEATHER_TOOL]
        )
    config = sent(mock)["toolConfig"]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["get_weather", "response"]
    assert config["toolChoice"] == {"tool": {"name": "response"}}
    assert json.loads(r.text) == ANSWER


@pytest.mark.anyio
async def test_json_object_is_a_forced_tool_on_the_messages_api(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        mock.script.reply("", tool_calls=(("response", ANSWER),))
        r = await client.chat(OPUS_4_7, "json please", response_format=JSON_OBJECT)
        body = sent(mock)
        assert body["tools"] == [
            {
                "name": "response",
                "description": "Give the final answer as this tool's input.",
                "input_schema": {"type": "object"},
            }
        ]
        assert body["tool_choice"] == {"type": "tool", "name": "response"}
        assert "output_config" not in body
        assert json.loads(r.text) == ANSWER
        assert (r.tool_calls, r.finish_reason) == ((), "stop")

        mock.script.reply("", tool_calls=(("response", ANSWER),))
        async with client.stream(OPUS_4_7, "json please", response_format=JSON_OBJECT) as s:
            async for _ in s:
                pass
    assert json.loads(s.response.text) == ANSWER
    assert (s.response.tool_calls, s.response.finish_reason) == ((), "stop")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "param"),
    [
        # Claude refuses a forced tool while it thinks (the refusal is reasoning='s,
        # as relaykit-anthropic's is)
        (CLAUDE, 2048, "reasoning"),
        (OPUS_4_7, "high", "reasoning"),
        # Opus 5.5 never takes one
        ("bedrock/global.anthropic.claude-opus-5-5", None, "response_format"),
    ],
)
async def test_json_object_where_claude_refuses_a_forced_tool_is_refused_naming_a_schema(
    mock: BedrockMock, make_client: MakeClient, model: str, reasoning: Any, param: str
) -> None:
    """The fix is a JSON schema, which Bedrock takes natively (outputConfig.textFormat)."""
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="forced") as info:
            await client.chat(model, "json", response_format=JSON_OBJECT, reasoning=reasoning)
    assert info.value.param == param
    assert info.value.hint is not None and "JSON schema" in info.value.hint
    assert "structured_output" not in info.value.hint  # relaykit-anthropic's option
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_tool_of_the_formats_name_is_refused(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="'response'") as info:
            await client.chat(
                CLAUDE,
                "json",
                response_format=JSON_OBJECT,
                tools=[Tool("response", "", {"type": "object"})],
            )
    assert info.value.param == "response_format.name"
    assert info.value.hint is not None and "name" in info.value.hint
    assert mock.requests == []
