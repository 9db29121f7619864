"""Every route of every vendor mock honours the faults a test scripts.

``Reply(connection_fault=...)`` misbehaves before any response (a reset, or bytes
that are not HTTP). A mock that ignored it answered an empty success, which a
chaos run then took for a provider's real answer (AnthropicMock did, found in
session 21; the Gemini, Ollama, Cohere and Bedrock mocks did too, and Bedrock's
Messages API and InvokeModel routes until session 22). The routes that are not
chats (embeddings, rerank, images, speech, transcripts, moderation) are each
checked too: a reset is retried and the retry answered, a 429 or 503 is the typed
error, a delay past the call's time is a timeout; the Gemini API's embeddings,
speech and images, Vertex's ``:predict``, Ollama's embeddings and Cohere's
embed and rerank answered a scripted reset with a 200 until they went through
:func:`relaykit.testing.scripted_fault`, as every route now does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock, Reply, mock_audio, mock_image
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.vendor_mock import VendorMock
from relaykit_bedrock.testing import BedrockMock
from relaykit_cohere.testing import CohereMock
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock
from relaykit_ollama.testing import OllamaMock
from relaykit_openai.testing import AzureOpenAIMock

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
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            if streamed:
                async with client.stream(model, "hi", max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, "hi", max_tokens=16)
    assert caught.value.retryable, caught.value


# -- every other route: embeddings, rerank, images, speech, transcripts, moderation ---

KEY = "test-key-0123456789abcdefghijklmnop"
#: the bearer token the Vertex mock takes (``VERTEX_ACCESS_TOKEN``)
VERTEX_TOKEN = "ya29.test-token-0123456789abcdef"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France"]
PHOTO = mock_image("a fox", side=16)
Call = Callable[[relaykit.Client], Awaitable[Any]]


def _keyed(name: str, **more: Any) -> Callable[[str], dict[str, Any]]:
    """The ``[providers]`` table of provider ``name`` at a mock's URL, with :data:`KEY`."""
    return lambda url: {name: {"base_url": url, "api_key": KEY, **more}}


def _bedrock(url: str) -> dict[str, Any]:
    return {"bedrock": {"base_url": url, "control_plane_url": url, "api_key": KEY}}


def _vertex(url: str) -> dict[str, Any]:
    table = {"type": "vertex", "base_url": url, "project": "mock-project"}
    return {"vertex": {**table, "location": "us-central1"}}


_OPENAI = (lambda: OpenAIMock(api_key=KEY), _keyed("openai"))
_GEMINI = (lambda: GeminiMock(api_key=KEY), _keyed("gemini"))
_VERTEX = (lambda: VertexMock(static_tokens=[VERTEX_TOKEN]), _vertex)
_BEDROCK = (lambda: BedrockMock(bearer_token=KEY), _bedrock)
_COHERE = (lambda: CohereMock(api_key=KEY), _keyed("cohere"))
_OLLAMA = (OllamaMock, lambda url: {"ollama": {"base_url": url}})

#: route -> (its mock, the ``[providers]`` table at the mock's URL, a call to it):
#: every route of a vendor mock that answers with the script's next reply, but the
#: chat routes (``vendor``'s, above), and Gemini's transcripts, which its chat route answers
ROUTES: dict[str, tuple[Callable[[], VendorMock], Callable[[str], dict[str, Any]], Call]] = {
    "openai-embed": (
        *_OPENAI,
        lambda c: c.embed("openai/text-embedding-3-small", "hi"),
    ),
    "openai-rerank": (
        _OPENAI[0],
        _keyed("vllm"),
        lambda c: c.rerank("vllm/BAAI/bge-reranker-v2-m3", "capital", DOCUMENTS),
    ),
    "openai-transcribe": (
        *_OPENAI,
        lambda c: c.transcribe("openai/whisper-1", mock_audio("noon", seconds=1)),
    ),
    "openai-image": (*_OPENAI, lambda c: c.generate_image("openai/gpt-image-1", "a fox")),
    "openai-image-edit": (
        *_OPENAI,
        lambda c: c.edit_image("openai/gpt-image-1", "a hat", image=PHOTO),
    ),
    "openai-speak": (*_OPENAI, lambda c: c.speak("openai/tts-1", "hello", voice="alloy")),
    "openai-moderate": (*_OPENAI, lambda c: c.moderate("openai/omni-moderation-latest", "hi")),
    "azure-embed": (
        lambda: AzureOpenAIMock(api_key=KEY),
        _keyed("azure", type="azure"),
        lambda c: c.embed("azure/text-embedding-3-small", "hi"),
    ),
    "gemini-embed": (*_GEMINI, lambda c: c.embed("gemini/gemini-embedding-001", "hi")),
    "gemini-image": (
        *_GEMINI,
        lambda c: c.generate_image("gemini/gemini-2.5-flash-image", "a fox"),
    ),
    "gemini-image-edit": (
        *_GEMINI,
        lambda c: c.edit_image("gemini/gemini-2.5-flash-image", "a hat", image=PHOTO),
    ),
    "gemini-speak": (
        *_GEMINI,
        lambda c: c.speak("gemini/gemini-2.5-flash-preview-tts", "hi", voice="Kore", format="wav"),
    ),
    "gemini-transcribe": (
        *_GEMINI,
        lambda c: c.transcribe("gemini/gemini-2.5-flash", mock_audio("noon", seconds=1)),
    ),
    "vertex-embed-gemini": (*_VERTEX, lambda c: c.embed("vertex/gemini-embedding-001", "hi")),
    "vertex-embed-text": (*_VERTEX, lambda c: c.embed("vertex/text-embedding-005", "hi")),
    "bedrock-embed-titan": (
        *_BEDROCK,
        lambda c: c.embed("bedrock/amazon.titan-embed-text-v2:0", "hi"),
    ),
    "bedrock-embed-cohere": (
        *_BEDROCK,
        lambda c: c.embed("bedrock/cohere.embed-english-v3", "hi"),
    ),
    "bedrock-rerank": (
        *_BEDROCK,
        lambda c: c.rerank("bedrock/cohere.rerank-v3-5:0", "capital", DOCUMENTS),
    ),
    "bedrock-image": (
        *_BEDROCK,
        lambda c: c.generate_image("bedrock/amazon.nova-canvas-v1:0", "a fox"),
    ),
    "bedrock-image-edit": (
        *_BEDROCK,
        lambda c: c.edit_image("bedrock/amazon.nova-canvas-v1:0", "a hat", image=PHOTO),
    ),
    "ollama-embed": (*_OLLAMA, lambda c: c.embed("ollama/nomic-embed-text", "hi")),
    "cohere-embed": (*_COHERE, lambda c: c.embed("cohere/embed-v4.0", "hi")),
    "cohere-rerank": (
        *_COHERE,
        lambda c: c.rerank("cohere/rerank-v3.5", "capital", DOCUMENTS),
    ),
}


@asynccontextmanager
async def route_client(
    route: str, **sections: Any
) -> AsyncIterator[tuple[VendorMock, Callable[[], Awaitable[Any]]]]:
    """``route``'s mock, started, and its call bound to a client of it (one attempt,
    no waits; ``sections`` replace those or add others)."""
    make, providers, call = ROUTES[route]
    with make() as mock:
        config = one_try_config(providers(mock.base_url), **sections)
        async with relaykit.Client(config, env={"VERTEX_ACCESS_TOKEN": VERTEX_TOKEN}) as client:
            yield mock, lambda: call(client)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_retries_a_scripted_connection_fault(route: str, fault: str) -> None:
    """A reset (or garbage) before any response is retried, and the retry answered:
    routes that ignored the fault answered the first attempt with a success."""
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    async with route_client(route, retry=retry) as (mock, call):
        mock.script.push(Reply(text="never sent", connection_fault=fault))  # type: ignore[arg-type]
        answer = await call()
    assert answer.attempts == 2, answer
    assert len(mock.script) == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [(429, relaykit.RateLimitError), (503, relaykit.ProviderUnavailableError)],
)
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_answers_a_scripted_status_as_the_vendor(
    route: str, status: int, error: type[relaykit.RelayError]
) -> None:
    """The vendor's error of that status reaches the caller as the typed error."""
    async with route_client(route) as (mock, call):
        mock.script.push(Reply.failure(status, "scripted failure"))
        with pytest.raises(error) as caught:
            await call()
    assert caught.value.status == status and caught.value.retryable, caught.value


@pytest.mark.anyio
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_holds_its_answer_for_a_scripted_delay(route: str) -> None:
    """An answer held past the call's time is the typed timeout, not an answer."""
    async with route_client(route, timeouts={"total": 0.3}) as (mock, call):
        mock.script.push(Reply(delay=3))
        with pytest.raises(relaykit.RequestTimeoutError):
            await call()


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
    # checked out here: an AssertionError inside the block would pass for the mock's
    assert r.status_code == 500 and "KeyError" in r.text
