"""The sampling parameters Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and Mythos
refuse, thinking or not: refused before sending (so a route falls back), over loopback
HTTP to the mock, which refuses them as the API does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_thinking import thinking_problem
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
REFUSING = [
    ("anthropic/claude-opus-4-7", "Claude Opus 4.7"),
    ("anthropic/claude-opus-4-8", "Claude Opus 4.8"),
    ("anthropic/claude-opus-5", "Claude Opus 5"),
    ("anthropic/claude-opus-5-5", "Claude Opus 5.5"),
    ("anthropic/claude-sonnet-5", "Claude Sonnet 5"),
    ("anthropic/claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("anthropic/claude-haiku-5-5", "Claude Haiku 5.5"),
    ("anthropic/claude-fable-5", "Claude Fable 5"),
    ("anthropic/claude-fable-5-1", "Claude Fable 5.1"),
    ("anthropic/claude-mythos-5", "Claude Mythos 5"),
    ("anthropic/claude-mythos-5-1", "Claude Mythos 5.1"),
]
TAKING = [
    "anthropic/claude-opus-4-6",
    "anthropic/claude-sonnet-4-6",
    "anthropic/claude-sonnet-4-5-20250929",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-3-7-sonnet-20250219",
]
REFUSED_VALUES = [
    ({"temperature": 0.2}, "temperature"),
    ({"temperature": 0}, "temperature"),
    ({"top_p": 0.9}, "top_p"),
    ({"extra": {"top_k": 40}}, "top_k"),
    ({"extra": {"temperature": 0.5}}, "temperature"),  # extra's value is the one sent
]


@asynccontextmanager
async def client(mock: AnthropicMock, **config: Any) -> AsyncIterator[relaykit.Client]:
    settings = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}}, **config)
    async with relaykit.Client(settings) as c:
        yield c


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
@pytest.mark.parametrize(("params", "param"), REFUSED_VALUES)
async def test_a_sampling_parameter_is_refused_before_sending(
    mock: AnthropicMock, model: str, name: str, params: dict[str, Any], param: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(model, "hi", **params)
    error = caught.value
    assert (error.param, error.status, error.model) == (param, None, model.split("/")[1])
    assert f"{name} takes no {param}" in error.message
    assert error.hint is not None and f"drop {param}" in error.hint
    assert "model that takes it" in error.hint
    assert "reasoning='none'" not in error.hint  # turning thinking off would not help
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", ["high", "none"])
async def test_it_is_refused_first_whatever_the_thinking(
    mock: AnthropicMock, reasoning: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat("anthropic/claude-sonnet-5", "hi", reasoning=reasoning, temperature=0.3)
    assert caught.value.param == "temperature" and caught.value.status is None
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("model", TAKING)
async def test_older_models_take_sampling_parameters(mock: AnthropicMock, model: str) -> None:
    async with client(mock) as c:
        await c.chat(model, "hi", temperature=0.2, extra={"top_k": 40})
    body = mock.last_request.json()
    assert (body["temperature"], body["top_k"]) == (0.2, 40)


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
@pytest.mark.parametrize(
    "params",
    [{}, {"temperature": 1}, {"top_p": 1}, {"top_p": 0.99}, {"temperature": 1.0, "top_p": 1.0}],
    ids=["omitted", "temperature 1", "top_p 1", "top_p 0.99", "both defaults"],
)
async def test_the_defaults_are_sent(
    mock: AnthropicMock, model: str, name: str, params: dict[str, Any]
) -> None:
    async with client(mock) as c:
        await c.chat(model, "hi", **params)
    body = mock.last_request.json()
    assert {k: body[k] for k in params} == params


@pytest.mark.anyio
async def test_a_route_falls_back_to_a_model_that_takes_temperature(mock: AnthropicMock) -> None:
    routes = {
        "claude": {
            "targets": ["anthropic/claude-opus-4-7", "anthropic/claude-opus-4-6"],
            "strategy": "fallback",
        }
    }
    async with client(mock, models=routes) as c:
        r = await c.chat("claude", "hi", temperature=0.2)
    assert r.model == "claude-opus-4-6" and len(mock.requests) == 1
    assert mock.last_request.json()["temperature"] == 0.2


@pytest.mark.anyio
async def test_a_stream_is_refused_before_sending(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            async with c.stream("anthropic/claude-haiku-5-5", "hi", top_p=0.5) as s:
                async for _ in s:
                    pass
    assert (caught.value.param, caught.value.status) == ("top_p", None)
    assert not mock.requests


@pytest.mark.anyio
async def test_a_streamed_route_falls_back_too(mock: AnthropicMock) -> None:
    routes = {
        "claude": {
            "targets": ["anthropic/claude-fable-5", "anthropic/claude-sonnet-4-6"],
            "strategy": "fallback",
        }
    }
    async with client(mock, models=routes) as c, c.stream("claude", "hi", temperature=0.2) as s:
        async for _ in s:
            pass
    assert s.response.model == "claude-sonnet-4-6" and len(mock.requests) == 1


@pytest.mark.parametrize(("model", "_name"), REFUSING)
@pytest.mark.parametrize(
    ("sent", "refused"),
    [
        ({"temperature": 0.5}, "`temperature` is deprecated"),
        ({"top_p": 0.5}, "`top_p` is deprecated"),
        ({"top_k": 5}, "`top_k` is deprecated"),
        ({"temperature": 1, "top_p": 0.99}, None),
        ({}, None),
    ],
)
def test_the_mock_refuses_what_the_api_refuses(
    model: str, _name: str, sent: dict[str, Any], refused: str | None
) -> None:
    body = {"model": model.split("/")[1], "max_tokens": 10, "messages": [], **sent}
    problem = thinking_problem(body)
    assert problem == (None if refused is None else f"{refused} for this model.")
    older = {**body, "model": "claude-opus-4-6"}
    assert thinking_problem(older) is None


@pytest.mark.anyio
async def test_a_foundry_deployment_is_read_as_the_model_it_serves() -> None:
    # "my-claude" names no Claude version: only the deployments map says it is Opus 4.7.
    deployments = {"my-claude": "claude-opus-4-7", "old-claude": "claude-opus-4-6"}
    with FoundryClaudeMock(api_key=KEY, deployments=deployments) as foundry:
        cfg = one_try_config(
            {"foundry-anthropic": {"base_url": foundry.base_url, "deployments": deployments}}
        )
        async with relaykit.Client(cfg, env={"ANTHROPIC_FOUNDRY_API_KEY": KEY}) as c:
            with pytest.raises(InvalidRequestError) as caught:
                await c.chat("foundry-anthropic/my-claude", "hi", temperature=0.2)
            error = caught.value
            assert (error.param, error.status, error.model) == ("temperature", None, "my-claude")
            assert "Claude Opus 4.7 (deployment 'my-claude') takes no temperature" in (
                error.message
            )
            assert not foundry.requests
            await c.chat("foundry-anthropic/my-claude", "hi", temperature=1)
            await c.chat("foundry-anthropic/old-claude", "hi", temperature=0.2)
        assert [r.json()["temperature"] for r in foundry.requests] == [1, 0.2]
