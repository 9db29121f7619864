"""A message part no provider can send is refused unsent, as an InvalidRequestError.

``Message.content`` is typed as relaykit's parts, but nothing stops a dict or a
string-like value from reaching a plugin at run time (``Message("user",
[{"type": "text", ...}])``), nor a part type a newer relaykit adds from reaching
an older plugin. Each plugin's encoder used to raise a bare ``TypeError``
(Anthropic, OpenAI) or leave the part out without a word (the others, which then
sent a different conversation). Now each refuses it before sending: a typed error
naming the part and the fix, not retried, nothing sent, and the call's limits get
their hold back (:func:`relaykit.http.never_sent`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, TextPart
from relaykit.testing import OpenAIMock
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_bedrock.testing import BedrockMock
from relaykit_cohere.testing import CohereMock
from relaykit_gemini.testing import GeminiMock
from relaykit_ollama.testing import OllamaMock

KEY = "test-key-0123456789abcdefghijklmnop"

#: name -> (the mock, the provider table for its base URL, a model it serves)
MOCKS: dict[
    str, tuple[Callable[[], AbstractContextManager[Any]], Callable[[str], dict[str, Any]], str]
] = {
    "openai": (
        lambda: OpenAIMock(api_key=KEY),
        lambda url: {"base_url": url, "api_key": KEY},
        "openai/gpt-4o-mini",
    ),
    "openai-responses": (
        lambda: OpenAIMock(api_key=KEY),
        lambda url: {"base_url": url, "api_key": KEY, "api": "responses", "type": "openai"},
        "openai-responses/gpt-4o-mini",
    ),
    "anthropic": (
        lambda: AnthropicMock(api_key=KEY),
        lambda url: {"base_url": url, "api_key": KEY},
        "anthropic/claude-haiku-4-5",
    ),
    "gemini": (
        lambda: GeminiMock(api_key=KEY),
        lambda url: {"base_url": url, "api_key": KEY},
        "gemini/gemini-2.5-flash",
    ),
    "ollama": (OllamaMock, lambda url: {"base_url": url}, "ollama/llama3.2"),
    "bedrock": (
        lambda: BedrockMock(bearer_token=KEY),
        lambda url: {"base_url": url, "control_plane_url": url, "api_key": KEY},
        "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    "bedrock-messages": (
        lambda: BedrockMock(bearer_token=KEY),
        lambda url: {"base_url": url, "control_plane_url": url, "api_key": KEY},
        "bedrock/global.anthropic.claude-opus-4-7",
    ),
    "cohere": (
        lambda: CohereMock(api_key=KEY),
        lambda url: {"base_url": url, "api_key": KEY},
        "cohere/command-a-03-2025",
    ),
}


@pytest.fixture(params=sorted(MOCKS))
def vendor(request: pytest.FixtureRequest) -> Iterator[tuple[VendorMock, dict[str, Any], str]]:
    make, table, model = MOCKS[request.param]
    name = model.split("/", 1)[0]
    with make() as mock:
        yield mock, {name: table(mock.base_url)}, model


def bad_turns(role: str, bad: object) -> list[Message]:
    """A conversation whose ``role`` turn holds ``bad`` after a text part."""
    turn = Message(role, (TextPart("look:"), bad))  # type: ignore[arg-type]
    if role == "assistant":
        return [Message.user("hi"), turn, Message.user("and?")]
    return [turn] if role == "user" else [turn, Message.user("hi")]


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["user", "assistant", "system"])
@pytest.mark.parametrize("bad", [{"type": "text", "text": "a dict"}, 42], ids=["dict", "int"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_part_no_provider_can_send_is_refused_unsent_and_not_retried(
    vendor: tuple[VendorMock, dict[str, Any], str], role: str, bad: object, streamed: bool
) -> None:
    mock, providers, model = vendor
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": providers,
    }
    async with relaykit.Client(config) as client:
        with pytest.raises(InvalidRequestError) as caught:
            if streamed:
                async with client.stream(model, bad_turns(role, bad), max_tokens=9) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, bad_turns(role, bad), max_tokens=9)
    e = caught.value
    assert not mock.requests  # refused before anything was sent: nothing to retry
    assert e.status is None and not e.retryable and relaykit.http.never_sent(e)
    assert type(bad).__name__ in e.message and e.param is not None
    assert e.hint is not None and "TextPart" in e.hint
