"""``reasoning=`` as Claude takes it, over loopback HTTP to the mock: budgets, adaptive
thinking, the max_tokens interplay, the calls refused before sending, ``extra``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, Reasoning
from relaykit.testing import one_try_config
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.testing import AnthropicMock

from .conftest import client

KEY = "sk-ant-test-0123456789abcdef0123"
FOUNDRY_KEY = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
HAIKU = "anthropic/claude-haiku-4-5"  # budgets
OPUS = "anthropic/claude-opus-4-7"  # adaptive thinking only
SONNET = "anthropic/claude-sonnet-4-6"  # adaptive thinking, no xhigh effort
OLD = "anthropic/claude-3-5-haiku-20241022"  # does not think
# Claude 5 thinks by default
OPUS_5 = "anthropic/claude-opus-5"  # off: disabled
SONNET_5 = "anthropic/claude-sonnet-5"  # off: disabled
HAIKU_5_5 = "anthropic/claude-haiku-5-5"  # off: disabled; default effort medium
SONNET_5_5 = "anthropic/claude-sonnet-5-5"  # off: between_tools; no forced tool
OPUS_5_5 = "anthropic/claude-opus-5-5"  # always thinks; no forced tool; default medium
FABLE_5_1 = "anthropic/claude-fable-5-1"  # always thinks; no forced tool
FABLE_5 = "anthropic/claude-fable-5"  # always thinks
MYTHOS_5 = "anthropic/claude-mythos-5"  # always thinks
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}
#: as sent: Claude's structured outputs want every object closed (see relaykit_anthropic.schemas)
SENT_SCHEMA = {**SCHEMA, "additionalProperties": False}


async def send(mock: AnthropicMock, model: str = HAIKU, **params: Any) -> dict[str, Any]:
    """The body one chat with ``params`` sends."""
    async with client(mock) as c:
        await c.chat(model, "think", **params)
    body: dict[str, Any] = mock.last_request.json()
    return body


async def refused(mock: AnthropicMock, model: str = HAIKU, **params: Any) -> InvalidRequestError:
    """The refusal of a chat with ``params``, checked to have sent nothing."""
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(model, "think", **params)
    assert caught.value.status is None, "refused before sending"
    assert caught.value.param == "reasoning"
    assert not mock.requests
    return caught.value


# -- budgets (Claude 3.7 to 4.5) ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "budget"),
    [
        ("minimal", 1024),  # 512 raised to the API's least budget
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
        ("xhigh", 32768),
        (True, 8192),  # thinking on, no amount: medium's budget
        (2048, 2048),
        (500, 1024),
        ({"effort": "high", "budget_tokens": 3000}, 3000),  # the budget given wins
    ],
)
async def test_a_setting_becomes_a_budget_on_top_of_the_default_max_tokens(
    mock: AnthropicMock, reasoning: Any, budget: int
) -> None:
    body = await send(mock, reasoning=reasoning)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 4096 + budget
    assert "output_config" not in body
    assert mock.sent_reasoning(mock.last_request) == Reasoning(budget_tokens=budget)


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", ["none", False, 0])
async def test_thinking_off_is_sent_disabled(mock: AnthropicMock, reasoning: Any) -> None:
    body = await send(mock, reasoning=reasoning, temperature=0.2)  # no conflict when off
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] == 4096
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_without_reasoning_nothing_is_sent(mock: AnthropicMock) -> None:
    body = await send(mock)
    assert "thinking" not in body
    assert body["max_tokens"] == 4096
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_a_configured_default_max_tokens_is_the_answers_share(mock: AnthropicMock) -> None:
    async with client(mock, default_max_tokens=1000) as c:
        await c.chat(HAIKU, "think", reasoning="low")
    assert mock.last_request.json()["max_tokens"] == 2024


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "budget"),
    [
        ("high", 8000, 4000),  # an effort leaves the answer half of max_tokens
        ("medium", 20000, 8192),  # half would be more than the effort's budget
        ("low", 1500, 1024),  # half is under the least budget, which still fits
        (True, 3000, 1500),
        (5000, 6000, 5000),  # a budget given in tokens is sent as given
    ],
)
async def test_a_given_max_tokens_caps_an_efforts_budget(
    mock: AnthropicMock, reasoning: Any, max_tokens: int, budget: int
) -> None:
    body = await send(mock, reasoning=reasoning, max_tokens=max_tokens)
    assert body["max_tokens"] == max_tokens
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}


@pytest.mark.anyio
async def test_an_effort_that_cannot_fit_max_tokens_is_refused(mock: AnthropicMock) -> None:
    error = await refused(mock, reasoning="low", max_tokens=1024)
    assert "no room for Claude's least thinking budget (1024 tokens)" in error.message
    assert error.hint is not None and "raise max_tokens above 1024" in error.hint


@pytest.mark.anyio
@pytest.mark.parametrize(("reasoning", "max_tokens"), [(4096, 4096), (9000, 4096), (500, 1000)])
async def test_a_budget_not_below_max_tokens_is_refused(
    mock: AnthropicMock, reasoning: int, max_tokens: int
) -> None:
    error = await refused(mock, reasoning=reasoning, max_tokens=max_tokens)
    assert f"does not fit in max_tokens={max_tokens}" in error.message
    assert error.hint is not None and "raise max_tokens" in error.hint
    assert "lower the budget" in error.hint


# -- what thinking does not go with ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "words", "fix"),
    [
        ({"temperature": 0.2}, "temperature but 1", "drop temperature"),
        ({"top_p": 0.9}, "top_p under 0.95", "drop top_p"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool is forced", "'auto'"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "get_weather"}, "tool is forced", "'auto'"),
        ({"response_format": {"type": "json_object"}}, "tool is forced", "native"),
    ],
)
# Sonnet 4.6 for adaptive thinking: Opus 4.7 on refuse sampling parameters whatever
# the thinking (test_sampling.py).
@pytest.mark.parametrize("model", [HAIKU, SONNET])
async def test_what_claude_refuses_while_thinking_is_refused_before_sending(
    mock: AnthropicMock, model: str, params: dict[str, Any], words: str, fix: str
) -> None:
    error = await refused(mock, model, reasoning="high", **params)
    assert words in error.message
    assert error.hint is not None and fix in error.hint


@pytest.mark.anyio
async def test_json_emulated_with_a_tool_is_refused_with_thinking(mock: AnthropicMock) -> None:
    async with client(mock, structured_output="tool") as c:
        with pytest.raises(InvalidRequestError, match="tool is forced") as caught:
            await c.chat(HAIKU, "think", reasoning="high", response_format=SCHEMA)
    assert caught.value.hint is not None and "structured_output = 'native'" in caught.value.hint
    assert not mock.requests


@pytest.mark.anyio
# Haiku 4.5 takes temperature or top_p, not both (thinking or not)
@pytest.mark.parametrize("sampling", [{"temperature": 1}, {"top_p": 0.95}])
async def test_what_claude_takes_while_thinking_is_sent(
    mock: AnthropicMock, sampling: dict[str, Any]
) -> None:
    body = await send(
        mock,
        reasoning="high",
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        response_format=SCHEMA,  # native structured output: no tool forced
        **sampling,
    )
    assert {k: body[k] for k in sampling} == sampling
    assert body["tool_choice"] == {"type": "auto"}
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SENT_SCHEMA}}


# -- adaptive thinking (Claude 4.6 on) --------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "effort", "room"),
    [
        (OPUS, "high", "high", 24576),
        (OPUS, "minimal", "low", 1024),  # the least effort Claude takes
        (OPUS, "xhigh", "xhigh", 32768),
        (SONNET, "xhigh", "high", 32768),  # xhigh came with Opus 4.7
        (SONNET, "medium", "medium", 8192),
        (OPUS, 2048, "medium", 2048),  # a budget goes as the effort it stands for
        (OPUS, 500, "low", 1024),
        (OPUS, 30000, "high", 30000),
    ],
)
async def test_claude_4_6_on_takes_adaptive_thinking_with_an_effort(
    mock: AnthropicMock, model: str, reasoning: Any, effort: str, room: int
) -> None:
    body = await send(mock, model, reasoning=reasoning)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": effort}
    assert body["max_tokens"] == 4096 + room  # room to think on top of the answer's share


@pytest.mark.anyio
async def test_adaptive_thinking_on_without_an_amount_sends_no_effort(
    mock: AnthropicMock,
) -> None:
    body = await send(mock, OPUS, reasoning=True)
    assert body["thinking"] == {"type": "adaptive"}
    assert "output_config" not in body
    assert body["max_tokens"] == 4096 + 8192
    assert mock.sent_reasoning(mock.last_request) == Reasoning()


@pytest.mark.anyio
async def test_adaptive_thinking_off_sends_nothing(mock: AnthropicMock) -> None:
    body = await send(mock, OPUS, reasoning="none")
    assert "thinking" not in body and "output_config" not in body
    assert body["max_tokens"] == 4096
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_the_effort_joins_a_structured_output_format(mock: AnthropicMock) -> None:
    body = await send(mock, OPUS, reasoning="low", response_format=SCHEMA, max_tokens=500)
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": SENT_SCHEMA},
        "effort": "low",
    }
    assert body["max_tokens"] == 500  # adaptive thinking has no budget to fit


# -- models that do not think --------------------------------------------------------


@pytest.mark.anyio
async def test_a_model_that_does_not_think_refuses_thinking_on(mock: AnthropicMock) -> None:
    error = await refused(mock, OLD, reasoning="high")
    assert "does not think" in error.message
    body = await send(mock, OLD, reasoning="none")  # already so: nothing to send
    assert "thinking" not in body
    assert body["max_tokens"] == 4096


# -- extra, streaming ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"temperature": 0.5}, "temperature but 1"),
        ({"top_p": 0.5}, "top_p under 0.95"),
        # relaykit has no top_k: only extra gives it ("`top_k` must be unset")
        ({"top_k": 5}, "no top_k while it thinks"),
    ],
)
@pytest.mark.parametrize("model", [HAIKU, SONNET])
async def test_what_extra_gives_claude_while_thinking_is_refused_before_sending(
    mock: AnthropicMock, model: str, extra: dict[str, Any], words: str
) -> None:
    # extra's values are the ones the body carries (the API would answer 400)
    error = await refused(mock, model, reasoning="high", extra=extra)
    assert words in error.message


@pytest.mark.anyio
async def test_a_sampling_value_extra_replaces_is_not_refused(mock: AnthropicMock) -> None:
    body = await send(mock, reasoning="low", temperature=0.5, extra={"temperature": 1})
    assert body["temperature"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}], ids=["any", "tool"]
)
@pytest.mark.parametrize("given", [None, "auto"])
@pytest.mark.parametrize("model", [HAIKU, SONNET])
async def test_a_tool_extra_forces_while_claude_thinks_is_refused_before_sending(
    mock: AnthropicMock, model: str, given: str | None, choice: dict[str, Any]
) -> None:
    # extra's tool_choice replaces relaykit's in the body (the API would answer 400)
    error = await refused(
        mock,
        model,
        reasoning="high",
        tools=[WEATHER_TOOL],
        tool_choice=given,
        extra={"tool_choice": choice},
    )
    assert "tool is forced" in error.message
    assert error.hint is not None and "drop tool_choice from extra" in error.hint


@pytest.mark.anyio
async def test_a_forced_tool_extra_replaces_is_not_refused(mock: AnthropicMock) -> None:
    body = await send(
        mock,
        reasoning="high",
        tools=[WEATHER_TOOL],
        tool_choice="required",
        extra={"tool_choice": {"type": "auto"}},
    )
    assert body["tool_choice"] == {"type": "auto"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}


@pytest.mark.anyio
async def test_extras_thinking_replaces_reasoning(mock: AnthropicMock) -> None:
    given = {"type": "enabled", "budget_tokens": 2048}
    body = await send(mock, reasoning="high", extra={"thinking": given})
    assert body["thinking"] == given
    assert body["max_tokens"] == 4096 + 2048


@pytest.mark.anyio
async def test_extra_merges_around_the_thinking(mock: AnthropicMock) -> None:
    body = await send(mock, reasoning="low", extra={"metadata": {"user_id": "u1"}})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["metadata"] == {"user_id": "u1"}


@pytest.mark.anyio
@pytest.mark.parametrize("model", [HAIKU, OPUS])
async def test_a_stream_sends_the_same_setting(mock: AnthropicMock, model: str) -> None:
    mock.script.reply("done", reasoning="I thought")
    async with client(mock) as c, c.stream(model, "think", reasoning="high") as s:
        async for _ in s:
            pass
    body = mock.last_request.json()
    assert body["stream"] is True
    assert s.response.reasoning == "I thought"
    expected = Reasoning("high") if model == OPUS else Reasoning(budget_tokens=24576)
    assert mock.sent_reasoning(mock.last_request) == expected


@pytest.mark.anyio
async def test_a_refused_stream_sends_nothing(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="temperature"):
            async with c.stream(HAIKU, "think", reasoning="high", temperature=0) as s:
                async for _ in s:
                    pass
    assert not mock.requests


# -- the mock refuses what the API refuses -------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (HAIKU, {"thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal"),
        (HAIKU, {"thinking": {"type": "enabled"}}, "budget_tokens: Field required"),
        (HAIKU, {"thinking": {"type": "on"}}, "does not match any of the expected tags"),
        (HAIKU, {"thinking": {"type": "adaptive"}}, "does not support adaptive thinking"),
        (OPUS, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "not supported"),
        (OPUS, {"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not supported'),
        (OLD, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "extended thinking"),
        (SONNET, {"output_config": {"effort": "xhigh"}}, "'xhigh' is not supported"),
        (HAIKU, {"output_config": {"effort": "low"}}, "effort is not supported"),
        (OPUS, {"output_config": {"effort": "extreme"}}, "Input should be"),
        (
            HAIKU,
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5},
            "`top_k` must be unset",
        ),
    ],
)
async def test_the_mock_refuses_settings_the_api_refuses(
    mock: AnthropicMock, model: str, extra: dict[str, Any], message: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=message) as caught:
            await c.chat(model, "think", extra=extra)
    assert caught.value.status == 400


@pytest.mark.anyio
async def test_the_mock_refuses_a_budget_not_below_max_tokens(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="`max_tokens` must be greater"):
            await c.chat(
                HAIKU,
                "think",
                max_tokens=2048,
                extra={"thinking": {"type": "enabled", "budget_tokens": 2048}},
            )


@pytest.mark.anyio
@pytest.mark.parametrize(("summary", "display"), [(True, "summarized"), (False, "omitted")])
async def test_summary_says_whether_adaptive_thinking_comes_back_as_text(
    summary: bool, display: str
) -> None:
    # Claude 4.7 on omit the thinking text unless asked for its summary
    with AnthropicMock(api_key=KEY) as mock:
        body = await send(mock, OPUS, reasoning=Reasoning("high", summary=summary))
        assert body["thinking"] == {"type": "adaptive", "display": display}
        assert mock.sent_reasoning(mock.last_request) == Reasoning("high", summary=summary)


@pytest.mark.anyio
async def test_a_budget_model_returns_its_thinking_anyway_so_summary_is_not_sent() -> None:
    with AnthropicMock(api_key=KEY) as mock:
        body = await send(mock, HAIKU, reasoning=Reasoning("low", summary=False))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


# -- Claude 5: thinking by default ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "off"),
    [
        (OPUS_5, "disabled"),
        (SONNET_5, "disabled"),
        (HAIKU_5_5, "disabled"),
        (SONNET_5_5, "between_tools"),  # Sonnet 5.5 refuses disabled
        ("anthropic/claude-opus-5-20260724", "disabled"),  # a dated snapshot
        ("anthropic/claude-nova-5", "disabled"),  # unknown: a 400 if it cannot stop
    ],
)
@pytest.mark.parametrize("reasoning", ["none", False, 0])
async def test_claude_5_thinking_off_is_sent_as_the_model_takes_it(
    mock: AnthropicMock, model: str, off: str, reasoning: Any
) -> None:
    body = await send(mock, model, reasoning=reasoning)
    assert body["thinking"] == {"type": off}
    assert "output_config" not in body  # disabled is taken at effort high or below only
    assert body["max_tokens"] == 4096  # no thinking: the answer's share alone
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5_5, FABLE_5_1, FABLE_5, MYTHOS_5])
async def test_claude_5_models_that_always_think_refuse_thinking_off(
    mock: AnthropicMock, model: str
) -> None:
    error = await refused(mock, model, reasoning="none")
    assert "always thinks" in error.message
    assert error.hint is not None and "reasoning='low'" in error.hint


@pytest.mark.anyio
async def test_claude_5_models_that_always_think_refuse_thinking_off_in_a_stream(
    mock: AnthropicMock,
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="always thinks"):
            async with c.stream(OPUS_5_5, "think", reasoning=False) as s:
                async for _ in s:
                    pass
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "room"),
    [
        (OPUS_5, 24576),  # default effort high
        (SONNET_5_5, 24576),
        (FABLE_5_1, 24576),
        (OPUS_5_5, 8192),  # default effort medium
        (HAIKU_5_5, 8192),
        (OPUS, 0),  # Claude 4.7 thinks only when asked
        (HAIKU, 0),
    ],
)
async def test_without_reasoning_nothing_is_sent_but_max_tokens_leaves_room_to_think(
    mock: AnthropicMock, model: str, room: int
) -> None:
    body = await send(mock, model)
    assert "thinking" not in body and "output_config" not in body
    assert body["max_tokens"] == 4096 + room


@pytest.mark.anyio
async def test_a_configured_default_max_tokens_is_the_answers_share_on_claude_5(
    mock: AnthropicMock,
) -> None:
    async with client(mock, default_max_tokens=1000) as c:
        await c.chat(OPUS_5, "think")
    assert mock.last_request.json()["max_tokens"] == 1000 + 24576


@pytest.mark.anyio
async def test_a_given_max_tokens_is_sent_as_given_on_claude_5(mock: AnthropicMock) -> None:
    assert (await send(mock, OPUS_5, max_tokens=300))["max_tokens"] == 300


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "effort", "room"),
    [
        (OPUS_5, "minimal", "low", 1024),
        (OPUS_5, "xhigh", "xhigh", 32768),
        (OPUS_5, "max", "max", 32768),
        (SONNET_5_5, "xhigh", "xhigh", 32768),
        (HAIKU_5_5, "max", "max", 32768),
        (OPUS_5_5, "low", "low", 1024),
        (FABLE_5_1, 2048, "medium", 2048),
    ],
)
async def test_claude_5_takes_every_effort(
    mock: AnthropicMock, model: str, reasoning: Any, effort: str, room: int
) -> None:
    body = await send(mock, model, reasoning=reasoning)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": effort}
    assert body["max_tokens"] == 4096 + room


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "room"), [(OPUS_5, 24576), (OPUS_5_5, 8192)])
async def test_claude_5_thinking_on_without_an_amount_has_room_for_its_default_effort(
    mock: AnthropicMock, model: str, room: int
) -> None:
    body = await send(mock, model, reasoning=True)
    assert body["thinking"] == {"type": "adaptive"} and "output_config" not in body
    assert body["max_tokens"] == 4096 + room


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "words"),
    [
        # (a temperature is refused on Claude 5 thinking or not: test_sampling.py)
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool is forced"),
    ],
)
async def test_on_a_model_that_always_thinks_the_fix_is_not_thinking_off(
    mock: AnthropicMock, params: dict[str, Any], words: str
) -> None:
    error = await refused(mock, FABLE_5, reasoning="high", **params)
    assert words in error.message
    assert error.hint is not None and "reasoning='none'" not in error.hint
    error = await refused(mock, OPUS_5, reasoning="high", **params)
    assert error.hint is not None and "reasoning='none'" in error.hint


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5_5, SONNET_5_5, FABLE_5_1])
@pytest.mark.parametrize("reasoning", [None, "none", "high"])
async def test_a_forced_tool_is_refused_where_the_model_never_takes_one(
    mock: AnthropicMock, model: str, reasoning: Any
) -> None:
    if reasoning == "none" and model != SONNET_5_5:
        return  # refused for thinking off first
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="takes no forced tool") as caught:
            await c.chat(
                model, "think", reasoning=reasoning, tools=[WEATHER_TOOL], tool_choice="required"
            )
        assert caught.value.param == "tool_choice" and caught.value.status is None
        with pytest.raises(InvalidRequestError, match="takes no forced tool") as caught:
            await c.chat(model, "think", response_format={"type": "json_object"})
        assert caught.value.param == "response_format"
        assert caught.value.hint is not None and "native" in caught.value.hint
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5_5, SONNET_5_5, FABLE_5_1])
async def test_a_forced_tool_extra_gives_is_refused_where_the_model_never_takes_one(
    mock: AnthropicMock, model: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="extra's tool_choice forces one") as caught:
            await c.chat(
                model, "think", tools=[WEATHER_TOOL], extra={"tool_choice": {"type": "any"}}
            )
        # json_object is emulated with a forced tool, but extra's choice replaces it
        with pytest.raises(InvalidRequestError, match="takes no forced tool") as other:
            await c.chat(
                model,
                "think",
                tools=[WEATHER_TOOL],
                response_format={"type": "json_object"},
                extra={"tool_choice": {"type": "tool", "name": "get_weather"}},
            )
        assert not mock.requests
        await c.chat(
            model,
            "think",
            tools=[WEATHER_TOOL],
            tool_choice="required",
            extra={"tool_choice": {"type": "auto"}},
        )
    for error in (caught.value, other.value):
        assert (error.param, error.status) == ("tool_choice", None)
        assert error.hint is not None and "drop tool_choice from extra" in error.hint
    assert mock.last_request.json()["tool_choice"] == {"type": "auto"}


@pytest.mark.anyio
@pytest.mark.parametrize("model", [OPUS_5, SONNET_5, HAIKU_5_5, FABLE_5])
async def test_without_reasoning_a_claude_5_call_is_not_checked_for_thinking(
    mock: AnthropicMock, model: str
) -> None:
    # Opus 5, Sonnet 5, Haiku 5.5 and Fable 5 take a forced tool (skipping their
    # thinking): with no reasoning= relaykit leaves the call to the API.
    body = await send(mock, model, tools=[WEATHER_TOOL], tool_choice="get_weather")
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert "thinking" not in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (OPUS_5_5, {"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not'),
        (FABLE_5, {"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not'),
        (SONNET_5_5, {"thinking": {"type": "disabled"}}, "between_tools"),
        (OPUS_5, {"thinking": {"type": "between_tools"}}, "not supported"),
        (OPUS_5, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "not supported"),
        (
            OPUS_5,
            {"thinking": {"type": "disabled"}, "output_config": {"effort": "max"}},
            "effort high or below",
        ),
        (
            SONNET_5_5,
            {"thinking": {"type": "between_tools"}, "output_config": {"effort": "xhigh"}},
            "effort high or below",
        ),
        # (sampling parameters are refused before sending: test_sampling.py; a forced
        # tool too, from extra as well: the test after this one sends it as it is)
    ],
)
async def test_the_mock_refuses_what_claude_5_refuses(
    mock: AnthropicMock, model: str, extra: dict[str, Any], message: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=message) as caught:
            await c.chat(model, "think", extra=extra)
    assert caught.value.status == 400


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_the_mock_refuses_a_forced_tool_where_claude_5_never_takes_one(
    choice: dict[str, Any],
) -> None:
    # The client refuses it before sending, extra's included: the body goes as it is.
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    body = {"max_tokens": 50, "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with AnthropicMock(api_key=KEY) as mock, httpx.Client(timeout=10) as http:

        def send(model: str) -> httpx.Response:
            sent = {**body, "model": model, "tool_choice": choice}
            return http.post(f"{mock.base_url}/v1/messages", json=sent, headers=headers)

        refused, taken = send("claude-opus-5-5"), send("claude-opus-5")
    assert refused.status_code == 400, refused.text
    assert '"tool" and "any" are not supported' in refused.json()["error"]["message"]
    assert taken.status_code == 200, taken.text


@pytest.mark.anyio
async def test_the_mock_takes_what_claude_5_takes(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        await c.chat(OPUS_5, "think", extra={"thinking": {"type": "disabled"}})
        await c.chat(
            HAIKU_5_5,
            "think",
            extra={"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}},
        )
        await c.chat(SONNET_5_5, "think", extra={"output_config": {"effort": "max"}})
        assert mock.sent_reasoning(mock.last_request) == Reasoning("max")
        await c.chat(SONNET_5_5, "think", extra={"thinking": {"type": "between_tools"}})
        assert mock.sent_reasoning(mock.last_request) == Reasoning("none")
        await c.chat(OPUS_5, "think", tools=[WEATHER_TOOL], tool_choice="required")
        assert mock.sent_reasoning(mock.last_request) is None  # the model's default


# -- a Foundry deployment thinks as the model it serves --------------------------------


@pytest.mark.anyio
async def test_a_foundry_deployment_thinks_as_the_model_it_serves() -> None:
    # The deployments' names carry no Claude version: only the deployments map says
    # which model each serves, and so which thinking it takes.
    deployments = {
        "prod-opus": "claude-opus-4-7",  # adaptive thinking only
        "prod-fable": "claude-fable-5-1",  # always thinks; no forced tool
        "prod-haiku": "claude-haiku-5-5",  # thinks by default (at effort medium)
    }
    with FoundryClaudeMock(api_key=FOUNDRY_KEY, deployments=deployments) as foundry:
        cfg = one_try_config(
            {"foundry-anthropic": {"base_url": foundry.base_url, "deployments": deployments}}
        )
        async with relaykit.Client(cfg, env={"ANTHROPIC_FOUNDRY_API_KEY": FOUNDRY_KEY}) as c:
            await c.chat("foundry-anthropic/prod-opus", "think", reasoning="xhigh")
            body = foundry.last_request.json()
            assert body["thinking"] == {"type": "adaptive"}
            assert body["output_config"] == {"effort": "xhigh"}
            with pytest.raises(InvalidRequestError, match="always thinks") as caught:
                await c.chat("foundry-anthropic/prod-fable", "think", reasoning="none")
            assert (caught.value.param, caught.value.status) == ("reasoning", None)
            assert caught.value.model == "prod-fable"
            with pytest.raises(InvalidRequestError, match="takes no forced tool") as caught:
                await c.chat(
                    "foundry-anthropic/prod-fable",
                    "think",
                    tools=[WEATHER_TOOL],
                    tool_choice="required",
                )
            assert caught.value.status is None
            await c.chat("foundry-anthropic/prod-haiku", "think")
            assert foundry.last_request.json()["max_tokens"] == 4096 + 8192
        assert len(foundry.requests) == 2
