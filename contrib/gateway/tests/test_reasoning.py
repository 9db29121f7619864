"""Each API's thinking setting read as relaykit's ``reasoning=``: over loopback HTTP it
reaches a model of another vendor as that vendor's own field, and a bad value is the
API's 400, sent before any call; then the parsing, case by case."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam, ThinkingConfigParam
from openai.types.chat import ChatCompletionMessageParam

import relaykit
from relaykit import InvalidRequestError, Reasoning
from relaykit.testing import OpenAIMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.anthropic_dialect import AnthropicDialect
from relaykit_gateway.openai_dialect import OpenAIDialect
from relaykit_gateway.responses_dialect import ResponsesDialect
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running, running_over

AUTH = {"authorization": f"Bearer {KEY}"}
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Think it over."}]
#: USER in the types of Anthropic's SDK
CLAUDE_USER: list[MessageParam] = [{"role": "user", "content": "Think it over."}]
#: OpenAI's reasoning model at the mock (it refuses an effort for gpt-4o-mini)
O4 = "openai/o4-mini"


def sent(mock: OpenAIMock | AnthropicMock) -> dict[str, Any]:
    """The body of the mock's last request."""
    body: dict[str, Any] = mock.last_request.json()
    return body


def as_effort(budget: int) -> Reasoning:
    """What an effort-only API gets for a budget: the effort relaykit says it stands for."""
    return Reasoning(Reasoning(budget_tokens=budget).level())


@asynccontextmanager
async def openai_sdk(**base_urls: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with (
        running_over(**base_urls) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as sdk,
    ):
        yield sdk


@asynccontextmanager
async def anthropic_sdk(**base_urls: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with (
        running_over(**base_urls) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as sdk,
    ):
        yield sdk


@asynccontextmanager
async def plain_http(**base_urls: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_over(**base_urls) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


# -- Chat Completions -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_reasoning_effort_reaches_an_openai_model(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    async with openai_sdk(openai=openai_mock.base_url) as sdk:
        if streamed:
            stream = await sdk.chat.completions.create(
                model=O4, messages=USER, reasoning_effort="high", stream=True
            )
            async for _ in stream:
                pass
        else:
            await sdk.chat.completions.create(model=O4, messages=USER, reasoning_effort="high")
    assert openai_mock.sent_reasoning(openai_mock.last_request) == Reasoning("high")
    assert sent(openai_mock)["reasoning_effort"] == "high"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        ({"effort": "low"}, Reasoning("low")),
        # a budget goes to an effort-only API as the effort it stands for
        ({"max_tokens": 2000}, as_effort(2000)),
        ({"max_tokens": 2000, "exclude": True}, as_effort(2000)),
        ({"enabled": False}, Reasoning("none")),
        # thinking on at the model's own amount: an effort API's models think by default
        ({"enabled": True}, None),
    ],
    ids=["effort", "max_tokens", "exclude", "disabled", "enabled"],
)
async def test_openrouters_reasoning_object_reaches_an_openai_model_as_its_effort(
    openai_mock: OpenAIMock, reasoning: dict[str, Any], expected: Reasoning | None
) -> None:
    async with openai_sdk(openai=openai_mock.base_url) as sdk:
        await sdk.chat.completions.create(
            model=O4, messages=USER, extra_body={"reasoning": reasoning}
        )
    assert openai_mock.sent_reasoning(openai_mock.last_request) == expected
    assert "reasoning" not in sent(openai_mock), "OpenAI's Chat Completions has no such field"


@pytest.mark.anyio
async def test_reasoning_effort_no_longer_reaches_anthropic_as_a_field_it_refuses(
    anthropic_mock: AnthropicMock,
) -> None:
    async with openai_sdk(anthropic=anthropic_mock.base_url) as sdk:
        r = await sdk.chat.completions.create(
            model="anthropic/claude-made-up-1",
            max_tokens=4096,  # room for Claude's least thinking budget, 1,024 tokens
            messages=USER,
            reasoning_effort="low",
        )
    assert r.choices[0].message.content
    body = sent(anthropic_mock)
    assert "reasoning_effort" not in body
    assert anthropic_mock.sent_reasoning(anthropic_mock.last_request) == Reasoning(
        budget_tokens=1024
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_effort": 3}, "reasoning_effort"),
        ({"reasoning": "high"}, "reasoning"),
        ({"reasoning": {"effort": "hihg"}}, "reasoning.effort"),
        ({"reasoning": {"max_tokens": "lots"}}, "reasoning.max_tokens"),
        ({"reasoning": {"max_tokens": -1}}, "reasoning.max_tokens"),
        ({"reasoning": {"effort": "low", "max_tokens": 500}}, "reasoning"),
        ({"reasoning": {"enabled": "yes"}}, "reasoning.enabled"),
        ({"reasoning": {"enabled": False, "effort": "high"}}, "reasoning.enabled"),
        ({"reasoning": {"summary": "auto"}}, "reasoning.summary"),
        ({"reasoning_effort": "low", "reasoning": {"effort": "high"}}, "reasoning"),
    ],
)
async def test_a_bad_thinking_setting_is_openais_400_and_reaches_nobody(
    openai_mock: OpenAIMock, fields: dict[str, Any], param: str
) -> None:
    async with plain_http(openai=openai_mock.base_url) as http:
        r = await http.post(
            "/v1/chat/completions", headers=AUTH, json={"model": O4, "messages": USER, **fields}
        )
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert f"`{param}`" in error["message"]
    assert openai_mock.requests == []


@pytest.mark.anyio
async def test_agreeing_fields_and_a_misspelt_effort_get_what_they_deserve(
    openai_mock: OpenAIMock,
) -> None:
    async with plain_http(openai=openai_mock.base_url) as http:
        both = {"reasoning_effort": "low", "reasoning": {"effort": "low", "exclude": False}}
        agreed = await http.post(
            "/v1/chat/completions", headers=AUTH, json={"model": O4, "messages": USER, **both}
        )
        misspelt = await http.post(
            "/v1/chat/completions",
            headers=AUTH,
            json={"model": O4, "messages": USER, "reasoning_effort": "hgih"},
        )
    assert agreed.status_code == 200
    assert openai_mock.sent_reasoning(openai_mock.last_request) == Reasoning("low")
    assert "did you mean 'high'?" in misspelt.json()["error"]["message"]


@pytest.mark.anyio
async def test_the_most_effort_reaches_openai_and_claude_as_their_own_max(
    openai_mock: OpenAIMock, anthropic_mock: AnthropicMock
) -> None:
    # "max" (above xhigh) is the newest effort of OpenAI's and Anthropic's SDKs
    async with openai_sdk(openai=openai_mock.base_url, anthropic=anthropic_mock.base_url) as sdk:
        await sdk.chat.completions.create(model=O4, messages=USER, reasoning_effort="max")
        await sdk.chat.completions.create(
            model="anthropic/claude-opus-4-7", messages=USER, reasoning_effort="max"
        )
    assert sent(openai_mock)["reasoning_effort"] == "max"
    assert sent(anthropic_mock)["output_config"] == {"effort": "max"}


# -- the Responses API ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_the_responses_apis_effort_reaches_a_chat_completions_model(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # Codex's setting: an effort, and a summary, which only OpenAI's Responses API takes
    reasoning: Any = {"effort": "high", "summary": "auto"}
    async with openai_sdk(openai=openai_mock.base_url) as sdk:
        if streamed:
            async with sdk.responses.stream(model=O4, input="hi", reasoning=reasoning) as s:
                async for _ in s:
                    pass
        else:
            await sdk.responses.create(model=O4, input="hi", reasoning=reasoning)
    assert openai_mock.last_request.path.endswith("/chat/completions")
    assert openai_mock.sent_reasoning(openai_mock.last_request) == Reasoning("high")
    assert "reasoning" not in sent(openai_mock), "Chat Completions refuses a reasoning object"


@pytest.mark.anyio
async def test_the_responses_apis_effort_reaches_openais_responses_api(
    openai_mock: OpenAIMock,
) -> None:
    providers = {
        "openai": {"base_url": openai_mock.base_url, "api_key": UPSTREAM_KEY, "api": "responses"}
    }
    config = {"storage": {"backend": "none"}, "providers": providers}
    async with (
        relaykit.Client(config) as client,
        running(client) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as sdk,
    ):
        await sdk.responses.create(
            model=O4, input="hi", reasoning={"effort": "minimal", "summary": "detailed"}
        )
    assert openai_mock.last_request.path.endswith("/responses")
    assert openai_mock.sent_reasoning(openai_mock.last_request) == Reasoning(
        "minimal", summary=True
    )
    # relaykit asks for a summary, not for a kind of one: OpenAI's "auto"
    assert sent(openai_mock)["reasoning"] == {"effort": "minimal", "summary": "auto"}


@pytest.mark.anyio
async def test_codex_s_reasoning_setting_does_not_break_a_call_to_claude(
    anthropic_mock: AnthropicMock,
) -> None:
    async with openai_sdk(anthropic=anthropic_mock.base_url) as sdk:
        r = await sdk.responses.create(
            model="anthropic/claude-made-up-1",
            input="hi",
            max_output_tokens=4096,
            reasoning={"effort": "medium", "summary": "auto"},
        )
    assert r.status == "completed"
    body = sent(anthropic_mock)
    assert "reasoning" not in body and "reasoning_effort" not in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "param"),
    [
        ("high", "reasoning"),
        ({"effort": "maximum"}, "reasoning.effort"),
        ({"effort": True}, "reasoning.effort"),
    ],
)
async def test_a_bad_responses_effort_is_a_400_that_names_it(
    openai_mock: OpenAIMock, reasoning: Any, param: str
) -> None:
    async with plain_http(openai=openai_mock.base_url) as http:
        r = await http.post(
            "/v1/responses", headers=AUTH, json={"model": O4, "input": "hi", "reasoning": reasoning}
        )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert openai_mock.requests == []


# -- Anthropic's Messages API -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a budget reaches an effort-only API as the effort it stands for (Reasoning.level)
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, as_effort(1024)),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, as_effort(2048)),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 16000, "display": "omitted"}},
            as_effort(16000),
        ),
        ({"thinking": {"type": "disabled"}}, Reasoning("none")),
        # Claude decides: at an effort API, the model's default (nothing sent)
        ({"thinking": {"type": "adaptive"}}, None),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, Reasoning("low")),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "output_config": {"effort": "xhigh"},
            },
            Reasoning("xhigh"),
        ),
    ],
    ids=["1024", "2048", "16000", "disabled", "adaptive", "adaptive-low", "budget-and-effort"],
)
async def test_anthropics_thinking_reaches_an_openai_model_as_its_effort(
    openai_mock: OpenAIMock, fields: dict[str, Any], expected: Reasoning | None
) -> None:
    async with anthropic_sdk(openai=openai_mock.base_url) as sdk:
        r = await sdk.messages.create(
            model=O4,
            max_tokens=20000,
            messages=[{"role": "user", "content": "Think it over."}],
            **fields,
        )
    assert r.content[0].type == "text"
    assert openai_mock.sent_reasoning(openai_mock.last_request) == expected
    body = sent(openai_mock)
    assert "thinking" not in body and "output_config" not in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "sent_thinking"),
    [
        ("anthropic/claude-opus-5", {"type": "disabled"}),
        ("anthropic/claude-haiku-5-5", {"type": "disabled"}),
        ("anthropic/claude-sonnet-5-5", {"type": "between_tools"}),  # refuses disabled
        ("anthropic/claude-opus-4-7", None),  # off is its default
    ],
)
async def test_anthropics_thinking_off_reaches_claude_as_the_model_takes_it(
    anthropic_mock: AnthropicMock, model: str, sent_thinking: dict[str, Any] | None
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=1000, messages=CLAUDE_USER, thinking={"type": "disabled"}
        )
    assert sent(anthropic_mock).get("thinking") == sent_thinking
    assert anthropic_mock.sent_reasoning(anthropic_mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_anthropics_thinking_off_for_a_claude_that_always_thinks_is_a_400(
    anthropic_mock: AnthropicMock,
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        with pytest.raises(anthropic.BadRequestError, match="always thinks"):
            await sdk.messages.create(
                model="anthropic/claude-opus-5-5",
                max_tokens=1000,
                messages=CLAUDE_USER,
                thinking={"type": "disabled"},
            )
    assert not anthropic_mock.requests


@pytest.mark.anyio
async def test_between_tools_and_no_thinking_reach_claude_5_as_sent(
    anthropic_mock: AnthropicMock,
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.messages.create(
            model="anthropic/claude-sonnet-5-5",
            max_tokens=1000,
            messages=CLAUDE_USER,
            thinking={"type": "between_tools"},
        )
        assert sent(anthropic_mock)["thinking"] == {"type": "between_tools"}
        await sdk.messages.create(
            model="anthropic/claude-opus-5",
            max_tokens=1000,
            messages=CLAUDE_USER,
            output_config={"effort": "low"},
        )
    body = sent(anthropic_mock)
    assert "thinking" not in body and body["output_config"] == {"effort": "low"}
    assert anthropic_mock.sent_reasoning(anthropic_mock.last_request) == Reasoning("low")


@pytest.mark.anyio
async def test_anthropics_thinking_streams_from_an_openai_model(openai_mock: OpenAIMock) -> None:
    async with (
        anthropic_sdk(openai=openai_mock.base_url) as sdk,
        sdk.messages.stream(
            model=O4,
            max_tokens=20000,
            messages=[{"role": "user", "content": "Think it over."}],
            thinking={"type": "enabled", "budget_tokens": 10000},
        ) as stream,
    ):
        text = await stream.get_final_text()
    assert text
    assert openai_mock.sent_reasoning(openai_mock.last_request) == as_effort(10000)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"thinking": "on"}, "thinking"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": "lots"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 0}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "sometimes"}}, "thinking.type"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "none"}}, "effort"),
    ],
)
async def test_a_bad_thinking_setting_is_anthropics_400_and_reaches_nobody(
    openai_mock: OpenAIMock, fields: dict[str, Any], named: str
) -> None:
    async with plain_http(openai=openai_mock.base_url) as http:
        r = await http.post(
            "/v1/messages",
            headers={**AUTH, "anthropic-version": "2023-06-01"},
            json={"model": O4, "max_tokens": 64, "messages": USER, **fields},
        )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert f"{named}`" in body["error"]["message"]
    assert openai_mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "output_config"),
        # without thinking, the effort is how much Anthropic's answer says: not thinking
        ({"output_config": {"effort": "low"}}, "output_config"),
    ],
    ids=["max", "effort-alone"],
)
async def test_what_relaykit_cannot_say_reaches_anthropic_as_sent(
    anthropic_mock: AnthropicMock, fields: dict[str, Any], kept: str
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.messages.create(
            model="claude-opus-4-7",  # adaptive thinking and effort: Claude 4.6 and later
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            **fields,
        )
    assert sent(anthropic_mock)[kept] == fields[kept]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, Reasoning(budget_tokens=2048)),
        ({"type": "disabled"}, Reasoning("none")),
    ],
    ids=["enabled", "disabled"],
)
async def test_anthropics_thinking_still_reaches_anthropic(
    anthropic_mock: AnthropicMock, thinking: ThinkingConfigParam, expected: Reasoning
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.messages.create(
            model="claude-made-up-1",
            max_tokens=16000,  # more and the SDK wants a stream (a long request)
            messages=[{"role": "user", "content": "hi"}],
            thinking=thinking,
        )
    got = anthropic_mock.sent_reasoning(anthropic_mock.last_request)
    assert got is not None and got.level() == expected.level()


@pytest.mark.anyio
async def test_reasoning_effort_reaches_anthropic_as_its_thinking(
    anthropic_mock: AnthropicMock,
) -> None:
    async with openai_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.chat.completions.create(
            model="anthropic/claude-made-up-1",
            max_tokens=30000,
            messages=USER,
            reasoning_effort="high",
        )
    got = anthropic_mock.sent_reasoning(anthropic_mock.last_request)
    assert got is not None and got.level() == "high"


@pytest.mark.anyio
async def test_anthropics_token_counter_takes_a_thinking_setting(
    anthropic_mock: AnthropicMock,
) -> None:
    async with anthropic_sdk(anthropic=anthropic_mock.base_url) as sdk:
        count = await sdk.messages.count_tokens(
            model="claude-made-up-1",
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "enabled", "budget_tokens": 2048},
        )
    assert count.input_tokens > 0


# -- parsing, case by case --------------------------------------------------------------

OPENAI = OpenAIDialect()
RESPONSES = ResponsesDialect()
ANTHROPIC = AnthropicDialect()


@pytest.mark.parametrize(
    ("fields", "reasoning", "extra"),
    [
        ({}, None, None),
        ({"reasoning_effort": None, "reasoning": None}, None, None),
        ({"reasoning_effort": "xhigh"}, Reasoning("xhigh"), None),
        ({"reasoning_effort": "none"}, Reasoning("none"), None),
        ({"reasoning": {"max_tokens": 0}}, Reasoning(budget_tokens=0), None),
        ({"reasoning": {"enabled": True, "effort": "low"}}, Reasoning("low"), None),
        ({"reasoning": {"enabled": False, "effort": "none"}}, Reasoning("none"), None),
        ({"reasoning": {"exclude": True}}, None, None),
        ({"reasoning": {"effort": "low"}, "top_k": 3}, Reasoning("low"), {"top_k": 3}),
        ({"reasoning_effort": "max"}, Reasoning("max"), None),
        ({"reasoning": {"effort": "max"}}, Reasoning("max"), None),
        ({"reasoning_effort": "max", "reasoning": {"effort": "max"}}, Reasoning("max"), None),
    ],
)
def test_chat_completions_thinking_fields(
    fields: dict[str, Any], reasoning: Reasoning | None, extra: dict[str, Any] | None
) -> None:
    call = OPENAI.parse({"model": "fake/m", "messages": USER, **fields}, aliases=())
    assert call.params.get("reasoning") == reasoning
    assert call.params.get("extra") == extra


@pytest.mark.parametrize(
    ("reasoning", "expected", "extra"),
    [
        (None, None, None),
        ({}, None, None),
        ({"summary": "auto"}, None, None),
        ({"effort": None, "summary": "concise"}, None, None),
        (
            {"effort": "low", "summary": "auto", "context": "all_turns"},
            Reasoning("low", summary=True),
            None,
        ),
        ({"effort": "max"}, Reasoning("max"), None),
    ],
)
def test_responses_thinking_fields(
    reasoning: Any, expected: Reasoning | None, extra: dict[str, Any] | None
) -> None:
    call = RESPONSES.parse({"model": "fake/m", "input": "hi", "reasoning": reasoning}, aliases=())
    assert call.params.get("reasoning") == expected
    assert call.params.get("extra") == extra


@pytest.mark.parametrize(
    ("fields", "reasoning", "extra"),
    [
        ({}, None, None),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 5000}},
            Reasoning(budget_tokens=5000),
            None,
        ),
        ({"thinking": {"type": "disabled"}}, Reasoning("none"), None),
        (
            {"thinking": {"type": "adaptive", "display": "summarized"}},
            Reasoning(summary=True),
            None,
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}},
            Reasoning(budget_tokens=2048, summary=False),
            None,
        ),
        (
            {
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "medium", "format": {"type": "json_schema"}},
            },
            Reasoning("medium"),
            {"output_config": {"format": {"type": "json_schema"}}},
        ),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 3000},
                "output_config": {"effort": "max"},
            },
            Reasoning("max", 3000),
            None,
        ),
        (
            {"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}},
            Reasoning("none"),
            {"output_config": {"effort": "low"}},
        ),
        ({"output_config": {"effort": "high"}}, None, {"output_config": {"effort": "high"}}),
        ({"thinking": {"type": "between_tools"}}, None, {"thinking": {"type": "between_tools"}}),
    ],
)
def test_anthropic_thinking_fields(
    fields: dict[str, Any], reasoning: Reasoning | None, extra: dict[str, Any] | None
) -> None:
    body = {"model": "fake/m", "max_tokens": 5, "messages": USER, **copy.deepcopy(fields)}
    call = ANTHROPIC.parse(body, aliases=())
    assert call.params.get("reasoning") == reasoning
    assert call.params.get("extra") == extra
    assert body == {"model": "fake/m", "max_tokens": 5, "messages": USER, **fields}, (
        "the caller's body is left as it was"
    )


def test_a_conflict_between_an_effort_and_thinking_off_names_where_it_is() -> None:
    body = {"model": "fake/m", "messages": USER, "reasoning": {"enabled": True, "max_tokens": 0}}
    with pytest.raises(InvalidRequestError) as caught:
        OPENAI.parse(body, aliases=())
    assert caught.value.param == "reasoning.enabled"


@pytest.mark.anyio
async def test_a_responses_summary_asks_claude_for_its_thinking_text(
    anthropic_mock: AnthropicMock,
) -> None:
    # Codex asks for an effort and a summary: Claude 4.7 on omit the text unless asked
    async with openai_sdk(anthropic=anthropic_mock.base_url) as sdk:
        await sdk.responses.create(
            model="anthropic/claude-opus-4-7",
            input="hi",
            reasoning={"effort": "high", "summary": "auto"},
        )
    assert sent(anthropic_mock)["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert anthropic_mock.sent_reasoning(anthropic_mock.last_request) == Reasoning(
        "high", summary=True
    )
