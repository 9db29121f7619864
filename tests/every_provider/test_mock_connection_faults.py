"""Every vendor mock honours a scripted connection fault, as the chaos tests need.

``Reply(connection_fault=...)`` misbehaves before any response (a reset, or bytes
that are not HTTP). A mock that ignored it answered an empty success, which a
chaos run then took for a provider's real answer (AnthropicMock did, found in
session 21; the Gemini, Ollama, Cohere and Bedrock mocks did too, and Bedrock's
Messages API and InvokeModel routes until session 22).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import relaykit
from relaykit.testing import Reply
from relaykit.testing.vendor_mock import VendorMock
from relaykit_bedrock.testing import BedrockMock

# ``vendor`` (conftest.py): each chat API's mock in turn


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_scripted_connection_fault_answers_nothing(
    vendor: tuple[VendorMock, dict[str, Any], str], fault: str, streamed: bool
) -> None:
    mock, providers, model = vendor
    mock.script.push(Reply(text="never sent", connection_fault=fault))  # type: ignore[arg-type]
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    async with relaykit.Client(config) as client:
        with pytest.raises(relaykit.RelayError) as caught:
            if streamed:
                async with client.stream(model, "hi", max_tokens=9) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, "hi", max_tokens=9)
    assert caught.value.retryable, caught.value


# -- Bedrock's other routes: the Messages API (Claude 4.7 on) and InvokeModel ---------

KEY = "test-key-0123456789abcdefghijklmnop"
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"
BEDROCK_CALLS: dict[str, Callable[[relaykit.Client], Awaitable[Any]]] = {
    "messages-chat": lambda c: c.chat(OPUS_4_7, "hi", max_tokens=9),
    "messages-stream": lambda c: _drain(c.stream(OPUS_4_7, "hi", max_tokens=9)),
    "invoke-embed": lambda c: c.embed("bedrock/amazon.titan-embed-text-v2:0", "hi"),
    "invoke-rerank": lambda c: c.rerank("bedrock/cohere.rerank-v3-5:0", "hi", ["a", "b"]),
    "invoke-image": lambda c: c.generate_image("bedrock/amazon.nova-canvas-v1:0", "a fox"),
}


async def _drain(stream: Any) -> None:
    async with stream as s:
        async for _ in s:
            pass


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
@pytest.mark.parametrize("route", sorted(BEDROCK_CALLS))
async def test_every_bedrock_route_honours_a_scripted_connection_fault(
    route: str, fault: str
) -> None:
    """Not only Converse: the Messages API and InvokeModel (embeddings, rerank,
    images) answered an empty or made-up success instead."""
    with BedrockMock(bearer_token=KEY) as mock:
        mock.script.push(Reply(text="never sent", connection_fault=fault))  # type: ignore[arg-type]
        url = mock.base_url
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"bedrock": {"base_url": url, "control_plane_url": url, "api_key": KEY}},
        }
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.RelayError) as caught:
                await BEDROCK_CALLS[route](client)
    assert caught.value.retryable, caught.value
