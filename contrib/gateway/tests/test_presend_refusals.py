"""A provider's refusal before sending (a request its API would refuse) reaches a
gateway caller as that vendor's 400, in the dialect the caller speaks, with the
parameter at fault where the dialect has a place for it; nothing goes upstream."""

from __future__ import annotations

import anthropic
import openai
import pytest

from relaykit.testing import OpenAIMock
from relaykit_gateway.testing import KEY, running_over

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_openai_dialect_a_tool_result_without_its_call_is_a_400_with_param(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # A trimmed history kept a result and dropped its call: OpenAI would refuse it.
    messages: list = [
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
    assert "right before its result" in body["message"]  # the fix
    assert openai_mock.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_anthropic_dialect_a_call_left_without_result_is_a_400(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # Claude's shape in front, Mistral behind: a tool_use whose result never came,
    # then a new user turn, which Mistral refuses ("Not the same number of function
    # calls and responses"). The error names the caller's id, not the one mapped
    # for Mistral; Anthropic's error body has no param, so the message says where.
    messages: list = [
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
    assert "Message.tool(" in body["error"]["message"]  # the fix
    assert openai_mock.requests == []
