"""A ``temperature`` from an OpenAI or Anthropic SDK caller, to a Claude model that refuses
sampling parameters (Opus 4.7 on, Sonnet 5 on, ...): the API's 400, with relaykit's
message naming the parameter and the fix, and nothing sent to the vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anthropic
import openai
import pytest

from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, running_over

USER = [{"role": "user", "content": "Hello."}]


@asynccontextmanager
async def openai_sdk(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with (
        running_over(anthropic=base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as sdk,
    ):
        yield sdk


@asynccontextmanager
async def anthropic_sdk(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with (
        running_over(anthropic=base_url) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as sdk,
    ):
        yield sdk


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_openai_callers_temperature_is_a_clean_400(
    anthropic_mock: AnthropicMock, stream: bool
) -> None:
    async with openai_sdk(anthropic_mock.base_url) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="anthropic/claude-opus-4-7",
                messages=USER,  # type: ignore[arg-type]
                temperature=0.2,
                stream=stream,
            )
    assert caught.value.status_code == 400
    assert "Claude Opus 4.7 takes no temperature" in caught.value.message
    assert "drop temperature" in caught.value.message
    assert not anthropic_mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("param", ["temperature", "top_p", "top_k"])
async def test_an_anthropic_callers_sampling_parameter_is_a_clean_400(
    anthropic_mock: AnthropicMock, stream: bool, param: str
) -> None:
    # The current SDK no longer has the sampling parameters (Anthropic's API version
    # 2026-10-21 dropped them: test_anthropic_versions); older SDKs (2023-06-01) and raw
    # callers still send them.
    async with anthropic_sdk(anthropic_mock.base_url) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(
                model="anthropic/claude-sonnet-5",
                max_tokens=100,
                messages=USER,  # type: ignore[arg-type]
                stream=stream,
                extra_body={param: 0.5 if param != "top_k" else 5},
                extra_headers={"anthropic-version": "2023-06-01"},
            )
    assert caught.value.status_code == 400
    assert f"Claude Sonnet 5 takes no {param}" in caught.value.message
    assert not anthropic_mock.requests


@pytest.mark.anyio
async def test_an_sdks_default_temperature_still_reaches_claude(
    anthropic_mock: AnthropicMock,
) -> None:
    async with openai_sdk(anthropic_mock.base_url) as sdk:
        await sdk.chat.completions.create(
            model="anthropic/claude-opus-4-7",
            messages=USER,  # type: ignore[arg-type]
            temperature=1,
            top_p=1,
        )
    body = anthropic_mock.last_request.json()
    assert (body["temperature"], body["top_p"]) == (1, 1)
