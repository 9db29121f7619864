"""``reasoning=`` on Bedrock, over loopback HTTP to the mock: Claude's ``thinking``, Nova 2's
``reasoningConfig``, gpt-oss's ``reasoning_effort``, the refusals, ``extra``, streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, Reasoning
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock.reasoning import claude5, claude_version, family
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

HAIKU = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"  # budgets
OPUS = "bedrock/global.anthropic.claude-opus-4-7"  # adaptive thinking only
SONNET = "bedrock/anthropic.claude-sonnet-4-6"  # adaptive thinking, no xhigh effort
OLD = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"  # does not think
NOVA = "bedrock/us.amazon.nova-2-lite-v1:0"
OSS = "bedrock/openai.gpt-oss-120b-1:0"
LLAMA = "bedrock/meta.llama3-3-70b-instruct-v1:0"
# Claude 5 thinks by default (AWS's ids; Opus 5.5, Sonnet 5.5, Haiku 5.5 as AWS will name them)
OPUS_5 = "bedrock/us.anthropic.claude-opus-5"  # off: disabled
SONNET_5 = "bedrock/anthropic.claude-sonnet-5"  # off: disabled
HAIKU_5_5 = "bedrock/us.anthropic.claude-haiku-5-5"  # off: disabled
SONNET_5_5 = "bedrock/us.anthropic.claude-sonnet-5-5"  # off: between_tools; no forced tool
OPUS_5_5 = "bedrock/global.anthropic.claude-opus-5-5"  # always thinks; no forced tool
FABLE_5_1 = "bedrock/anthropic.claude-fable-5-1"  # always thinks; no forced tool
MYTHOS_5 = "bedrock/anthropic.claude-mythos-5"  # always thinks


@pytest.fixture
def send(mock: BedrockMock, make_client: MakeClient) -> Callable[..., Any]:
    """``await send(model, **params)``: the Converse body one chat with ``params`` sends
    (Claude 4.7 on kept on Converse: the Messages API takes the same fields at its top
    level, as test_messages_api checks)."""

    async def chat(model: str, **params: Any) -> dict[str, Any]:
        async with make_client(claude_api="converse") as client:
            await client.chat(model, "think", **params)
        body: dict[str, Any] = mock.last_request.json()
        return body

    return chat


@pytest.fixture
def refused(mock: BedrockMock, make_client: MakeClient) -> Callable[..., Any]:
    """``await refused(model, **params)``: the refusal of a chat, checked to send nothing."""

    async def chat(model: str, **params: Any) -> InvalidRequestError:
        async with make_client() as client:
            with pytest.raises(InvalidRequestError) as caught:
                await client.chat(model, "think", **params)
        assert caught.value.status is None, "refused before sending"
        assert caught.value.param == "reasoning"
        assert not mock.requests
        return caught.value

    return chat


Send = Callable[..., Any]


def fields(body: dict[str, Any]) -> Any:
    return body.get("additionalModelRequestFields")


# -- Claude: budgets ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "budget"),
    [
        ("minimal", 1024),
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
        ("xhigh", 32768),
        (True, 8192),
        (2048, 2048),
        (500, 1024),
    ],
)
async def test_claude_takes_a_budget_and_max_tokens_around_it(
    mock: BedrockMock, send: Send, reasoning: Any, budget: int
) -> None:
    body = await send(HAIKU, reasoning=reasoning)
    assert fields(body) == {"thinking": {"type": "enabled", "budget_tokens": budget}}
    assert body["inferenceConfig"] == {"maxTokens": 4096 + budget}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(budget_tokens=budget)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "budget"),
    [("high", 8000, 4000), ("medium", 20000, 8192), ("low", 1500, 1024), (5000, 6000, 5000)],
)
async def test_a_given_max_tokens_caps_an_efforts_budget(
    send: Send, reasoning: Any, max_tokens: int, budget: int
) -> None:
    body = await send(HAIKU, reasoning=reasoning, max_tokens=max_tokens)
    assert body["inferenceConfig"] == {"maxTokens": max_tokens}
    assert fields(body)["thinking"] == {"type": "enabled", "budget_tokens": budget}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "words"),
    [
        ("low", 1024, "no room for Claude's least thinking budget"),
        (4096, 4096, "does not fit in max_tokens=4096"),
        (500, 900, "a thinking budget of 1024 tokens does not fit"),
    ],
)
async def test_a_budget_that_cannot_fit_is_refused(
    refused: Send, reasoning: Any, max_tokens: int, words: str
) -> None:
    error = await refused(HAIKU, reasoning=reasoning, max_tokens=max_tokens)
    assert words in error.message
    assert error.hint is not None and "raise max_tokens" in error.hint


@pytest.mark.anyio
async def test_claude_thinking_off_is_sent_disabled(mock: BedrockMock, send: Send) -> None:
    body = await send(HAIKU, reasoning="none", temperature=0.2)
    assert fields(body) == {"thinking": {"type": "disabled"}}
    assert body["inferenceConfig"] == {"temperature": 0.2}  # no maxTokens needed
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_without_reasoning_nothing_is_sent(mock: BedrockMock, send: Send) -> None:
    body = await send(HAIKU)
    assert "additionalModelRequestFields" not in body and "inferenceConfig" not in body
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"temperature": 0.5}, "temperature but 1"),
        ({"top_p": 0.5}, "top_p under 0.95"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool is forced"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "get_weather"}, "tool is forced"),
    ],
)
# Sonnet 4.6 for adaptive thinking: Opus 4.7 on refuse sampling parameters whatever
# the thinking (test_sampling.py).
@pytest.mark.parametrize("model", [HAIKU, SONNET])
async def test_what_claude_refuses_while_thinking_is_refused_before_sending(
    refused: Send, model: str, params: dict[str, Any], words: str
) -> None:
    error = await refused(model, reasoning="high", **params)
    assert words in error.message
    assert error.hint is not None and "reasoning='none'" in error.hint


@pytest.mark.anyio
# Haiku 4.5 takes temperature or top_p, not both (thinking or not)
@pytest.mark.parametrize(
    ("sampling", "sent"),
    [({"temperature": 1}, {"temperature": 1}), ({"top_p": 0.95}, {"topP": 0.95})],
)
async def test_what_claude_takes_while_thinking_is_sent(
    send: Send, sampling: dict[str, Any], sent: dict[str, Any]
) -> None:
    body = await send(HAIKU, reasoning="low", tools=[WEATHER_TOOL], tool_choice="auto", **sampling)
    assert body["inferenceConfig"] == {"maxTokens": 4096 + 1024, **sent}
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}


# -- Claude: adaptive thinking ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "effort"),
    [
        (OPUS, "high", "high"),
        (OPUS, "minimal", "low"),
        (OPUS, "xhigh", "xhigh"),
        (SONNET, "xhigh", "high"),
        (OPUS, 2048, "medium"),
        (OPUS, 30000, "high"),
    ],
)
async def test_claude_4_6_on_takes_adaptive_thinking_with_an_effort(
    mock: BedrockMock, send: Send, model: str, reasoning: Any, effort: str
) -> None:
    body = await send(model, reasoning=reasoning)
    assert fields(body) == {"thinking": {"type": "adaptive"}, "output_config": {"effort": effort}}
    assert "inferenceConfig" not in body  # no budget to fit: Bedrock's default maxTokens
    assert mock.sent_reasoning(mock.last_request) == Reasoning(effort)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_adaptive_thinking_on_or_off(mock: BedrockMock, send: Send) -> None:
    body = await send(OPUS, reasoning=True)
    assert fields(body) == {"thinking": {"type": "adaptive"}}
    assert mock.sent_reasoning(mock.last_request) == Reasoning()
    body = await send(OPUS, reasoning=False)
    assert "additionalModelRequestFields" not in body
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_a_claude_that_does_not_think_refuses_thinking_on(refused: Send) -> None:
    error = await refused(OLD, reasoning="low")
    assert "does not think" in error.message


@pytest.mark.anyio
async def test_a_claude_that_does_not_think_is_sent_nothing_for_off(send: Send) -> None:
    body = await send(OLD, reasoning="none")
    assert "additionalModelRequestFields" not in body


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ("anthropic.claude-opus-4-6-v1", (4, 6)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (4, 5)),
        ("anthropic.claude-opus-4-20250514-v1:0", (4, 0)),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", (3, 7)),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-7", (4, 7)),
        ("anthropic.claude-v2:1", None),
    ],
)
def test_claudes_version_is_read_from_the_model_id(
    model: str, version: tuple[int, int] | None
) -> None:
    assert claude_version(model) == version
    assert family(model) == "claude"


# -- Nova 2, gpt-oss, other models ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "sent"),
    [
        ("low", {"type": "enabled", "maxReasoningEffort": "low"}),
        ("minimal", {"type": "enabled", "maxReasoningEffort": "low"}),
        ("medium", {"type": "enabled", "maxReasoningEffort": "medium"}),
        ("high", {"type": "enabled", "maxReasoningEffort": "high"}),
        ("xhigh", {"type": "enabled", "maxReasoningEffort": "high"}),
        (True, {"type": "enabled", "maxReasoningEffort": "medium"}),
        (20000, {"type": "enabled", "maxReasoningEffort": "high"}),
        ("none", {"type": "disabled"}),
    ],
)
async def test_nova_2_takes_a_reasoning_config(
    mock: BedrockMock, send: Send, reasoning: Any, sent: dict[str, Any]
) -> None:
    body = await send(NOVA, reasoning=reasoning)
    assert fields(body) == {"reasoningConfig": sent}
    expected = Reasoning(sent["maxReasoningEffort"]) if "maxReasoningEffort" in sent else None
    assert mock.sent_reasoning(mock.last_request) == (expected or Reasoning("none"))


@pytest.mark.anyio
async def test_nova_2_takes_max_tokens_below_high_effort(send: Send) -> None:
    body = await send(NOVA, reasoning="medium", max_tokens=500, temperature=0.3, top_p=0.5)
    assert body["inferenceConfig"] == {"maxTokens": 500, "temperature": 0.3, "topP": 0.5}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"max_tokens": 500}, "max_tokens"),
        ({"temperature": 0.3, "top_p": 0.5}, "temperature, top_p"),
        # the body carries extra's inferenceConfig too
        ({"extra": {"inferenceConfig": {"maxTokens": 100}}}, "max_tokens"),
        ({"top_p": 0.5, "extra": {"inferenceConfig": {"temperature": 1}}}, "temperature, top_p"),
    ],
)
async def test_nova_2_at_high_effort_refuses_sampling_settings(
    refused: Send, params: dict[str, Any], names: str
) -> None:
    error = await refused(NOVA, reasoning="high", **params)
    assert f"Nova 2 takes no {names} with high reasoning effort" in error.message
    assert error.hint is not None and f"drop {names}" in error.hint


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "sent"),
    [("low", "low"), ("minimal", "low"), ("high", "high"), ("xhigh", "high"), (4000, "medium")],
)
async def test_gpt_oss_takes_a_reasoning_effort(
    mock: BedrockMock, send: Send, reasoning: Any, sent: str
) -> None:
    body = await send(OSS, reasoning=reasoning)
    assert fields(body) == {"reasoning_effort": sent}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(sent)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_gpt_oss_always_reasons(mock: BedrockMock, send: Send, refused: Send) -> None:
    error = await refused(OSS, reasoning="none")
    assert "always reasons" in error.message
    body = await send(OSS, reasoning=True)  # on, at its own effort: nothing to send
    assert "additionalModelRequestFields" not in body
    assert mock.sent_reasoning(mock.last_request) is None


@pytest.mark.anyio
@pytest.mark.parametrize("model", [LLAMA, "bedrock/amazon.nova-pro-v1:0"])
@pytest.mark.parametrize("reasoning", ["high", "none"])
async def test_other_models_refuse_any_setting(refused: Send, model: str, reasoning: str) -> None:
    error = await refused(model, reasoning=reasoning)
    assert "sends no reasoning setting" in error.message
    assert error.hint is not None and "amazon.nova-2-*" in error.hint


@pytest.mark.anyio
async def test_a_refusal_lets_a_route_fall_back(mock: BedrockMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url}},
        "models": {"smart": {"targets": [LLAMA, NOVA], "strategy": "fallback"}},
    }
    async with relaykit.Client(config) as client:
        await client.chat("smart", "think", reasoning="high")
    assert len(mock.requests) == 1
    assert "amazon.nova-2-lite" in mock.last_request.path


# -- extra, streaming ------------------------------------------------------------------


@pytest.mark.anyio
async def test_extra_joins_the_fields_its_keys_winning(send: Send) -> None:
    body = await send(
        HAIKU,
        reasoning="low",
        extra={"additionalModelRequestFields": {"top_k": None, "anthropic_beta": ["x-1"]}},
    )
    assert fields(body) == {
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "top_k": None,
        "anthropic_beta": ["x-1"],
    }
    body = await send(
        OPUS, reasoning="low", extra={"additionalModelRequestFields": {"output_config": {}}}
    )
    assert fields(body) == {"thinking": {"type": "adaptive"}, "output_config": {}}


@pytest.mark.anyio
async def test_extras_own_field_replaces_reasoning(send: Send) -> None:
    own = {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}
    body = await send(
        NOVA, reasoning="high", max_tokens=300, extra={"additionalModelRequestFields": own}
    )
    assert fields(body) == own  # and no refusal of max_tokens: reasoning= is not used
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    body = await send(
        HAIKU, reasoning="high", max_tokens=3000, extra={"additionalModelRequestFields": thinking}
    )
    assert fields(body) == thinking
    assert body["inferenceConfig"] == {"maxTokens": 3000}


# Claude Haiku 4.5 and Sonnet 4.6 take sampling values when not thinking; each route
# reads extra's where the body carries them (Converse's inferenceConfig; on the Messages
# route also the Messages API's own top-level names, which win).
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("api", "extra", "words"),
    [
        ("converse", {"inferenceConfig": {"temperature": 0.5}}, "temperature but 1"),
        ("converse", {"inferenceConfig": {"topP": 0.5}}, "top_p under 0.95"),
        ("messages", {"inferenceConfig": {"temperature": 0.5}}, "temperature but 1"),
        ("messages", {"temperature": 0.5}, "temperature but 1"),
        ("messages", {"top_p": 0.5}, "top_p under 0.95"),
        ("messages", {"inferenceConfig": {"topP": 0.99}, "top_p": 0.9}, "top_p under 0.95"),
        # relaykit has no top_k: only extra gives it ("`top_k` must be unset")
        ("converse", {"additionalModelRequestFields": {"top_k": 5}}, "no top_k while it"),
        ("messages", {"additionalModelRequestFields": {"top_k": 5}}, "no top_k while it"),
        ("messages", {"top_k": 5}, "no top_k while it"),
        # additionalModelRequestFields' keys are top-level fields of a Messages body,
        # over inferenceConfig's (and under extra's own top-level ones)
        ("messages", {"additionalModelRequestFields": {"temperature": 0.5}}, "temperature but 1"),
        ("messages", {"additionalModelRequestFields": {"top_p": 0.5}}, "top_p under 0.95"),
        # Converse hands them to Claude's own request too
        ("converse", {"additionalModelRequestFields": {"temperature": 0.5}}, "temperature but 1"),
        ("converse", {"additionalModelRequestFields": {"top_p": 0.5}}, "top_p under 0.95"),
        (
            "messages",
            {"inferenceConfig": {"topP": 0.99}, "additionalModelRequestFields": {"top_p": 0.9}},
            "top_p under 0.95",
        ),
    ],
)
@pytest.mark.parametrize("model", [HAIKU, SONNET])
async def test_what_extra_gives_claude_while_thinking_is_refused_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    model: str,
    extra: dict[str, Any],
    words: str,
) -> None:
    async with make_client(claude_api=api) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(model, "think", reasoning="high", extra=extra)
    assert (caught.value.status, caught.value.param) == (None, "reasoning")
    assert words in caught.value.message
    assert not mock.requests, "nothing sent: a route falls back"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("api", "params", "path", "sent"),
    [
        ("messages", {"temperature": 0.5, "extra": {"temperature": 1}}, ("temperature",), 1),
        (
            "converse",
            {"top_p": 0.5, "extra": {"inferenceConfig": {"topP": 0.95}}},
            ("inferenceConfig", "topP"),
            0.95,
        ),
        # additionalModelRequestFields' keys are the Messages body's own fields...
        (
            "messages",
            {"top_p": 0.5, "extra": {"additionalModelRequestFields": {"top_p": 0.95}}},
            ("top_p",),
            0.95,
        ),
        # ... under extra's top-level ones, sent last
        (
            "messages",
            {"extra": {"additionalModelRequestFields": {"temperature": 0.5}, "temperature": 1}},
            ("temperature",),
            1,
        ),
        # extra's own thinking replaces reasoning=: Claude does not think, and takes
        # the temperature it takes only then
        (
            "messages",
            {"temperature": 0.5, "extra": {"thinking": {"type": "disabled"}}},
            ("temperature",),
            0.5,
        ),
    ],
)
async def test_a_sampling_value_extra_replaces_is_not_refused(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    params: dict[str, Any],
    path: tuple[str, ...],
    sent: float,
) -> None:
    # The body carries extra's value, which Claude takes while it thinks.
    async with make_client(claude_api=api) as client:
        await client.chat(HAIKU, "think", reasoning="low", **params)
    value: Any = mock.last_request.json()
    for key in path:
        value = value[key]
    assert value == sent


# extra's forced choice replaces relaykit's where the body carries it: Converse's
# toolConfig.toolChoice (merged over the body's), the Messages API's own tool_choice in
# additionalModelRequestFields (top-level fields of a Messages body; Converse hands them
# to Claude's request), and on the Messages route also top-level, sent as it is, last.
FORCING = [{"type": "any"}, {"type": "tool", "name": "get_weather"}]
FORCED_BY_EXTRA = [
    *(
        (
            api,
            {"additionalModelRequestFields": {"tool_choice": choice}},
            "additionalModelRequestFields.tool_choice",
        )
        for api in ("converse", "messages")
        for choice in FORCING
    ),
    ("converse", {"toolConfig": {"toolChoice": {"any": {}}}}, "toolConfig.toolChoice"),
    (
        "converse",
        {"toolConfig": {"toolChoice": {"tool": {"name": "get_weather"}}}},
        "toolConfig.toolChoice",
    ),
    ("messages", {"toolConfig": {"toolChoice": {"any": {}}}}, "toolConfig.toolChoice"),
    ("messages", {"tool_choice": {"type": "any"}}, "tool_choice"),
    ("messages", {"tool_choice": {"type": "tool", "name": "get_weather"}}, "tool_choice"),
    (
        "messages",
        {
            "toolConfig": {"toolChoice": {"auto": {}}},
            "additionalModelRequestFields": {"tool_choice": {"type": "any"}},
        },
        "additionalModelRequestFields.tool_choice",
    ),
    (
        "messages",
        {
            "additionalModelRequestFields": {"tool_choice": {"type": "auto"}},
            "tool_choice": {"type": "any"},
        },
        "tool_choice",
    ),
]


# Where Claude takes no forced tool, extra's is refused unsent (a route falls back):
# while Haiku or Sonnet thinks, as reasoning's conflict, whose fix is to drop extra's
# field; on the models that always think (Opus 5.5, Fable 5.1), as a tool choice the
# model never takes, whatever the reasoning setting.
THINKING_FIX = "drop {field} from extra"
NEVER_FORCED = ("takes no forced tool", "extra's {field} forces one")
REFUSES_A_FORCED_TOOL = [
    pytest.param(HAIKU, "high", "reasoning", ("tool is forced",), THINKING_FIX, id="haiku"),
    pytest.param(SONNET, "high", "reasoning", ("tool is forced",), THINKING_FIX, id="sonnet"),
    pytest.param(OPUS_5_5, None, "tool_choice", NEVER_FORCED, None, id="opus-5.5"),
    pytest.param(FABLE_5_1, None, "tool_choice", NEVER_FORCED, None, id="fable-5.1"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("api", "extra", "field"), FORCED_BY_EXTRA)
@pytest.mark.parametrize(("model", "reasoning", "param", "said", "hinted"), REFUSES_A_FORCED_TOOL)
async def test_a_tool_extra_forces_is_refused_before_sending_where_claude_takes_none(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    extra: dict[str, Any],
    field: str,
    model: str,
    reasoning: str | None,
    param: str,
    said: tuple[str, ...],
    hinted: str | None,
) -> None:
    async with make_client(claude_api=api) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(
                model, "think", reasoning=reasoning, tools=[WEATHER_TOOL], extra=extra
            )
    assert (caught.value.status, caught.value.param) == (None, param)
    for words in said:
        assert words.format(field=field) in caught.value.message
    if hinted is not None:
        assert caught.value.hint is not None and hinted.format(field=field) in caught.value.hint
    assert not mock.requests, "nothing sent: a route falls back"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("api", "extra"),
    [
        ("converse", {"toolConfig": {"toolChoice": {"auto": {}}}}),
        ("messages", {"toolConfig": {"toolChoice": {"auto": {}}}}),
        ("messages", {"tool_choice": {"type": "auto"}}),
        ("messages", {"additionalModelRequestFields": {"tool_choice": {"type": "auto"}}}),
        (
            "messages",
            {
                "additionalModelRequestFields": {"tool_choice": {"type": "any"}},
                "tool_choice": {"type": "auto"},
            },
        ),
    ],
)
@pytest.mark.parametrize("model", [HAIKU, OPUS_5_5])
async def test_a_forced_tool_extra_replaces_is_not_refused(
    mock: BedrockMock, make_client: MakeClient, api: str, model: str, extra: dict[str, Any]
) -> None:
    # relaykit's forced choice is not what the body carries: Claude takes extra's.
    async with make_client(claude_api=api) as client:
        await client.chat(
            model,
            "think",
            reasoning="high",
            tools=[WEATHER_TOOL],
            tool_choice="required",
            extra=extra,
        )
    body = mock.last_request.json()
    sent = body["toolConfig"]["toolChoice"] if api == "converse" else body["tool_choice"]
    assert sent in ({"auto": {}}, {"type": "auto"})


# Converse refuses a Claude field in additionalModelRequestFields beside its own field
# for it (BerriAI/litellm#36536); the Messages route takes the pair, extra's winning.
CONVERSE_PAIRS = [
    ({"tool_choice": "auto"}, {"tool_choice": {"type": "auto"}}, "tool_choice"),
    (
        {"extra": {"toolConfig": {"toolChoice": {"auto": {}}}}},
        {"tool_choice": {"type": "auto"}},
        "tool_choice",
    ),
    ({"temperature": 1}, {"temperature": 1}, "temperature"),
    ({"top_p": 0.99}, {"top_p": 0.99}, "top_p"),
    # "The additional field max_tokens conflicts with the existing field maxTokens.
    # Remove max_tokens and try again." (BerriAI/litellm#13841): it was sent, and failed
    ({"max_tokens": 500}, {"max_tokens": 600}, "max_tokens"),
    ({"extra": {"inferenceConfig": {"maxTokens": 500}}}, {"max_tokens": 600}, "max_tokens"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("params", "theirs", "name"), CONVERSE_PAIRS)
async def test_a_claude_field_converse_gives_too_is_refused_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    params: dict[str, Any],
    theirs: dict[str, Any],
    name: str,
) -> None:
    params = dict(params)  # shared by both backends' runs
    extra = {**params.pop("extra", {}), "additionalModelRequestFields": theirs}
    async with make_client(claude_api="converse") as client:
        with pytest.raises(InvalidRequestError, match=f"{name} beside its own") as caught:
            await client.chat(HAIKU, "hi", tools=[WEATHER_TOOL], extra=extra, **params)
        assert (caught.value.status, caught.value.param) == (
            None,
            f"extra.additionalModelRequestFields.{name}",
        )
        assert caught.value.hint is not None and "give it once" in caught.value.hint
        assert not mock.requests, "nothing sent: a route falls back"
    async with make_client(claude_api="messages") as client:
        await client.chat(HAIKU, "hi", tools=[WEATHER_TOOL], extra=extra, **params)
    assert mock.last_request.json()[name] == theirs[name]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "where", "drop"),
    [
        ({"max_tokens": 500}, "max_tokens= the second", "or drop max_tokens="),
        (
            {"extra": {"inferenceConfig": {"maxTokens": 500}}},
            "extra's inferenceConfig.maxTokens the second",
            "or drop extra's inferenceConfig.maxTokens",
        ),
        (
            {"max_tokens": 400, "extra": {"inferenceConfig": {"maxTokens": 500}}},
            "max_tokens= and extra's inferenceConfig.maxTokens the second",
            "or drop max_tokens= and extra's inferenceConfig.maxTokens",
        ),
    ],
)
async def test_a_max_tokens_pair_names_where_each_came_from(
    mock: BedrockMock,
    make_client: MakeClient,
    params: dict[str, Any],
    where: str,
    drop: str,
) -> None:
    params = dict(params)
    extra = {**params.pop("extra", {}), "additionalModelRequestFields": {"max_tokens": 600}}
    async with make_client(claude_api="converse") as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(HAIKU, "hi", extra=extra, **params)
    assert caught.value.message == (
        "Bedrock's Converse API refuses additionalModelRequestFields.max_tokens beside its"
        " own inferenceConfig.maxTokens, which it makes into Claude's max_tokens too:"
        f" extra gives the first, {where}"
    )
    assert caught.value.hint == (
        f"give it once: drop max_tokens from extra's additionalModelRequestFields, {drop}"
    )
    assert not mock.requests


@pytest.mark.anyio
async def test_a_max_tokens_pair_with_relaykit_s_own_for_thinking_says_to_use_max_tokens(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # With a thinking budget and no max_tokens=, relaykit sends maxTokens itself (room
    # for the budget and the answer): "drop max_tokens=" would name nothing given.
    extra = {"additionalModelRequestFields": {"max_tokens": 20000}}
    async with make_client(claude_api="converse") as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(HAIKU, "hi", reasoning="low", extra=extra)
    assert caught.value.message.endswith(
        ": extra gives the first, relaykit the second (the room reasoning='s thinking"
        " budget needs, as max_tokens= was not given)"
    )
    assert caught.value.hint == (
        "give the cap as max_tokens=20000 instead of in extra's"
        " additionalModelRequestFields: relaykit then sends it as inferenceConfig.maxTokens"
    )
    assert not mock.requests
    # as the hint says: the budget is then fitted under it
    async with make_client(claude_api="converse") as client:
        await client.chat(HAIKU, "hi", reasoning="low", max_tokens=20000)
    assert mock.last_request.json()["inferenceConfig"]["maxTokens"] == 20000


@pytest.mark.anyio
async def test_an_auto_tool_choice_converse_hands_claude_is_sent(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # alone, Claude's own field is the model's: an auto choice is taken while it thinks
    extra = {"additionalModelRequestFields": {"tool_choice": {"type": "auto"}}}
    async with make_client(claude_api="converse") as client:
        await client.chat(HAIKU, "think", reasoning="high", tools=[WEATHER_TOOL], extra=extra)
    body = mock.last_request.json()
    assert body["additionalModelRequestFields"]["tool_choice"] == {"type": "auto"}
    assert "toolChoice" not in body["toolConfig"]


@pytest.mark.anyio
async def test_the_mock_refuses_a_converse_tool_choice_that_is_no_object(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # ToolChoice is a union of objects: Bedrock refuses "any" alone (the mock read it
    # as a forced choice, and answered Claude's refusal of one, or took it)
    extra = {"toolConfig": {"toolChoice": "any"}}
    async with make_client(claude_api="converse") as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(HAIKU, "hi", tools=[WEATHER_TOOL], extra=extra)
    assert caught.value.status == 400
    assert "#/toolConfig/toolChoice: expected type: JSONObject" in caught.value.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "thinking", "expected"),
    [(HAIKU, True, "Thinking may not be enabled"), (OPUS_5_5, False, '"any" are not supported')],
)
async def test_the_mock_reads_claudes_own_tool_choice_on_converse(
    model: str, thinking: bool, expected: str
) -> None:
    forced, auto = {"tool_choice": {"type": "any"}}, {"tool_choice": {"type": "auto"}}
    await _the_mock_reads_claudes_fields(model, forced, expected, thinking=thinking)
    await _the_mock_reads_claudes_fields(model, auto, None, thinking=thinking)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0.5}, "`temperature` may only be set to 1"),
        ({"top_p": 0.5}, "`top_p` must be greater than or equal to 0.95"),
        ({"temperature": 1}, None),
        ({"top_p": 0.95}, None),
        ({"temperature": 1, "top_p": 0.95}, "`temperature` and `top_p` cannot both be specified"),
        ({"tool_choice": "any"}, "tool_choice: Input should be a valid dictionary"),
        ({"tool_choice": {"disable_parallel_tool_use": True}}, "tool_choice.type: Field required"),
    ],
)
async def test_the_mock_reads_claudes_own_sampling_on_converse(
    fields: dict[str, Any], expected: str | None
) -> None:
    await _the_mock_reads_claudes_fields(HAIKU, fields, expected, thinking=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("own", "fields", "expected"),
    [
        (
            {"toolConfig": {"toolChoice": {"tool": {"name": "get_weather"}}}},
            {"tool_choice": {"type": "auto"}},
            "The additional field tool_choice/type conflicts with the existing field "
            "toolConfig.toolChoice.tool. Remove tool_choice/type and try again.",
        ),
        (
            {"inferenceConfig": {"temperature": 1}},
            {"temperature": 1},
            "The additional field temperature conflicts with the existing field "
            "inferenceConfig.temperature.",
        ),
        ({"inferenceConfig": {"topP": 0.99}}, {"top_p": 0.99}, "field inferenceConfig.topP."),
        (
            {"inferenceConfig": {"maxTokens": 500}},
            {"max_tokens": 600},
            # Bedrock's words (BerriAI/litellm#13841)
            "The additional field max_tokens conflicts with the existing field maxTokens."
            " Remove max_tokens and try again.",
        ),
    ],
)
async def test_the_mock_refuses_a_claude_field_converse_gives_too(
    own: dict[str, Any], fields: dict[str, Any], expected: str
) -> None:
    await _the_mock_reads_claudes_fields(HAIKU, fields, expected, **own)


async def _the_mock_reads_claudes_fields(
    model: str,
    fields: dict[str, Any],
    expected: str | None,
    *,
    thinking: bool = False,
    **own: Any,
) -> None:
    """Send a Converse body to ``model`` with ``fields`` in additionalModelRequestFields
    (and ``own`` Converse fields) straight to the mock: the client refuses such calls
    before sending."""
    key = "ABSKbm90LWpzb24ta2V5"
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}
    extra = dict(fields)
    if thinking:
        extra["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": [{"text": "think"}]}],
        "toolConfig": {"tools": [tool]},
        "additionalModelRequestFields": extra,
    }
    for group, value in own.items():
        body[group] = {**body.get(group, {}), **value}
    with BedrockMock(bearer_token=key) as mock:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"{mock.base_url}/model/{model.split('/', 1)[1]}/converse"
            answer = await http.post(url, json=body, headers={"authorization": f"Bearer {key}"})
    if expected is None:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 400, answer.text
        assert expected in answer.json()["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "expected"),
    [(HAIKU, Reasoning(budget_tokens=24576)), (OPUS, Reasoning("high")), (NOVA, Reasoning("high"))],
)
async def test_a_stream_sends_the_same_setting(
    mock: BedrockMock, make_client: MakeClient, model: str, expected: Reasoning
) -> None:
    mock.script.reply("done", reasoning="I thought")
    async with make_client() as client, client.stream(model, "think", reasoning="high") as s:
        async for _ in s:
            pass
    # Converse, or the Messages API (stream: true) for Claude 4.7 on
    path = mock.last_request.path
    assert path.endswith("/converse-stream") or mock.last_request.json()["stream"] is True
    assert s.response.reasoning == "I thought"
    assert mock.sent_reasoning(mock.last_request) == expected


@pytest.mark.anyio
async def test_a_refused_stream_sends_nothing(mock: BedrockMock, make_client: MakeClient) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="sends no reasoning setting"):
            async with client.stream(LLAMA, "think", reasoning="low") as s:
                async for _ in s:
                    pass
    assert not mock.requests


# -- the mock refuses what the models refuse --------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (HAIKU, {"thinking": {"type": "enabled", "budget_tokens": 100}}, "greater than or equal"),
        (HAIKU, {"thinking": {"type": "adaptive"}}, "adaptive: this model does not support"),
        (OPUS, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "not supported"),
        (OPUS, {"thinking": {"type": "disabled"}}, "not supported for this model"),
        (OLD, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "extended thinking"),
        (SONNET, {"output_config": {"effort": "xhigh"}}, "'xhigh' is not supported"),
        (
            HAIKU,
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5},
            "`top_k` must be unset",
        ),
        (NOVA, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "extraneous key"),
        (LLAMA, {"reasoningConfig": {"type": "enabled"}}, "extraneous key"),
        (NOVA, {"reasoningConfig": {"type": "on"}}, "expected one of"),
        (NOVA, {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "max"}}, "enum"),
        (OSS, {"reasoning_effort": "none"}, "not a valid enum value"),
    ],
)
async def test_the_mock_refuses_fields_the_models_refuse(
    make_client: MakeClient, model: str, extra: dict[str, Any], message: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=message) as caught:
            await client.chat(model, "think", extra={"additionalModelRequestFields": extra})
    assert caught.value.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "inference", "extra", "message"),
    [
        (
            HAIKU,
            {"maxTokens": 2048},
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            "`max_tokens` must be greater",
        ),
        (
            HAIKU,
            {"temperature": 0.5, "maxTokens": 4096},
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            "`temperature` may only be set to 1",
        ),
        (
            NOVA,
            {"maxTokens": 100},
            {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}},
            "maxTokens must not be set",
        ),
    ],
)
async def test_the_mock_checks_the_inference_config_against_thinking(
    make_client: MakeClient,
    model: str,
    inference: dict[str, Any],
    extra: dict[str, Any],
    message: str,
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=message):
            await client.chat(
                model,
                "think",
                extra={"inferenceConfig": inference, "additionalModelRequestFields": extra},
            )


@pytest.mark.anyio
async def test_summary_asks_adaptive_claude_for_its_thinking_text(send: Send) -> None:
    body = await send(OPUS, reasoning=Reasoning("low", summary=True))
    assert fields(body) == {
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {"effort": "low"},
    }


# -- Claude 5: thinking by default ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "off"),
    [
        (OPUS_5, "disabled"),
        (SONNET_5, "disabled"),
        (HAIKU_5_5, "disabled"),
        (SONNET_5_5, "between_tools"),  # Sonnet 5.5 refuses disabled
        ("bedrock/arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-5", "disabled"),
    ],
)
@pytest.mark.parametrize("reasoning", ["none", False])
async def test_claude_5_thinking_off_is_sent_as_the_model_takes_it(
    mock: BedrockMock, send: Send, model: str, off: str, reasoning: Any
) -> None:
    body = await send(model, reasoning=reasoning)
    assert fields(body) == {"thinking": {"type": off}}
    assert "inferenceConfig" not in body
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5_5, FABLE_5_1, MYTHOS_5])
async def test_claude_5_models_that_always_think_refuse_thinking_off(
    refused: Send, model: str
) -> None:
    error = await refused(model, reasoning="none")
    assert "always thinks" in error.message
    assert error.hint is not None and "reasoning='low'" in error.hint


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5, OPUS_5_5, SONNET_5_5])
async def test_claude_5_without_reasoning_is_sent_nothing(
    mock: BedrockMock, send: Send, model: str
) -> None:
    body = await send(model)
    assert "additionalModelRequestFields" not in body and "inferenceConfig" not in body
    assert mock.sent_reasoning(mock.last_request) is None  # the model's default: it thinks


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "effort"),
    [(OPUS_5, "max", "max"), (SONNET_5_5, "xhigh", "xhigh"), (HAIKU_5_5, "minimal", "low")],
)
async def test_claude_5_takes_every_effort(
    send: Send, model: str, reasoning: str, effort: str
) -> None:
    body = await send(model, reasoning=reasoning)
    assert fields(body) == {"thinking": {"type": "adaptive"}, "output_config": {"effort": effort}}


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5_5, SONNET_5_5, FABLE_5_1])
@pytest.mark.parametrize("reasoning", [None, "high"])
async def test_a_forced_tool_is_refused_where_the_model_never_takes_one(
    mock: BedrockMock, make_client: MakeClient, model: str, reasoning: Any
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="takes no forced tool") as caught:
            await client.chat(
                model, "think", reasoning=reasoning, tools=[WEATHER_TOOL], tool_choice="required"
            )
    assert caught.value.param == "tool_choice" and caught.value.status is None
    assert not mock.requests


@pytest.mark.anyio
async def test_on_a_model_that_always_thinks_the_fix_is_not_thinking_off(refused: Send) -> None:
    # (a temperature is refused on Claude 5 thinking or not: test_sampling.py)
    forced = {"tools": [WEATHER_TOOL], "tool_choice": "required"}
    error = await refused(MYTHOS_5, reasoning="high", **forced)
    assert error.hint is not None and "reasoning='none'" not in error.hint
    error = await refused(OPUS_5, reasoning="high", **forced)
    assert error.hint is not None and "reasoning='none'" in error.hint


@pytest.mark.parametrize(
    ("model", "off", "forced_tool"),
    [
        ("anthropic.claude-opus-5", "disabled", True),
        ("us.anthropic.claude-opus-5-5", None, False),
        ("anthropic.claude-sonnet-5", "disabled", True),
        ("anthropic.claude-sonnet-5-5", "between_tools", False),
        ("anthropic.claude-haiku-5-5", "disabled", True),
        ("anthropic.claude-fable-5", None, True),
        ("anthropic.claude-fable-5-1", None, False),
        ("anthropic.claude-mythos-5-1", None, False),
    ],
)
def test_claude_5_rules_are_read_from_the_model_id(
    model: str, off: str | None, forced_tool: bool
) -> None:
    rules = claude5(model)
    assert rules is not None and (rules.off, rules.forced_tool) == (off, forced_tool)
    assert claude5("anthropic.claude-opus-4-7") is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (OPUS_5_5, {"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not'),
        (FABLE_5_1, {"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not'),
        (SONNET_5_5, {"thinking": {"type": "disabled"}}, "between_tools"),
        (OPUS_5, {"thinking": {"type": "between_tools"}}, "not supported"),
        (
            OPUS_5,
            {"thinking": {"type": "disabled"}, "output_config": {"effort": "xhigh"}},
            "effort high or below",
        ),
    ],
)
async def test_the_mock_refuses_what_claude_5_refuses(
    make_client: MakeClient, model: str, extra: dict[str, Any], message: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=message) as caught:
            await client.chat(model, "think", extra={"additionalModelRequestFields": extra})
    assert caught.value.status == 400


MESSAGES_KEY = "ABSKbm90LWpzb24ta2V5"


def post_messages(body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` as it is to a fresh mock's Messages route (the client refuses what
    the mock checks here before sending it)."""
    with BedrockMock(bearer_token=MESSAGES_KEY) as mock, httpx.Client(timeout=10) as http:
        url = f"{mock.base_url}/anthropic/v1/messages"
        answer = http.post(url, json=body, headers={"authorization": f"Bearer {MESSAGES_KEY}"})
        assert not mock.failures
    return answer


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"type": "any"}, "Thinking may not be enabled when tool_choice forces tool use."),
        (
            {"type": "tool", "name": "get_weather"},
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
        ({"type": "auto"}, None),
        ("any", "tool_choice: Input should be a valid dictionary"),
        ({"type": "required"}, "Input tag 'required' found using 'type' does not match"),
        ({"type": "tool"}, "tool_choice.tool.name: Field required"),
    ],
)
def test_the_mock_refuses_a_forced_tool_while_claude_thinks_on_the_messages_route(
    choice: Any, message: str | None
) -> None:
    # Bedrock relays Claude's refusal in the Messages API's error shape.
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    answer = post_messages(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "model": "anthropic.claude-haiku-4-5-20251001-v1:0",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "think"}]}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [tool],
            "tool_choice": choice,
        }
    )
    if message is None:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]


@pytest.mark.parametrize("choice", [{"any": {}}, {"tool": {"name": "get_weather"}}])
def test_the_mock_refuses_claude_5_calls_whatever_the_thinking(choice: dict[str, Any]) -> None:
    # The client refuses a forced tool before sending, extra's included: the body goes
    # to the mock as it is.
    key = "ABSKbm90LWpzb24ta2V5"
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}
    body = {
        "messages": [{"role": "user", "content": [{"text": "think"}]}],
        "toolConfig": {"tools": [tool], "toolChoice": choice},
    }
    headers = {"authorization": f"Bearer {key}"}
    with BedrockMock(bearer_token=key) as mock, httpx.Client(timeout=10) as http:

        def send(model: str) -> httpx.Response:
            url = f"{mock.base_url}/model/{model}/converse"
            return http.post(url, json=body, headers=headers)

        refused, taken = send("anthropic.claude-opus-5-5"), send("anthropic.claude-opus-5")
        assert not mock.failures
    assert refused.status_code == 400, refused.text
    assert '"tool" and "any" are not supported' in refused.json()["message"]
    assert taken.status_code == 200, taken.text
