"""A provider's refusal before sending (a request its API would refuse) reaches a
gateway caller as that vendor's 400, in the dialect the caller speaks, with the
parameter at fault where the dialect has a place for it, and without a hint that
names relaykit API the caller's SDK does not have; nothing goes upstream."""

from __future__ import annotations

import anthropic
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from relaykit.testing import FakePlugin, OpenAIMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, running_over

from .conftest import anthropic_sdk, gateway_over, openai_sdk

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_openai_dialect_a_tool_result_without_its_call_is_a_400_with_param(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # A trimmed history kept a result and dropped its call: OpenAI would refuse it.
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Weather?"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    async with (
        running_over(openai=openai_mock.base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as c,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            if streamed:
                stream = await c.chat.completions.create(
                    model="openai/gpt-4o-mini", messages=messages, stream=True
                )
                async for _ in stream:
                    pass
            else:
                await c.chat.completions.create(model="openai/gpt-4o-mini", messages=messages)
    error = caught.value
    assert error.status_code == 400
    body = error.response.json()["error"]
    assert (body["type"], body["param"]) == ("invalid_request_error", "messages[1]")
    assert error.param == "messages[1]"
    assert body["message"].startswith(
        "openai/gpt-4o-mini: messages[1] holds the result of tool call 'call_1'"
    )
    assert "right before its result" in body["message"]  # the fix: no relaykit API in it
    assert openai_mock.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_anthropic_dialect_a_call_left_without_result_is_a_400(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # Claude's shape in front, Mistral behind: a tool_use whose result never came,
    # then a new user turn, which Mistral refuses ("Not the same number of function
    # calls and responses"). The error names the caller's id, not the one mapped
    # for Mistral; Anthropic's error body has no param, so the message says where.
    messages: list[MessageParam] = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {}}],
        },
        {"role": "user", "content": "Never mind: hello."},
    ]
    async with running_over(mistral=openai_mock.base_url) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with client:
            with pytest.raises(anthropic.BadRequestError) as caught:
                if streamed:
                    async with client.messages.stream(
                        model="mistral/mistral-small-latest", max_tokens=32, messages=messages
                    ) as stream:
                        async for _ in stream:
                            pass
                else:
                    await client.messages.create(
                        model="mistral/mistral-small-latest", max_tokens=32, messages=messages
                    )
    error = caught.value
    assert error.status_code == 400
    body = error.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(
        "mistral/mistral-small-latest: messages[1] makes tool call 'toolu_01A' with no result"
    )
    # The hint names relaykit API (Message.tool(...)) an Anthropic SDK caller does not
    # have: left out (dialect.caller_message); the operator's log keeps it.
    assert "Message.tool(" not in body["error"]["message"]
    assert "(" not in body["error"]["message"].partition("no result")[2]
    assert openai_mock.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_anthropic_dialect_a_prefill_claude_refuses_is_a_400_without_relaykit_hints(
    anthropic_mock: AnthropicMock, streamed: bool
) -> None:
    # An Anthropic SDK caller prefills for Claude Opus 4.6, which refuses a prefill:
    # refused before sending, the problem named, no relaykit API (response_format=).
    messages: list[MessageParam] = [
        {"role": "user", "content": "A colour as JSON."},
        {"role": "assistant", "content": "{"},
    ]
    model = "anthropic/claude-opus-4-6"
    async with running_over(anthropic=anthropic_mock.base_url) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with client:
            with pytest.raises(anthropic.BadRequestError) as caught:
                if streamed:
                    async with client.messages.stream(
                        model=model, max_tokens=32, messages=messages
                    ) as stream:
                        async for _ in stream:
                            pass
                else:
                    await client.messages.create(model=model, max_tokens=32, messages=messages)
    body = caught.value.response.json()
    assert body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "Claude Opus 4.6 does not take a prefill" in message
    assert "response_format=" not in message and "Message." not in message
    assert anthropic_mock.requests == []


async def test_a_model_the_provider_does_not_know_is_a_404_without_relaykits_cli_hint() -> None:
    # relaykit's hint for a 404 names its CLI (`relaykit models`), which a caller on
    # a vendor's SDK does not have: the 404 says what the provider said, and the
    # operator's log keeps the hint
    fake = FakePlugin()
    fake.script.fail(404, "The model `m-9` does not exist")
    fake.script.fail(404, "The model `m-9` does not exist")
    async with gateway_over(fake) as url, openai_sdk(url) as oa, anthropic_sdk(url) as an:
        with pytest.raises(openai.NotFoundError) as openai_404:
            await oa.chat.completions.create(
                model="fake/m-9", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.NotFoundError) as anthropic_404:
            await an.messages.create(
                model="fake/m-9", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
    for message in (openai_404.value.message, anthropic_404.value.message):
        assert "The model `m-9` does not exist" in message
        assert "relaykit models" not in message
