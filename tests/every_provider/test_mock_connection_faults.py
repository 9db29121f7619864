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
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing.loopback import Request, Response
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
                async with client.stream(model, "hi", max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, "hi", max_tokens=16)
    assert caught.value.retryable, caught.value


# -- Bedrock's other routes: the Messages API (Claude 4.7 on) and InvokeModel ---------

KEY = "test-key-0123456789abcdefghijklmnop"
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"
BEDROCK_CALLS: dict[str, Callable[[relaykit.Client], Awaitable[Any]]] = {
    "messages-chat": lambda c: c.chat(OPUS_4_7, "hi", max_tokens=16),
    "messages-stream": lambda c: _drain(c.stream(OPUS_4_7, "hi", max_tokens=16)),
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


# -- a mock that fails answers, and keeps serving --------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_mock_that_fails_answers_500_and_serves_the_next_call(
    vendor: tuple[VendorMock, dict[str, Any], str], streamed: bool
) -> None:
    """A rewrite (or a route) that raises once: the call gets a 500 naming the failure,
    the next call is served, and the mock keeps the failure (session 28 saw the
    Anthropic mock die mid-sweep: every call after it met a refused connection)."""
    mock, providers, model = vendor
    failed: list[Request] = []

    async def fail_once(request: Request, response: Response) -> Response:
        if not failed:
            failed.append(request)
            raise RuntimeError("a rewrite that broke")
        return response

    mock.rewrite = fail_once
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    async with relaykit.Client(config) as client:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            await ask(client, model, streamed)
        text = await ask(client, model, streamed)  # served as ever
    assert caught.value.status == 500 and text
    assert [f"{type(e).__name__}: {e}" for e in mock.failures] == [
        "RuntimeError: a rewrite that broke"
    ]
    mock.failures.clear()  # made to fail: leaving the mock would raise them


async def ask(client: relaykit.Client, model: str, streamed: bool) -> str:
    """The text of a chat with ``model``, or of a stream when ``streamed``."""
    if not streamed:
        return (await client.chat(model, "hi", max_tokens=16)).text
    async with client.stream(model, "hi", max_tokens=16) as s:
        async for _ in s:
            pass
    return s.response.text


def test_leaving_a_mock_that_failed_raises_its_failures() -> None:
    """A failure a test did not look at is not lost in a 500 a test of error paths
    would take for the vendor's."""
    import httpx

    async def broken(request: Request) -> Response:
        raise KeyError("model")

    failed = r"failed answering 1 request\(s\): KeyError"
    with pytest.raises(AssertionError, match=failed), OpenAIMock(api_key=KEY) as mock:
        mock.route = broken
        r = httpx.get(f"{mock.base_url}/models", timeout=5)
        assert r.status_code == 500 and "KeyError" in r.text
