"""The sampling parameters Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and Mythos
refuse, thinking or not: refused before sending (so a route falls back), over loopback
HTTP to the mock, which refuses them as the API does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_thinking import thinking_problem
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock

from .conftest import vertex_client

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

#: the API's refusal of temperature and top_p together
BOTH_SAMPLERS = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)


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
@pytest.mark.parametrize(
    ("targets", "params"),
    [
        (["claude-opus-4-7", "claude-opus-4-6"], {"temperature": 0.2}),
        # Sonnet 4.5 takes one of the two; Sonnet 4 both
        (["claude-sonnet-4-5", "claude-sonnet-4-20250514"], {"temperature": 0.2, "top_p": 0.9}),
    ],
)
async def test_a_route_falls_back_to_a_model_that_takes_temperature(
    mock: AnthropicMock, targets: list[str], params: dict[str, Any]
) -> None:
    routes = {"claude": {"targets": [f"anthropic/{t}" for t in targets], "strategy": "fallback"}}
    async with client(mock, models=routes) as c:
        r = await c.chat("claude", "hi", **params)
    assert r.model == targets[1] and len(mock.requests) == 1
    assert {k: mock.last_request.json()[k] for k in params} == params


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
        ({"temperature": 0.5}, "`temperature` is deprecated for this model."),
        ({"top_p": 0.5}, "`top_p` is deprecated for this model."),
        ({"top_k": 5}, "`top_k` is deprecated for this model."),
        ({"temperature": 1, "top_p": 0.99}, None),  # no page says they refuse both defaults
        ({}, None),
    ],
)
def test_the_mock_refuses_what_the_api_refuses(
    model: str, _name: str, sent: dict[str, Any], refused: str | None
) -> None:
    body = {"model": model.split("/")[1], "max_tokens": 10, "messages": [], **sent}
    assert thinking_problem(body) == refused
    older = {**body, "model": "claude-opus-4-6"}  # takes any values, one at a time
    both = "temperature" in sent and "top_p" in sent
    assert thinking_problem(older) == (BOTH_SAMPLERS if both else None)


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


# -- temperature and top_p together ----------------------------------------------------

#: the models that take temperature or top_p, not both ("Migrating to Claude 4.5")
ONE_SAMPLER = [
    ("anthropic/claude-opus-4-1-20250805", "Claude Opus 4.1"),
    ("anthropic/claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
    ("anthropic/claude-haiku-4-5", "Claude Haiku 4.5"),
    ("anthropic/claude-opus-4-6", "Claude Opus 4.6"),
    ("anthropic/claude-sonnet-4-6", "Claude Sonnet 4.6"),
]
BOTH = [
    {"temperature": 1, "top_p": 0.99},
    {"temperature": 0.5, "extra": {"top_p": 0.99}},  # extra's value is the one sent
    {"extra": {"temperature": 1, "top_p": 1}},
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), ONE_SAMPLER)
@pytest.mark.parametrize("params", BOTH)
async def test_temperature_with_top_p_is_refused_before_sending(
    mock: AnthropicMock, model: str, name: str, params: dict[str, Any]
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(model, "hi", **params)
    error = caught.value
    assert (error.param, error.status, error.model) == ("top_p", None, model.split("/")[1])
    assert error.message.startswith(f"{name} takes temperature or top_p, not both")
    assert error.hint is not None and "drop top_p and keep temperature" in error.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "_name"), ONE_SAMPLER)
@pytest.mark.parametrize(
    "params",
    [{"temperature": 1}, {"top_p": 0.99}, {"temperature": 1, "extra": {"top_p": None}}],
    ids=["temperature", "top_p", "top_p null"],
)
async def test_either_alone_is_sent(
    mock: AnthropicMock, model: str, _name: str, params: dict[str, Any]
) -> None:
    async with client(mock) as c:
        await c.chat(model, "hi", **params)
    assert len(mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "anthropic/claude-opus-4-20250514",
        "anthropic/claude-sonnet-4-20250514",
        "anthropic/claude-3-7-sonnet-20250219",
    ],
)
async def test_older_models_take_temperature_with_top_p(mock: AnthropicMock, model: str) -> None:
    async with client(mock) as c:
        await c.chat(model, "hi", temperature=0.2, top_p=0.9)
    body = mock.last_request.json()
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)


@pytest.mark.anyio
async def test_claude_on_vertex_refuses_them_before_sending(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    async with vertex_client(vertex_mock, google_env, sa_file) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(
                "vertex-anthropic/claude-sonnet-4-5@20250929", "hi", temperature=0.2, top_p=0.9
            )
        assert caught.value.param == "top_p" and caught.value.status is None
        assert "Claude Sonnet 4.5 takes temperature or top_p" in caught.value.message
        assert not vertex_mock.model_requests()
        await c.chat("vertex-anthropic/claude-sonnet-4@20250514", "hi", temperature=0.2, top_p=0.9)
    assert len(vertex_mock.model_requests()) == 1


@pytest.mark.anyio
async def test_a_foundry_deployment_is_read_as_the_model_it_serves_for_both() -> None:
    deployments = {"my-claude": "claude-sonnet-4-5-20250929"}
    with FoundryClaudeMock(api_key=KEY, deployments=deployments) as foundry:
        cfg = one_try_config(
            {"foundry-anthropic": {"base_url": foundry.base_url, "deployments": deployments}}
        )
        async with relaykit.Client(cfg, env={"ANTHROPIC_FOUNDRY_API_KEY": KEY}) as c:
            with pytest.raises(InvalidRequestError) as caught:
                await c.chat("foundry-anthropic/my-claude", "hi", temperature=0.2, top_p=0.9)
        assert caught.value.message.startswith(
            "Claude Sonnet 4.5 (deployment 'my-claude') takes temperature or top_p, not both"
        )
        assert not foundry.requests


@pytest.mark.parametrize(("model", "_name"), ONE_SAMPLER)
def test_the_mock_refuses_both_in_the_apis_words(model: str, _name: str) -> None:
    body = {"model": model.split("/")[1], "max_tokens": 10, "messages": []}
    assert thinking_problem({**body, "temperature": 1, "top_p": 0.99}) == BOTH_SAMPLERS
    assert thinking_problem({**body, "temperature": 1, "top_p": None}) is None
    older = {**body, "model": "claude-opus-4-20250514", "temperature": 0.2, "top_p": 0.9}
    assert thinking_problem(older) is None
    # Opus 4.7 on take the defaults only: both defaults are not refused (no page says so)
    later = {**body, "model": "claude-opus-4-7", "temperature": 1, "top_p": 0.99}
    assert thinking_problem(later) is None


def test_the_mock_answers_both_with_a_400_over_http() -> None:
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
    }
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with AnthropicMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:
        answer = http.post(f"{mock.base_url}/v1/messages", json=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": BOTH_SAMPLERS}
