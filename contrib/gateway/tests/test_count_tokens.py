"""POST /v1/messages/count_tokens: what Claude Code asks before (and between) its calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest

import relaykit
from relaykit.testing import OpenAIMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

UPSTREAM_KEY = "sk-upstream-0123456789abcdef0123"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def anthropic_mock() -> Iterator[AnthropicMock]:
    with AnthropicMock(api_key=UPSTREAM_KEY) as mock:
        yield mock


@asynccontextmanager
async def gateway(**providers: str) -> AsyncIterator[str]:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "providers": {
            name: {"base_url": url, "api_key": UPSTREAM_KEY} for name, url in providers.items()
        },
    }
    async with relaykit.Client(config) as client, running(client) as url:
        yield url


async def test_the_sdk_gets_anthropics_own_count(anthropic_mock: AnthropicMock) -> None:
    async with gateway(anthropic=anthropic_mock.base_url) as url:
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


async def test_claude_code_s_beta_form_is_served_and_estimated_for_other_vendors() -> None:
    with OpenAIMock(api_key=UPSTREAM_KEY) as openai_mock:
        async with gateway(openai=openai_mock.base_url) as url, httpx.AsyncClient() as http:
            r = await http.post(
                f"{url}/v1/messages/count_tokens?beta=true",
                headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                json={
                    "model": "openai/gpt-4o-mini",
                    "messages": [{"role": "user", "content": "x" * 40}],
                },
            )
        assert openai_mock.requests == [], "nothing to ask OpenAI: it has no counter"
    assert r.status_code == 200
    assert r.json() == {"input_tokens": 10}
    assert r.headers["x-relaykit-estimated"] == "true"


async def test_a_malformed_count_request_is_anthropics_400(anthropic_mock: AnthropicMock) -> None:
    question = [{"role": "user", "content": "hi"}]
    async with gateway(anthropic=anthropic_mock.base_url) as url:
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
    async with gateway(anthropic=anthropic_mock.base_url) as url:
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        async with sdk:
            count = await sdk.responses.input_tokens.count(
                model="anthropic/claude-sonnet-4-5",
                instructions="You answer in one word.",
                input="What colour is the sky today?",
            )
    assert (count.object, count.input_tokens) == ("response.input_tokens", 11)
    assert anthropic_mock.last_request.path == "/v1/messages/count_tokens"
