"""The provider behind the gateway answering OpenAI's ``insufficient_quota``: the
gateway's own upstream account is out of quota or credit, over real HTTP on both sides.

The gateway passed it on as an ordinary 429 (``rate_limit_exceeded`` /
``rate_limit_error``), which the caller's SDK waited out and retried, and which
read as the caller's own rate limit. Nothing the caller does cures the operator's
billing: it is the gateway's failure, a 502 as the provider refusing the gateway's
key is, with ``x-should-retry: false`` and no ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from relaykit.testing import OpenAIMock, Reply
from relaykit_gateway.testing import KEY, running_over

pytestmark = pytest.mark.anyio

HI: list[Any] = [{"role": "user", "content": "hi"}]
#: OpenAI's own words for it (platform.openai.com/docs/guides/error-codes)
OUT_OF_CREDIT = "You exceeded your current quota, please check your plan and billing details."


def _quota_used_up(mock: OpenAIMock, times: int) -> None:
    for _ in range(times):
        mock.script.push(Reply.failure(429, OUT_OF_CREDIT, code="insufficient_quota"))


def _is_the_gateways_failure(error: Any) -> None:
    assert error.status_code == 502
    headers = error.response.headers
    assert headers["x-should-retry"] == "false"
    assert "retry-after" not in headers
    text = str(error)
    assert "quota" in text and "gateway" in text
    assert "rate_limit" not in text and "insufficient_quota" not in text


async def test_openais_sdk_gets_a_502_it_does_not_retry(openai_mock: OpenAIMock) -> None:
    _quota_used_up(openai_mock, 9)
    async with (
        running_over(openai=openai_mock.base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=2) as gpt,
    ):
        with pytest.raises(openai.InternalServerError) as chat:
            await gpt.chat.completions.create(model="openai/gpt-4o-mini", messages=HI)
        with pytest.raises(openai.InternalServerError) as streamed:
            await gpt.chat.completions.create(model="openai/gpt-4o-mini", messages=HI, stream=True)
    for caught in (chat, streamed):
        _is_the_gateways_failure(caught.value)
        body: Any = caught.value.body
        assert body["code"] != "rate_limit_exceeded"
    # neither the gateway's client nor the caller's SDK tried the provider again
    assert len(openai_mock.requests) == 2


async def test_anthropics_sdk_gets_a_502_not_a_rate_limit(openai_mock: OpenAIMock) -> None:
    _quota_used_up(openai_mock, 9)
    async with running_over(openai=openai_mock.base_url) as url:
        claude = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=2)
        async with claude:
            with pytest.raises(anthropic.InternalServerError) as caught:
                await claude.messages.create(model="openai/gpt-4o-mini", max_tokens=8, messages=HI)
    _is_the_gateways_failure(caught.value)
    body: Any = caught.value.body
    assert body["error"]["type"] != "rate_limit_error"
    assert len(openai_mock.requests) == 1


async def test_a_rate_limit_upstream_is_still_a_429_with_its_wait(
    openai_mock: OpenAIMock,
) -> None:
    for _ in range(3):  # the client's own attempts
        openai_mock.script.push(Reply.failure(429, "Rate limit reached", retry_after=0.01))
    async with (
        running_over(openai=openai_mock.base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as gpt,
    ):
        with pytest.raises(openai.RateLimitError) as caught:
            await gpt.chat.completions.create(model="openai/gpt-4o-mini", messages=HI)
    assert caught.value.response.headers["retry-after"] == "1"
    assert "x-should-retry" not in caught.value.response.headers
