"""The provider contract over both transports: aiohttp's under asyncio, httpx's under trio.

With relaykit-aiohttp registered, every asyncio run of the suite goes through
:class:`AiohttpClient` and every trio run through the default httpx client; the
``...OverHttpx`` classes opt out with ``[http] transport = "httpx"`` and run both
backends on httpx. The OpenAI classes add the suites whose bodies are not plain JSON:
transcription and image edits (multipart uploads), speech (raw audio, streamed).
"""

from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest

import relaykit
import relaykit_aiohttp.plugin
from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import (
    Harness,
    ImageEditContract,
    OpenAIMock,
    ProviderContract,
    SpeechContract,
    TranscriptionContract,
)
from relaykit_aiohttp import AiohttpClient
from relaykit_anthropic.testing import AnthropicMock

OPENAI_KEY = "sk-test-0123456789abcdef0123"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef0123"
ANTHROPIC_STATUSES = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    413: InvalidRequestError,
    429: RateLimitError,
    500: ProviderUnavailableError,
    529: ProviderUnavailableError,
}


@attrs.frozen
class TransportHarness(Harness):
    """A harness whose clients also get an ``[http]`` section."""

    http: dict[str, Any] = attrs.field(factory=dict)

    def config(self, **sections: Any) -> dict[str, Any]:
        return super().config(**{"http": self.http, **sections})


def http_client_of(client: relaykit.Client, provider: str) -> object:
    """A built provider's HTTP client (private, for these tests)."""
    client.provider(provider)
    return client._registry._http[provider]


class TransportChecks(ProviderContract):
    expected: str  # "aiohttp": aiohttp's client under asyncio; "httpx": always httpx's

    @property
    def http(self) -> dict[str, Any]:
        """The harness's ``[http]`` section: httpx named where it is expected always."""
        return {"transport": "httpx"} if self.expected == "httpx" else {}

    @pytest.mark.anyio
    async def test_the_expected_client_carries_the_calls(
        self, harness: Harness, anyio_backend: str
    ) -> None:
        async with self.client(harness) as client:
            http = http_client_of(client, harness.model.split("/")[0])
            r = await client.chat(harness.model, "hello")
        assert r.text
        if self.expected == "aiohttp" and anyio_backend == "asyncio":
            assert isinstance(http, AiohttpClient)
        else:
            assert isinstance(http, httpx.AsyncClient)


class TestOpenAIOverAiohttp(
    TransportChecks, TranscriptionContract, SpeechContract, ImageEditContract
):
    expected = "aiohttp"

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=OPENAI_KEY) as mock:
            yield TransportHarness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="openai/gpt-4o-mini",
                providers={"openai": {"base_url": mock.base_url, "api_key": OPENAI_KEY}},
                embedding_model="openai/text-embedding-3-small",
                reasoning_model="openai/o4-mini",
                transcription_model="openai/whisper-1",  # a multipart upload
                image_model="openai/gpt-image-1",  # base64 images back
                image_edit_model="openai/gpt-image-1",  # images and a mask as files in a form
                image_edit_mask=True,
                speech_model="openai/tts-1",  # raw audio bytes back, streamed as they come
                moderation_model="openai/omni-moderation-latest",
                batch_model="openai/gpt-4o-mini",  # result files read line by line
                plugins=(relaykit_aiohttp.plugin,),
                http=self.http,
            )


class TestOpenAIOverHttpx(TestOpenAIOverAiohttp):
    expected = "httpx"


class TestAnthropicOverAiohttp(TransportChecks):
    expected = "aiohttp"
    #: adaptive thinking with an effort; Haiku 4.5 (the httpx class's) takes a budget
    reasoning_model: str | None = "anthropic/claude-opus-4-7"

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with AnthropicMock(api_key=ANTHROPIC_KEY) as mock:
            yield TransportHarness(
                mock=mock,
                model="anthropic/claude-haiku-4-5",
                # Claude Sonnet 4 takes temperature and top_p together (Haiku 4.5 one only)
                sampling_model="anthropic/claude-sonnet-4-20250514",
                providers={"anthropic": {"base_url": mock.base_url, "api_key": ANTHROPIC_KEY}},
                supports_reasoning_tokens=False,
                supports_seed=False,
                batch_model="anthropic/claude-haiku-4-5",
                reasoning_model=self.reasoning_model,
                statuses=ANTHROPIC_STATUSES,
                plugins=(relaykit_aiohttp.plugin,),
                http=self.http,
            )


class TestAnthropicOverHttpx(TestAnthropicOverAiohttp):
    expected = "httpx"
    reasoning_model = None
