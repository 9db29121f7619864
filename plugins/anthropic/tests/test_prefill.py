"""A prefill (a conversation ending in an assistant turn), which Claude 4.6 on, Fable and
Mythos refuse: refused before sending (so a route falls back), on Anthropic's API, Vertex
AI and Foundry, over loopback HTTP to the mocks, which refuse it in the API's words; a
paused turn sent back to continue it is still taken."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, ToolCall, WebSearch
from relaykit.testing import Reply, one_try_config
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import PREFILL_REFUSED, AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
REFUSING = [
    ("anthropic/claude-opus-4-6", "Claude Opus 4.6"),
    ("anthropic/claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("anthropic/claude-opus-4-7", "Claude Opus 4.7"),
    ("anthropic/claude-opus-4-8", "Claude Opus 4.8"),
    ("anthropic/claude-opus-5-5", "Claude Opus 5.5"),
    ("anthropic/claude-sonnet-5", "Claude Sonnet 5"),
    ("anthropic/claude-haiku-5-5", "Claude Haiku 5.5"),
    ("anthropic/claude-fable-5", "Claude Fable 5"),
    ("anthropic/claude-mythos-5-1", "Claude Mythos 5.1"),
    ("anthropic/claude-mythos-preview", "Claude Mythos"),
]
TAKING = [
    "anthropic/claude-opus-4-5",
    "anthropic/claude-sonnet-4-5-20250929",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-3-7-sonnet-20250219",
]
PREFILLED = [Message.user("List three colours as JSON."), Message.assistant("{")]


@asynccontextmanager
async def client(mock: AnthropicMock, **config: Any) -> AsyncIterator[relaykit.Client]:
    settings = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}}, **config)
    async with relaykit.Client(settings) as c:
        yield c


def assert_refused(error: InvalidRequestError, name: str, model: str) -> None:
    assert (error.param, error.status, error.model) == ("messages", None, model)
    assert f"{name} does not take a prefill" in error.message
    assert error.hint is not None
    assert "end the conversation with a user message" in error.hint
    assert "response_format=" in error.hint


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
async def test_a_prefill_is_refused_before_sending(
    mock: AnthropicMock, model: str, name: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(model, PREFILLED)
    assert_refused(caught.value, name, model.split("/")[1])
    assert not mock.requests


@pytest.mark.anyio
async def test_a_streamed_prefill_is_refused_before_sending(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            async with c.stream("anthropic/claude-sonnet-4-6", PREFILLED) as s:
                async for _ in s:
                    pass
    assert_refused(caught.value, "Claude Sonnet 4.6", "claude-sonnet-4-6")
    assert not mock.requests


@pytest.mark.anyio
async def test_a_final_turn_of_tool_calls_is_refused_with_the_results_fix(
    mock: AnthropicMock,
) -> None:
    calls = [Message.user("Weather?"), Message.assistant("", [ToolCall("toolu_1", "w", {})])]
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat("anthropic/claude-opus-4-8", calls)
    assert caught.value.param == "messages" and caught.value.hint is not None
    assert "tool call's result" in caught.value.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("model", TAKING)
async def test_older_models_take_a_prefill(mock: AnthropicMock, model: str) -> None:
    mock.script.reply('"colours": ["red"]}')
    async with client(mock) as c:
        r = await c.chat(model, PREFILLED)
    assert r.text == '"colours": ["red"]}'
    assert mock.last_request.json()["messages"][-1]["role"] == "assistant"


@pytest.mark.anyio
async def test_a_conversation_ending_with_a_user_turn_is_sent(mock: AnthropicMock) -> None:
    history = [*PREFILLED, Message.user("Go on.")]
    async with client(mock) as c:
        await c.chat("anthropic/claude-opus-4-6", history)
    assert mock.last_request.json()["messages"][-1]["role"] == "user"


@pytest.mark.anyio
async def test_a_route_falls_back_to_a_model_that_takes_a_prefill(mock: AnthropicMock) -> None:
    routes = {
        "claude": {
            "targets": ["anthropic/claude-opus-4-6", "anthropic/claude-sonnet-4-5"],
            "strategy": "fallback",
        }
    }
    async with client(mock, models=routes) as c:
        r = await c.chat("claude", PREFILLED)
    assert r.model == "claude-sonnet-4-5" and len(mock.requests) == 1


@pytest.mark.anyio
async def test_the_mock_refuses_a_prefill_in_the_apis_words(mock: AnthropicMock) -> None:
    # extra's messages replace the ones relaykit built (and checked): the mock answers.
    raw = [
        {"role": "user", "content": "List three colours as JSON."},
        {"role": "assistant", "content": "{"},
    ]
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat("anthropic/claude-opus-4-7", "hi", extra={"messages": raw})
        assert caught.value.status == 400
        assert PREFILL_REFUSED in str(caught.value)
        await c.chat("anthropic/claude-sonnet-4-5", "hi", extra={"messages": raw})
    assert len(mock.requests) == 2


# -- a paused turn is no prefill -------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["anthropic/claude-opus-4-8", "anthropic/claude-sonnet-4-6"])
async def test_a_paused_turn_is_continued_on_a_model_that_refuses_a_prefill(
    mock: AnthropicMock, model: str
) -> None:
    mock.pause_turns = 1
    mock.script.push(
        Reply(text="Searching… ", web_searches=1, search_queries=("a",)),
        Reply(text="Found it.", web_searches=1),
    )
    async with client(mock) as c:
        r = await c.chat(model, "Find it", web_search=WebSearch(max_uses=5))
    _, again = mock.requests
    assert again.json()["messages"][-1]["role"] == "assistant"
    assert r.text == "Searching… Found it." and r.finish_reason == "stop"


@pytest.mark.anyio
async def test_a_paused_turn_of_text_alone_is_continued_too(mock: AnthropicMock) -> None:
    mock.pause_turns = 1
    mock.script.push(Reply(text="part one. "), Reply(text="part two."))
    async with client(mock) as c:
        r = await c.chat("anthropic/claude-fable-5", "Find it", web_search=True)
    assert len(mock.requests) == 2
    assert r.text == "part one. part two." and r.finish_reason == "stop"


# -- Vertex AI and Foundry -----------------------------------------------------------


@pytest.mark.anyio
async def test_vertex_refuses_a_prefill_before_sending(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    cfg = one_try_config(
        {
            "vertex-anthropic": {
                "type": "vertex-anthropic",
                "base_url": vertex_mock.base_url,
                "project": "mock-project",
                "location": "us-east5",
                "credentials_file": str(sa_file),
            }
        }
    )
    async with relaykit.Client(cfg, env=google_env) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat("vertex-anthropic/claude-opus-4-7", PREFILLED)
        assert_refused(caught.value, "Claude Opus 4.7", "claude-opus-4-7")
        assert not vertex_mock.model_requests()
        r = await c.chat("vertex-anthropic/claude-haiku-4-5@20251001", PREFILLED)
    assert r.text and len(vertex_mock.model_requests()) == 1


@pytest.mark.anyio
async def test_foundry_reads_the_deployments_model() -> None:
    deployments = {"prod-claude": "claude-sonnet-4-6", "old-claude": "claude-sonnet-4-5"}
    with FoundryClaudeMock(api_key=KEY, deployments=deployments) as mock:
        cfg = one_try_config(
            {"foundry-anthropic": {"base_url": mock.base_url, "deployments": deployments}}
        )
        async with relaykit.Client(cfg, env={"ANTHROPIC_FOUNDRY_API_KEY": KEY}) as c:
            with pytest.raises(InvalidRequestError) as caught:
                await c.chat("foundry-anthropic/prod-claude", PREFILLED)
            assert_refused(caught.value, "Claude Sonnet 4.6", "prod-claude")
            assert not mock.requests
            await c.chat("foundry-anthropic/old-claude", PREFILLED)
        assert len(mock.requests) == 1
