"""The other operations' status-200 bodies that hold no answer: embeddings, images,
rerank, moderation, transcription and speech on every plugin that serves them.

The rule chat follows (docs/writing-plugins.md, "An answer that is no answer"):
a body the decoder cannot read (a proxy's HTML page, JSON cut short, ``{}``) is
the retryable "malformed response" :class:`relaykit.ProviderUnavailableError`,
and an error object sent with status 200 is the typed error it describes. On
main, relaykit-openai's embeddings, images, rerank, moderation and transcription
answered the unreadable bodies with a plain, non-retryable
:class:`relaykit.RelayError` ("the ... response could not be read").

Each request is answered over loopback HTTP by the vendor's mock, its first
answer replaced; the second request (a retry) gets the mock's real answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import relaykit
from relaykit.testing import mock_audio, mock_image
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each API's mock, chosen here by name (indirect)

#: an error reported with status 200, as OpenAI-compatible servers word it
RATE_LIMITED_200 = {
    "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": 429}
}

#: a page a captive portal or a proxy's sign-in answers with, status 200
SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>"

PHOTO = mock_image("a photo")
SPEECH = mock_audio("the meeting starts at noon", seconds=2)

Call = Callable[[relaykit.Client], Awaitable[Any]]


async def stream_transcription(c: relaykit.Client) -> Any:
    """A streamed transcript, whole (``gpt-4o-mini-transcribe`` answers as events)."""
    async with c.stream_transcription("openai/gpt-4o-mini-transcribe", SPEECH) as t:
        return [delta async for delta in t]


#: (vendor, operation) -> the call; the vendor's provider is named as in conftest.py
OPERATIONS: dict[tuple[str, str], Call] = {
    ("openai", "embed"): lambda c: c.embed("openai/text-embedding-3-small", ["a", "b"]),
    ("openai", "generate_image"): lambda c: c.generate_image("openai/gpt-image-1", "a fox"),
    ("openai", "edit_image"): lambda c: c.edit_image("openai/gpt-image-1", "a hat", image=PHOTO),
    ("openai", "rerank"): lambda c: c.rerank("vllm/rerank-1", "q", ["one", "two"]),
    ("openai", "moderate"): lambda c: c.moderate("openai/omni-moderation-latest", ["hi"]),
    ("openai", "transcribe"): lambda c: c.transcribe("openai/whisper-1", SPEECH),
    ("openai", "transcribe json"): lambda c: c.transcribe("openai/gpt-4o-mini-transcribe", SPEECH),
    ("openai", "stream_transcription"): stream_transcription,
    ("openai", "speak"): lambda c: c.speak("openai/gpt-4o-mini-tts", "hi", voice="alloy"),
    ("gemini", "embed"): lambda c: c.embed("gemini/gemini-embedding-001", ["a", "b"]),
    ("gemini", "generate_image"): lambda c: c.generate_image(
        "gemini/gemini-2.5-flash-image", "a fox"
    ),
    ("gemini", "speak"): lambda c: c.speak(
        "gemini/gemini-2.5-flash-preview-tts", "hi", voice="Kore", format="wav"
    ),
    ("gemini", "transcribe"): lambda c: c.transcribe("gemini/gemini-2.5-flash", SPEECH),
    ("ollama", "embed"): lambda c: c.embed("ollama/nomic-embed-text", ["a", "b"]),
    ("bedrock", "embed titan"): lambda c: c.embed("bedrock/amazon.titan-embed-text-v2:0", "a"),
    ("bedrock", "embed cohere"): lambda c: c.embed("bedrock/us.cohere.embed-v4:0", ["a", "b"]),
    ("bedrock", "rerank"): lambda c: c.rerank("bedrock/cohere.rerank-v3-5:0", "q", ["a", "b"]),
    ("bedrock", "generate_image nova"): lambda c: c.generate_image(
        "bedrock/amazon.nova-canvas-v1:0", "a fox"
    ),
    ("bedrock", "generate_image titan"): lambda c: c.generate_image(
        "bedrock/amazon.titan-image-generator-v2:0", "a fox"
    ),
    ("cohere", "embed"): lambda c: c.embed("cohere/embed-v4.0", ["a", "b"]),
    ("cohere", "rerank"): lambda c: c.rerank("cohere/rerank-v3.5", "q", ["a", "b"]),
}

#: the unreadable bodies, each with the content type it came with
UNREADABLE: dict[str, tuple[bytes, str]] = {
    "html": (SIGN_IN_PAGE, "text/html; charset=utf-8"),
    "cut short": (b'{"object": "list", "data": [{"obj', "application/json"),
    "empty object": (b"{}", "application/json"),
}


def serve_first(
    mock: VendorMock, body: bytes, content_type: str = "application/json"
) -> list[Request]:
    """Answer ``mock``'s first request with ``body`` (status 200), the later ones as it
    would; the requests served, as they come."""
    served: list[Request] = []

    async def rewrite(request: Request, response: Response) -> Response:
        served.append(request)
        if len(served) == 1:
            return Response(200, {"content-type": content_type}, body)
        return response

    mock.rewrite = rewrite
    return served


def providers_for(name: str, providers: dict[str, Any]) -> dict[str, Any]:
    """``providers`` with a vLLM preset beside OpenAI's (the OpenAI plugin's rerank)."""
    if name == "openai":
        table = providers["openai"]
        return {**providers, "vllm": {"base_url": table["base_url"], "api_key": table["api_key"]}}
    return providers


def params() -> list[Any]:
    return [pytest.param(vendor, op, id=f"{vendor}-{op}", marks=()) for vendor, op in OPERATIONS]


@pytest.mark.anyio
@pytest.mark.parametrize(("vendor", "operation"), params(), indirect=["vendor"])
@pytest.mark.parametrize("body", sorted(UNREADABLE))
async def test_an_unreadable_200_is_a_retryable_malformed_response(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    operation: str,
    body: str,
) -> None:
    mock, providers, _ = vendor
    name: str = request.node.callspec.params["vendor"]
    call = OPERATIONS[name, operation]
    content, content_type = UNREADABLE[body]
    served = serve_first(mock, content, content_type)
    async with relaykit.Client(one_try_config(providers_for(name, providers))) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            answer = await call(c)
            pytest.fail(f"accepted as an answer: {answer!r}"[:300])
    # the core's "malformed response", or the plugin's own words for what came
    assert caught.value.retryable, caught.value
    # retried: the next answer is the mock's own
    served.clear()
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    config = one_try_config(providers_for(name, providers), retry=retry)
    async with relaykit.Client(config) as c:
        await call(c)
    assert len(served) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(("vendor", "operation"), params(), indirect=["vendor"])
async def test_an_error_object_sent_with_status_200_is_the_error_it_describes(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    operation: str,
) -> None:
    mock, providers, _ = vendor
    name: str = request.node.callspec.params["vendor"]
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode())
    async with relaykit.Client(one_try_config(providers_for(name, providers))) as c:
        with pytest.raises(relaykit.RateLimitError, match="Rate limit reached"):
            await OPERATIONS[name, operation](c)
