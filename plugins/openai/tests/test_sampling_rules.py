"""The sampling OpenAI's reasoning models refuse is refused before sending.

o1, o3, o4-mini, gpt-5 and the Codex models take no ``temperature`` or ``top_p``
but 1 while they reason: OpenAI answers a 400. relaykit refuses such a call
unsent, as relaykit-anthropic does for Claude while it thinks, for OpenAI and
Azure (:mod:`relaykit_openai.sampling_rules`); a compatible service's model may
bear any name, so the presets send what they are given.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError
from relaykit.testing import OpenAIMock
from relaykit_openai.testing import AzureOpenAIMock

KEY = "sk-test-0123456789abcdef0123"
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def config(name: str, **provider: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {name: provider},
    }


async def call(client: relaykit.Client, model: str, streamed: bool, **params: Any) -> None:
    if streamed:
        async with client.stream(model, "hi", **params) as s:
            async for _ in s:
                pass
    else:
        await client.chat(model, "hi", **params)


#: (model, parameters, the parameter refused)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("o3", {"temperature": 0.5}, "temperature"),
    ("o4-mini", {"temperature": 0}, "temperature"),
    ("gpt-5-mini", {"top_p": 0.9}, "top_p"),
    ("gpt-5", {"temperature": 0.2, "reasoning": "minimal"}, "temperature"),
    ("gpt-5.4", {"temperature": 0}, "temperature"),  # reasons unless told not to
    ("gpt-5.2", {"temperature": 0, "reasoning": "high"}, "temperature"),
    ("gpt-5.1", {"top_p": 0.5, "extra": {"reasoning_effort": "low"}}, "top_p"),
    ("gpt-5.2-pro", {"temperature": 0.2}, "temperature"),  # the Responses API's alone
]

#: (model, parameters): sent, and answered
SENT: list[tuple[str, dict[str, Any]]] = [
    ("o3", {"temperature": 1, "top_p": 1.0}),  # the defaults
    ("gpt-5.1", {"temperature": 0.2, "top_p": 0.5}),  # its effort is "none" unless sent
    ("gpt-5.4", {"temperature": 0.2, "reasoning": "none"}),
    ("gpt-5-chat-latest", {"temperature": 0.2}),
    ("gpt-4o-mini", {"temperature": 0.2, "top_p": 0.5}),
]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(("model", "params", "param"), REFUSED)
async def test_sampling_a_reasoning_model_refuses_is_refused_unsent(
    model: str, params: dict[str, Any], param: str, api: str, streamed: bool
) -> None:
    if api == "responses" and "reasoning_effort" in params.get("extra", {}):
        params = {**params, "extra": {"reasoning": {"effort": "low"}}}
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
        async with relaykit.Client(config("openai", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await call(c, f"openai/{model}", streamed, **params)
        assert mock.requests == []
    error = info.value
    assert error.param == param and error.status is None
    assert error.provider == "openai" and error.model == model
    assert f"takes no {param} but 1 while it reasons" in str(error)
    assert f"drop {param}" in str(error.hint)
    # the fix that keeps the sampling is offered where the model takes it (GPT-5.1
    # and later; not their pro models, which always reason)
    offered = model.startswith("gpt-5.") and not model.endswith("-pro")
    assert ("reasoning='none'" in str(error.hint)) is offered


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(("model", "params"), SENT)
async def test_sampling_a_model_takes_is_sent(
    model: str, params: dict[str, Any], api: str, streamed: bool
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
        async with relaykit.Client(config("openai", **settings), env={}) as c:
            await call(c, f"openai/{model}", streamed, **params)
        body = mock.last_request.json()
        assert not mock.failures
    for key in ("temperature", "top_p"):
        assert body.get(key) == params.get(key)


@pytest.mark.anyio
async def test_max_tokens_goes_as_max_completion_tokens_to_openai_only() -> None:
    # o-series and GPT-5 refuse max_tokens on Chat Completions ("Use
    # 'max_completion_tokens' instead."); compatible services mostly know only the old name.
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY}
        async with relaykit.Client(config("openai", api="chat", **settings), env={}) as c:
            await c.chat("openai/o3", "hi", max_tokens=50)
        body = mock.last_request.json()
        async with relaykit.Client(config("vllm", **settings), env={}) as c:
            await c.chat("vllm/qwen3-8b", "hi", max_tokens=50)
        compatible = mock.last_request.json()
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert compatible["max_tokens"] == 50 and "max_completion_tokens" not in compatible


@pytest.mark.anyio
async def test_a_compatible_service_gets_what_it_is_given() -> None:
    """A model's name at a compatible service says nothing sure about its sampling:
    relaykit sends it, and the service answers (here the mock, which judges by name
    as OpenAI would, refuses the one named as OpenAI's model)."""
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY}
        async with relaykit.Client(config("openrouter", **settings), env={}) as c:
            await c.chat("openrouter/openai/o3", "hi", temperature=0.5)
        assert mock.last_request.json()["temperature"] == 0.5
        async with relaykit.Client(config("vllm", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat("vllm/o3", "hi", temperature=0.5)
        assert mock.last_request.json()["temperature"] == 0.5
        assert len(mock.requests) == 2
    assert info.value.status == 400  # the service's answer, not relaykit's refusal
    assert "Only the default (1) value is supported" in str(info.value)


@pytest.mark.anyio
async def test_azure_judges_the_model_a_deployment_serves() -> None:
    deployments = {"reasoner": "o3-mini-2025-01-31", "gpt4o-prod": "gpt-4o-2024-11-20"}
    with AzureOpenAIMock(api_key=AZURE_KEY, deployments=deployments) as mock:
        settings = {
            "base_url": mock.base_url,
            "api_key": AZURE_KEY,
            "models": {"reasoner": "o3-mini", "gpt4o-prod": "gpt-4o"},
        }
        async with relaykit.Client(config("azure", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat("azure/reasoner", "hi", temperature=0.5)
            assert mock.requests == []
            # a deployment named as its model is judged by that name
            with pytest.raises(InvalidRequestError):
                await c.chat("azure/o4-mini", "hi", top_p=0.5)
            # what only extra sends too
            with pytest.raises(InvalidRequestError) as penalty:
                await c.chat("azure/reasoner", "hi", extra={"frequency_penalty": 0.4})
            assert mock.requests == []
            await c.chat(
                "azure/gpt4o-prod", "hi", temperature=0.5, extra={"frequency_penalty": 0.4}
            )
        assert mock.last_request.json()["temperature"] == 0.5
        assert mock.last_request.json()["frequency_penalty"] == 0.4
    error = info.value
    assert error.param == "temperature" and error.provider == "azure"
    assert error.model == "reasoner" and "OpenAI's o3-mini takes no temperature" in str(error)
    assert (penalty.value.param, penalty.value.model) == ("frequency_penalty", "reasoner")
    assert "OpenAI's o3-mini takes no frequency_penalty" in penalty.value.message


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_batch_item_a_reasoning_model_refuses_is_refused_unsent(api: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
        async with relaykit.Client(config("openai", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.submit_batch(
                    "openai/o3", [BatchItem("a", "hi"), BatchItem("b", "ho", {"temperature": 0})]
                )
        assert mock.requests == []
    assert info.value.param == "temperature"


#: (model, API, parameters, the parameter refused, words of the fix): what OpenAI's
#: reasoning models refuse beyond temperature and top_p, which only extra (or a
#: max_tokens_param setting) sends
REFUSED_BEYOND_SAMPLING: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("o3", "chat", {"extra": {"presence_penalty": 0.5}}, "presence_penalty", "from extra"),
    ("gpt-5-mini", "chat", {"extra": {"frequency_penalty": -1}}, "frequency_penalty", "set it"),
    ("o4-mini", "chat", {"extra": {"logprobs": True}}, "logprobs", "drop logprobs from extra"),
    ("gpt-5", "chat", {"extra": {"logprobs": True, "top_logprobs": 3}}, "logprobs", "drop"),
    ("gpt-5.4", "chat", {"extra": {"top_logprobs": 2}}, "top_logprobs", "reasoning='none'"),
    ("o3", "responses", {"extra": {"top_logprobs": 2}}, "top_logprobs", "from extra"),
    (
        "gpt-5.2",
        "responses",
        {"reasoning": "low", "extra": {"top_logprobs": 2}},
        "top_logprobs",
        "reasoning='none'",
    ),
    # max_tokens whatever the effort: gpt-5.1 does not reason unless asked
    ("gpt-5.1", "chat", {"extra": {"max_tokens": 50}}, "max_tokens", "as max_tokens="),
    ("o3", "chat", {"max_tokens": 50, "max_tokens_param": "max_tokens"}, "max_tokens", "unset"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "api", "params", "param", "fix"), REFUSED_BEYOND_SAMPLING)
async def test_what_else_a_reasoning_model_refuses_is_refused_unsent(
    model: str, api: str, params: dict[str, Any], param: str, fix: str
) -> None:
    params = dict(params)
    setting = params.pop("max_tokens_param", None)
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
        if setting:
            settings["max_tokens_param"] = setting
        async with relaykit.Client(config("openai", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat(f"openai/{model}", "hi", **params)
        assert mock.requests == []
    error = info.value
    assert (error.param, error.status, error.model) == (param, None, model)
    assert f"OpenAI's {model} " in error.message and param in error.message
    assert error.hint is not None and fix in error.hint


#: (model, API, parameters): taken by OpenAI (the mock agrees), so sent
SENT_BEYOND_SAMPLING: list[tuple[str, str, dict[str, Any]]] = [
    # the defaults
    (
        "o3",
        "chat",
        {"extra": {"presence_penalty": 0, "frequency_penalty": 0, "logprobs": False}},
    ),
    ("o3", "responses", {"extra": {"top_logprobs": 0}}),
    # not reasoning: gpt-5.1's effort is "none" unless sent, gpt-5.4 told so
    ("gpt-5.1", "chat", {"extra": {"logprobs": True, "top_logprobs": 2}}),
    ("gpt-5.4", "chat", {"reasoning": "none", "extra": {"presence_penalty": 0.5}}),
    ("gpt-5.2", "responses", {"extra": {"top_logprobs": 2}}),
    # not a reasoning model
    ("gpt-4o-mini", "chat", {"extra": {"presence_penalty": 0.5, "max_tokens": 50}}),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "api", "params"), SENT_BEYOND_SAMPLING)
async def test_what_else_a_model_takes_is_sent(
    model: str, api: str, params: dict[str, Any]
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY, "api": api}
        async with relaykit.Client(config("openai", **settings), env={}) as c:
            await c.chat(f"openai/{model}", "hi", **params)
        body = mock.last_request.json()
        assert not mock.failures
    for key, value in params["extra"].items():
        assert body[key] == value


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [
        {"extra": {"presence_penalty": 0.5}},
        {"extra": {"logprobs": True, "top_logprobs": 2}},
        {"max_tokens": 50},  # sent as max_tokens, the compatible presets' name
    ],
)
async def test_a_compatible_service_is_sent_what_else_it_is_given(params: dict[str, Any]) -> None:
    # vLLM serving a model named "o3": the mock judges by name as OpenAI would and
    # answers 400; relaykit sends it, the answer is the service's.
    with OpenAIMock(api_key=KEY) as mock:
        settings = {"base_url": mock.base_url, "api_key": KEY}
        async with relaykit.Client(config("vllm", **settings), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat("vllm/o3", "hi", **params)
        assert len(mock.requests) == 1
    assert info.value.status == 400
