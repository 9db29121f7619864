"""POST /v1/messages/count_tokens: what Claude Code asks before (and between) its calls."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from relaykit.testing import OpenAIMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, running_over

pytestmark = pytest.mark.anyio

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_the_sdk_gets_anthropics_own_count(anthropic_mock: AnthropicMock) -> None:
    async with running_over(anthropic=anthropic_mock.base_url) as url:
        sdk = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with sdk:
            count = await sdk.messages.count_tokens(
                model="claude-sonnet-4-5",
                system="You answer in one word.",
                messages=[{"role": "user", "content": "What colour is the sky today?"}],
                tools=[WEATHER],  # type: ignore[list-item]
            )
    # The mock counts a word a token: 5 of system, 6 of the question.
    assert count.input_tokens == 11
    upstream = anthropic_mock.last_request
    assert upstream.path == "/v1/messages/count_tokens"
    sent = upstream.json()
    assert sent["system"] == "You answer in one word."
    assert [t["name"] for t in sent["tools"]] == ["get_weather"]
    assert "max_tokens" not in sent, "the counter refuses sampling fields"


async def test_claude_code_s_beta_form_is_served_and_estimated_for_other_vendors(
    openai_mock: OpenAIMock,
) -> None:
    question = {"role": "user", "content": "x" * 40}
    # an OpenAI-compatible service (groq's preset) has no counter to ask
    async with running_over(groq=openai_mock.base_url) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/messages/count_tokens?beta=true",
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            json={"model": "groq/llama-3.3-70b-versatile", "messages": [question]},
        )
    assert openai_mock.requests == [], "nothing to ask: the service has no counter"
    assert r.status_code == 200
    assert r.json() == {"input_tokens": 10}
    assert r.headers["x-relaykit-estimated"] == "true"


async def test_a_malformed_count_request_is_anthropics_400(anthropic_mock: AnthropicMock) -> None:
    question = [{"role": "user", "content": "hi"}]
    async with running_over(anthropic=anthropic_mock.base_url) as url:
        sdk = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        stranger = anthropic.AsyncAnthropic(base_url=url, api_key="not-a-key", max_retries=0)
        async with sdk, stranger:
            with pytest.raises(anthropic.BadRequestError, match="messages"):
                await sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=[])
            with pytest.raises(anthropic.AuthenticationError):
                await stranger.messages.count_tokens(
                    model="claude-sonnet-4-5",
                    messages=question,  # type: ignore[arg-type]
                )
    assert anthropic_mock.requests == []


async def test_the_responses_api_counter_answers_openai_s_sdk(
    anthropic_mock: AnthropicMock,
) -> None:
    async with running_over(anthropic=anthropic_mock.base_url) as url:
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        async with sdk:
            count = await sdk.responses.input_tokens.count(
                model="anthropic/claude-sonnet-4-5",
                instructions="You answer in one word.",
                input="What colour is the sky today?",
            )
    assert (count.object, count.input_tokens) == ("response.input_tokens", 11)
    assert anthropic_mock.last_request.path == "/v1/messages/count_tokens"
