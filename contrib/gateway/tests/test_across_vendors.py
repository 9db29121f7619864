"""One vendor's SDK in front, another vendor's wire format behind, real HTTP on both sides.

The gateway's client talks to loopback mocks of OpenAI and Anthropic through
relaykit's own provider plugins, so every hop speaks a vendor's exact format.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from openai.types.responses import EasyInputMessageParam

import relaykit
from relaykit.testing import OpenAIMock, Reply
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running, running_over

pytestmark = pytest.mark.anyio


async def test_anthropics_sdk_streams_from_an_openai_model(openai_mock: OpenAIMock) -> None:
    openai_mock.script.push(
        Reply(text="Hello from an OpenAI model.", tool_calls=(("lookup", {"q": "x"}),))
    )
    async with running_over(openai=openai_mock.base_url) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with (
            client,
            client.messages.stream(
                model="openai/gpt-4o-mini",
                max_tokens=64,
                system="Be brief.",
                messages=[{"role": "user", "content": "hello"}],
            ) as stream,
        ):
            texts = [t async for t in stream.text_stream]
            message = await stream.get_final_message()
    assert "".join(texts) == "Hello from an OpenAI model."
    assert message.content[-1].type == "tool_use"
    assert message.content[-1].input == {"q": "x"}
    assert message.stop_reason == "tool_use"
    sent = json.loads(openai_mock.last_request.body)
    assert sent["model"] == "gpt-4o-mini"
    assert sent["stream"] is True
    assert sent["messages"][:2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    # the upstream key went upstream; the caller's gateway key did not
    assert openai_mock.last_request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert KEY not in openai_mock.last_request.body.decode()


async def test_openais_sdk_talks_to_an_anthropic_model(anthropic_mock: AnthropicMock) -> None:
    anthropic_mock.script.push(Reply(text="Hello from Claude.", input_tokens=9, output_tokens=4))
    async with (
        running_over(anthropic=anthropic_mock.base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as c,
    ):
        r = await c.chat.completions.create(
            model="anthropic/claude-made-up-1",
            max_tokens=32,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello"},
            ],
        )
    assert r.choices[0].message.content == "Hello from Claude."
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (9, 4)
    sent = json.loads(anthropic_mock.last_request.body)
    assert sent["model"] == "claude-made-up-1"
    assert sent["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert anthropic_mock.last_request.headers["x-api-key"] == UPSTREAM_KEY


async def test_an_upstream_429_reaches_the_caller_with_its_wait(openai_mock: OpenAIMock) -> None:
    for _ in range(3):  # the client's own attempts, all refused
        openai_mock.script.push(Reply.failure(429, "quota", retry_after=0.01))
    async with running_over(openai=openai_mock.base_url) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        async with client:
            with pytest.raises(anthropic.RateLimitError) as caught:
                await client.messages.create(
                    model="openai/gpt-4o-mini",
                    max_tokens=8,
                    messages=[{"role": "user", "content": "hi"}],
                )
    assert caught.value.response.headers["retry-after"] == "1"
    assert "quota" in str(caught.value)
    assert len(openai_mock.requests) == 3


async def test_openais_responses_api_streams_from_an_anthropic_model(
    anthropic_mock: AnthropicMock,
) -> None:
    anthropic_mock.script.push(Reply(text="Hello through the Responses API."))
    async with (
        running_over(anthropic=anthropic_mock.base_url) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as c,
        c.responses.stream(
            model="anthropic/claude-made-up-1",
            instructions="Be brief.",
            input="hello",
            max_output_tokens=32,
        ) as stream,
    ):
        texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(texts) == final.output_text == "Hello through the Responses API."
    sent = json.loads(anthropic_mock.last_request.body)
    assert sent["model"] == "claude-made-up-1"
    assert sent["max_tokens"] == 32
    assert sent["stream"] is True


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_openai_s_encrypted_reasoning_round_trips_through_the_gateway(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    # The Responses API in front and behind (relaykit-openai's Responses mode): a
    # Codex-style caller gets the encrypted reasoning and sends it back next turn.
    from relaykit.testing.openai_responses import encrypted_reasoning

    openai_mock.script.push(
        Reply(text="Blue.", reasoning="Think about the sky."), Reply(text="Yes.")
    )
    providers = {"openai": {"base_url": openai_mock.base_url, "api_key": UPSTREAM_KEY}}
    providers["openai"]["api"] = "responses"
    config: dict[str, Any] = {"storage": {"backend": "none"}, "providers": providers}
    question: EasyInputMessageParam = {"role": "user", "content": "What colour is the sky?"}
    include: Any = ["reasoning.encrypted_content"]
    async with relaykit.Client(config) as client, running(client) as url:
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        async with sdk:
            first: Any
            if streamed:
                async with sdk.responses.stream(
                    model="openai/o4-mini", input=[question], include=include
                ) as stream:
                    async for _ in stream:
                        pass
                    first = await stream.get_final_response()
            else:
                first = await sdk.responses.create(
                    model="openai/o4-mini", input=[question], include=include
                )
            reasoning = first.output[0]
            assert reasoning.type == "reasoning"
            assert reasoning.encrypted_content == encrypted_reasoning("Think about the sky.")
            again = [question, *[item.model_dump(exclude_none=True) for item in first.output]]
            again.append({"role": "user", "content": "Sure?"})
            second = await sdk.responses.create(model="openai/o4-mini", input=again)
    assert second.output_text == "Yes."
    # the mock checked the encrypted reasoning it had given: it came back whole
    sent = openai_mock.last_request.json()["input"]
    returned = [item for item in sent if item.get("type") == "reasoning"]
    assert [item["encrypted_content"] for item in returned] == [reasoning.encrypted_content]
