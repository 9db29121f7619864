"""A prefill (a conversation ending in an assistant turn), which Claude 4.6 on, Fable and
Mythos refuse on Bedrock: refused before sending (so a route falls back), on Converse and
the Messages API, over loopback HTTP to the mock, which refuses it in the model's words."""

from __future__ import annotations

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, ToolCall
from relaykit_bedrock.prefill import refuses_prefill
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing.mock import PREFILL_REFUSED

from .conftest import MakeClient

REFUSING = [
    # Converse (4.6), then the Messages API (4.7 on, Fable, Mythos)
    ("bedrock/anthropic.claude-opus-4-6-v1", "Claude Opus 4.6"),
    ("bedrock/us.anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("bedrock/global.anthropic.claude-opus-4-7", "Claude Opus 4.7"),
    ("bedrock/anthropic.claude-opus-4-8", "Claude Opus 4.8"),
    ("bedrock/anthropic.claude-sonnet-5", "Claude Sonnet 5"),
    ("bedrock/us.anthropic.claude-haiku-5-5", "Claude Haiku 5.5"),
    ("bedrock/anthropic.claude-fable-5-1", "Claude Fable 5.1"),
    ("bedrock/anthropic.claude-mythos-preview", "Claude Mythos"),
]
TAKING = [
    "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
    "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0",
    "bedrock/amazon.nova-pro-v1:0",
]
PREFILLED = [Message.user("List three colours as JSON."), Message.assistant("{")]
RAW_PREFILL = [
    {"role": "user", "content": [{"text": "List three colours as JSON."}]},
    {"role": "assistant", "content": [{"text": "{"}]},
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
async def test_a_prefill_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str, name: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(model, PREFILLED)
    error = caught.value
    assert (error.param, error.status) == ("messages", None)
    assert f"{name} does not take a prefill" in error.message
    assert error.hint is not None and "end the conversation with a user message" in error.hint
    assert "response_format=" in error.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model", ["bedrock/anthropic.claude-opus-4-6-v1", "bedrock/anthropic.claude-opus-4-8"]
)
async def test_a_streamed_prefill_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            async with client.stream(model, PREFILLED) as s:
                async for _ in s:
                    pass
    assert (caught.value.param, caught.value.status) == ("messages", None)
    assert not mock.requests


@pytest.mark.anyio
async def test_a_final_turn_of_tool_calls_is_refused_with_the_results_fix(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    calls = [Message.user("Weather?"), Message.assistant("", [ToolCall("t1", "w", {})])]
    tool = {"name": "w", "parameters": {"type": "object"}}
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("bedrock/anthropic.claude-sonnet-4-6", calls, tools=[tool])
    assert caught.value.hint is not None and "tool call's result" in caught.value.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("model", TAKING)
async def test_other_models_take_a_prefill(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        r = await client.chat(model, PREFILLED)
    assert r.text and len(mock.requests) == 1


@pytest.mark.anyio
async def test_a_route_falls_back_to_a_model_that_takes_a_prefill(mock: BedrockMock) -> None:
    settings = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url}},
        "models": {
            "claude": {
                "targets": [
                    "bedrock/anthropic.claude-opus-4-8",
                    "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
                ],
                "strategy": "fallback",
            }
        },
    }
    async with relaykit.Client(settings) as client:
        r = await client.chat("claude", PREFILLED)
    assert r.model.startswith("anthropic.claude-sonnet-4-5") and len(mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("bedrock/anthropic.claude-opus-4-6-v1", "/converse"),
        ("bedrock/anthropic.claude-opus-4-8", "/anthropic/v1/messages"),
    ],
)
async def test_the_mock_refuses_a_prefill_in_the_models_words(
    mock: BedrockMock, make_client: MakeClient, model: str, path: str
) -> None:
    # extra's messages replace the ones relaykit built (and checked): the mock answers.
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(model, "hi", extra={"messages": RAW_PREFILL})
    assert caught.value.status == 400 and PREFILL_REFUSED in str(caught.value)
    assert mock.requests[-1].path.endswith(path)


def test_the_models_are_read_from_their_names() -> None:
    for model, name in REFUSING:
        assert refuses_prefill(model.split("/", 1)[1]) == name
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-6-v1"
    assert refuses_prefill(arn) == "Claude Opus 4.6"
    for model in [*TAKING, "my-alias", "anthropic.claude-future-9"]:
        assert refuses_prefill(model.split("/", 1)[-1]) is None
