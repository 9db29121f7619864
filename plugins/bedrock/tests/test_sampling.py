"""The sampling parameters Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and Mythos
refuse on Bedrock, thinking or not: refused before sending (so a route falls back), over
loopback HTTP to the mock, which refuses them as the model does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit_bedrock.sampling import refuses_sampling
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing.reasoning import reasoning_problem

from .conftest import MakeClient

REFUSING = [
    ("bedrock/global.anthropic.claude-opus-4-7", "Claude Opus 4.7"),
    ("bedrock/anthropic.claude-opus-4-8", "Claude Opus 4.8"),
    ("bedrock/us.anthropic.claude-opus-5", "Claude Opus 5"),
    ("bedrock/global.anthropic.claude-opus-5-5", "Claude Opus 5.5"),
    ("bedrock/anthropic.claude-sonnet-5", "Claude Sonnet 5"),
    ("bedrock/us.anthropic.claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("bedrock/us.anthropic.claude-haiku-5-5", "Claude Haiku 5.5"),
    ("bedrock/anthropic.claude-fable-5", "Claude Fable 5"),
    ("bedrock/anthropic.claude-fable-5-1", "Claude Fable 5.1"),
    ("bedrock/anthropic.claude-mythos-5", "Claude Mythos 5"),
    ("bedrock/anthropic.claude-mythos-5-1", "Claude Mythos 5.1"),
]
TAKING = [
    "bedrock/anthropic.claude-opus-4-6-v1",
    "bedrock/anthropic.claude-sonnet-4-6",
    "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0",
]
REFUSED_VALUES = [
    ({"temperature": 0.2}, "temperature"),
    ({"top_p": 0.9}, "top_p"),
    ({"extra": {"additionalModelRequestFields": {"top_k": 40}}}, "top_k"),
    ({"extra": {"inferenceConfig": {"temperature": 0.5}}}, "temperature"),
    ({"temperature": 1, "extra": {"inferenceConfig": {"topP": 0.5}}}, "top_p"),
]

#: the model's refusal of temperature and top_p together (Bedrock prefixes it)
BOTH_SAMPLERS = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
@pytest.mark.parametrize(("params", "param"), REFUSED_VALUES)
async def test_a_sampling_parameter_is_refused_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    model: str,
    name: str,
    params: dict[str, Any],
    param: str,
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(model, "hi", **params)
    error = caught.value
    assert (error.param, error.status) == (param, None)
    assert f"{name} takes no {param}" in error.message
    assert error.hint is not None and f"drop {param}" in error.hint
    assert "reasoning='none'" not in error.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"top_k": 40}, "top_k"),
        ({"temperature": 0.5}, "temperature"),
        ({"top_p": 0.5}, "top_p"),
        # additionalModelRequestFields' keys are top-level fields of a Messages body
        ({"additionalModelRequestFields": {"temperature": 0.5}}, "temperature"),
        ({"additionalModelRequestFields": {"top_p": 0.5}}, "top_p"),
    ],
)
async def test_a_messages_api_field_in_extra_is_refused_before_sending_too(
    mock: BedrockMock, make_client: MakeClient, extra: dict[str, Any], param: str
) -> None:
    # The Messages route sends extra's other keys as they are, so a Messages API field
    # (top_k, temperature) given by its own name reached the model, which refused it
    # with a 400: the check read Converse's places only.
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("bedrock/global.anthropic.claude-opus-4-7", "hi", extra=extra)
    assert (caught.value.param, caught.value.status) == (param, None)
    assert "Claude Opus 4.7 takes no" in caught.value.message
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["temperature", "top_p"])
async def test_claudes_own_field_in_extra_is_refused_on_converse_too(
    mock: BedrockMock, make_client: MakeClient, param: str
) -> None:
    # Converse hands additionalModelRequestFields to Claude's own request: the check
    # read only its inferenceConfig there.
    extra = {"additionalModelRequestFields": {param: 0.5}}
    async with make_client(claude_api="converse") as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("bedrock/global.anthropic.claude-opus-4-7", "hi", extra=extra)
    assert (caught.value.param, caught.value.status) == (param, None)
    assert "Claude Opus 4.7 takes no" in caught.value.message
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", ["high", "none"])
async def test_it_is_refused_first_whatever_the_thinking(
    mock: BedrockMock, make_client: MakeClient, reasoning: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(
                "bedrock/anthropic.claude-sonnet-5", "hi", reasoning=reasoning, temperature=0.3
            )
    assert caught.value.param == "temperature" and caught.value.status is None
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("model", TAKING)
async def test_older_models_take_sampling_parameters(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        await client.chat(
            model, "hi", temperature=0.2, extra={"additionalModelRequestFields": {"top_k": 40}}
        )
    body = mock.last_request.json()
    assert body["inferenceConfig"]["temperature"] == 0.2
    assert body["additionalModelRequestFields"]["top_k"] == 40


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "name"), REFUSING)
@pytest.mark.parametrize(
    "params",
    [{}, {"temperature": 1}, {"top_p": 1}, {"top_p": 0.99}],
    ids=["omitted", "temperature 1", "top_p 1", "top_p 0.99"],
)
async def test_the_defaults_are_sent(
    mock: BedrockMock, make_client: MakeClient, model: str, name: str, params: dict[str, Any]
) -> None:
    async with make_client() as client:
        await client.chat(model, "hi", **params)
    body = mock.last_request.json()
    if mock.last_request.path == "/anthropic/v1/messages":  # Claude 4.7 on: top-level fields
        assert {k: body[k] for k in ("temperature", "top_p") if k in body} == params
        return
    names = {"temperature": "temperature", "top_p": "topP"}
    assert {names[k]: v for k, v in params.items()} == body.get("inferenceConfig", {})


def _routed(mock: BedrockMock, targets: list[str]) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
            "providers": {
                "bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url}
            },
            "models": {"claude": {"targets": targets, "strategy": "fallback"}},
        }
    )


@pytest.mark.anyio
async def test_a_route_falls_back_to_a_model_that_takes_temperature(mock: BedrockMock) -> None:
    targets = ["bedrock/global.anthropic.claude-opus-4-7", "bedrock/anthropic.claude-sonnet-4-6"]
    async with _routed(mock, targets) as client:
        await client.chat("claude", "hi", temperature=0.2)
    assert len(mock.requests) == 1
    assert "anthropic.claude-sonnet-4-6" in mock.last_request.path
    assert mock.last_request.json()["inferenceConfig"]["temperature"] == 0.2


@pytest.mark.anyio
async def test_a_stream_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            async with client.stream("bedrock/anthropic.claude-fable-5", "hi", top_p=0.5) as s:
                async for _ in s:
                    pass
    assert (caught.value.param, caught.value.status) == ("top_p", None)
    assert not mock.requests


@pytest.mark.anyio
async def test_a_streamed_route_falls_back_too(mock: BedrockMock) -> None:
    targets = ["bedrock/us.anthropic.claude-haiku-5-5", "bedrock/anthropic.claude-sonnet-4-6"]
    async with (
        _routed(mock, targets) as client,
        client.stream("claude", "hi", temperature=0.2) as s,
    ):
        async for _ in s:
            pass
    assert len(mock.requests) == 1
    assert "anthropic.claude-sonnet-4-6" in mock.last_request.path


def test_the_models_are_read_from_their_ids() -> None:
    for model, name in REFUSING:
        assert refuses_sampling(model.split("/", 1)[1]) == name
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-7"
    assert refuses_sampling(arn) == "Claude Opus 4.7"
    for model in [*TAKING, "bedrock/meta.llama3-3-70b-instruct-v1:0", "bedrock/my-alias"]:
        assert refuses_sampling(model.split("/", 1)[1]) is None


@pytest.mark.parametrize(("model", "_name"), REFUSING)
@pytest.mark.parametrize(
    ("inference", "fields", "refused"),
    [
        ({"temperature": 0.5}, {}, "`temperature` is deprecated"),
        ({"topP": 0.5}, {}, "`top_p` is deprecated"),
        ({}, {"top_k": 5}, "`top_k` is deprecated"),
        ({"temperature": 1, "topP": 0.99}, {}, None),  # no page says they refuse both defaults
        ({}, {}, None),
    ],
)
def test_the_mock_refuses_what_the_model_refuses(
    model: str,
    _name: str,
    inference: dict[str, Any],
    fields: dict[str, Any],
    refused: str | None,
) -> None:
    body: dict[str, Any] = {"messages": [], "inferenceConfig": inference}
    if fields:
        body["additionalModelRequestFields"] = fields
    problem = reasoning_problem(model.split("/", 1)[1], body)
    expected = None if refused is None else f"The model returned the following errors: {refused}"
    assert problem == (None if expected is None else f"{expected} for this model.")
    older = reasoning_problem("anthropic.claude-opus-4-6-v1", body)  # one at a time, any value
    both = "temperature" in inference and "topP" in inference
    assert older == (f"The model returned the following errors: {BOTH_SAMPLERS}" if both else None)


# -- temperature and top_p together ----------------------------------------------------

#: the models that take temperature or top_p, not both ("Migrating to Claude 4.5")
ONE_SAMPLER = [
    ("bedrock/anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1"),
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5"),
    ("bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5"),
    ("bedrock/anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("bedrock/anthropic.claude-opus-4-6-v1", "Claude Opus 4.6"),
]
TAKING_BOTH = [
    "bedrock/anthropic.claude-opus-4-20250514-v1:0",
    "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
    "bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0",
]
#: the pair as the call gives it (at the defaults, too)
BOTH: list[dict[str, Any]] = [
    {"temperature": 1, "top_p": 0.99},
    {"temperature": 0.2, "extra": {"inferenceConfig": {"topP": 0.9}}},
    {"top_p": 0.9, "extra": {"additionalModelRequestFields": {"temperature": 0.2}}},
]


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "messages"])
@pytest.mark.parametrize(("model", "name"), ONE_SAMPLER)
@pytest.mark.parametrize("params", BOTH)
async def test_temperature_with_top_p_is_refused_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    model: str,
    name: str,
    params: dict[str, Any],
) -> None:
    async with make_client(claude_api=api) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(model, "hi", **params)
    error = caught.value
    assert (error.param, error.status) == ("top_p", None)
    assert error.message.startswith(f"{name} takes temperature or top_p, not both")
    assert error.hint is not None and "drop top_p and keep temperature" in error.hint
    assert not mock.requests


@pytest.mark.anyio
async def test_a_messages_api_field_in_extra_counts_on_the_messages_route(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # The Messages route sends extra's other keys as they are: top_p reaches the model.
    async with make_client(claude_api="messages") as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(ONE_SAMPLER[1][0], "hi", temperature=0.2, extra={"top_p": 0.9})
    assert (caught.value.param, caught.value.status) == ("top_p", None)
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "messages"])
@pytest.mark.parametrize(("model", "_name"), ONE_SAMPLER)
@pytest.mark.parametrize("params", [{"temperature": 1}, {"top_p": 0.99}])
async def test_either_alone_is_sent(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    model: str,
    _name: str,
    params: dict[str, Any],
) -> None:
    async with make_client(claude_api=api) as client:
        await client.chat(model, "hi", **params)
    assert len(mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "messages"])
async def test_both_defaults_are_left_to_the_models_taking_the_defaults_only(
    mock: BedrockMock, make_client: MakeClient, api: str
) -> None:
    # Opus 4.7 on take no other value; no page says they refuse the two defaults together
    async with make_client(claude_api=api) as client:
        await client.chat("bedrock/global.anthropic.claude-opus-4-7", "hi", temperature=1, top_p=1)
    assert len(mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "messages"])
@pytest.mark.parametrize("model", TAKING_BOTH)
async def test_older_models_take_temperature_with_top_p(
    mock: BedrockMock, make_client: MakeClient, api: str, model: str
) -> None:
    async with make_client(claude_api=api) as client:
        await client.chat(model, "hi", temperature=0.2, top_p=0.9)
    body = mock.last_request.json()
    sent = body if api == "messages" else body["inferenceConfig"]
    assert (sent["temperature"], sent.get("top_p", sent.get("topP"))) == (0.2, 0.9)


@pytest.mark.parametrize(("model", "_name"), ONE_SAMPLER)
@pytest.mark.parametrize("thinking", [False, True])
def test_the_mock_refuses_both_on_converse_as_bedrock_relays_it(
    model: str, _name: str, thinking: bool
) -> None:
    base = model.split("/", 1)[1]
    # the values thinking takes
    body: dict[str, Any] = {"messages": [], "inferenceConfig": {"temperature": 1, "topP": 0.99}}
    if thinking:
        adaptive = "4-6" in base
        setting = {"type": "adaptive"} if adaptive else {"type": "enabled", "budget_tokens": 1024}
        body["additionalModelRequestFields"] = {"thinking": setting}
    relayed = f"The model returned the following errors: {BOTH_SAMPLERS}"
    assert reasoning_problem(base, body) == relayed
    if not thinking:  # adaptive thinking came with Claude 4.6: not asked of older ones
        for taking in TAKING_BOTH:
            assert reasoning_problem(taking.split("/", 1)[1], body) is None


@pytest.mark.parametrize(("model", "_name"), ONE_SAMPLER)
def test_the_mock_refuses_both_on_the_messages_route(model: str, _name: str) -> None:
    key = "ABSKbm90LWpzb24ta2V5"
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "model": model.split("/", 1)[1],
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 1,
        "top_p": 0.99,
    }
    with BedrockMock(bearer_token=key) as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/anthropic/v1/messages"
        answer = http.post(url, json=body, headers={"authorization": f"Bearer {key}"})
        assert not mock.failures
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == f"The model returned the following errors: {BOTH_SAMPLERS}"
