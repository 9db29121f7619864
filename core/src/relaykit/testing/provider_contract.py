"""The provider contract suite: what every provider plugin must do, as pytest tests.

A plugin's test module subclasses :class:`ProviderContract` and supplies one
fixture, ``harness``, that starts its vendor mock and says how to reach it::

    class TestOpenAI(ProviderContract):
        @pytest.fixture
        def harness(self):
            with OpenAIMock(api_key="sk-test-0123456789abcdef") as mock:
                yield Harness(
                    mock=mock,
                    model="openai/gpt-4o-mini",
                    providers={"openai": {"base_url": mock.base_url, "api_key": mock.api_key}},
                )

Every test runs under asyncio and trio (with the anyio pytest plugin and an
``anyio_backend`` fixture parametrised over both, as relaykit's conftest has).
The mock renders scripted :class:`~relaykit.testing.script.Reply` values in the
vendor's own wire format, so these tests exercise the real parser over real
loopback HTTP.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import attrs
import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    CachePoint,
    DocumentPart,
    ImagePart,
    InvalidRequestError,
    Message,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    ReasoningPart,
    StreamError,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)

from .audio_samples import mock_audio, mock_transcript
from .configs import one_try_config
from .embedding_vectors import MOCK_DIMENSIONS, mock_vector
from .image_samples import mock_image, mock_image_prompt, mock_mask, mock_pixel
from .memory_storage import MemoryStorage
from .moderation_scores import mock_flagged, mock_moderation
from .rerank_scores import mock_relevance
from .sample_files import PDF, PNG
from .script import Reply
from .speech_samples import mock_speech_text
from .vendor_mock import VendorMock

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def weather_tool_loop(*reasoning: ReasoningPart) -> list[Message]:
    """A tool loop in progress, to send on: the question, the assistant turn that called
    :data:`WEATHER_TOOL` (call ``toolu_1``, for Oslo), opening with ``reasoning``, and
    the tool's answer. With thinking on, Claude refuses that turn without its thinking
    (a provider leaves out reasoning another provider signed)."""
    call = ToolCall("toolu_1", "get_weather", {"city": "Oslo"})
    return [
        Message.user("Weather in Oslo?"),
        Message("assistant", (*reasoning, call)),
        Message.tool(call.id, "-3C"),
    ]


@attrs.frozen
class _Weather:
    """The class the contract asks structured output in."""

    city: str
    celsius: float
    sky: Literal["clear", "cloudy", "rain"]


@attrs.frozen
class Harness:
    """How the contract reaches one provider: its running mock and client config."""

    mock: VendorMock
    model: str
    providers: Mapping[str, Any]
    #: whether the provider's API can return reasoning separately from text
    supports_reasoning: bool = True
    #: whether the provider counts reasoning tokens apart from other output tokens
    supports_reasoning_tokens: bool = True
    #: whether the provider reports cached input tokens
    supports_cached_tokens: bool = True
    #: whether the vendor says how long to wait on 429 (header or error body)
    supports_retry_after: bool = True
    #: whether the API takes tools (function calling); without, the plugin must
    #: refuse ``tools=`` with an ``InvalidRequestError`` (``param="tools"``)
    #: before sending anything, and the suite's tool tests check that instead
    supports_tools: bool = True
    #: whether the API reads documents (a PDF, plain text); without, the plugin
    #: must refuse a DocumentPart with a typed error before sending anything
    supports_documents: bool = True
    #: whether the API reads images (in a user message, inline as base64: the suite
    #: looks for it in the request); without, the plugin must refuse an ImagePart
    #: with a typed error before sending anything
    supports_images: bool = True
    #: whether the API reads images (and, with ``supports_documents``, documents)
    #: a tool result carries; without, the plugin must refuse a tool result with
    #: attachments with a typed error before sending anything
    supports_tool_result_attachments: bool = True
    #: whether the API can make the model call a tool (``tool_choice`` "required" or a
    #: tool's name); without, the plugin must refuse one with a typed error before
    #: sending anything
    supports_tool_choice: bool = True
    #: whether the API takes a message's participant ``name`` (OpenAI's Chat
    #: Completions and its compatibles); without, the plugin must refuse a named
    #: message with a typed error before sending anything (``refuse_names``)
    supports_message_names: bool = False
    #: whether the API takes a ``seed``; without, the plugin must refuse one with an
    #: ``InvalidRequestError`` (``param="seed"``) before sending anything, rather than
    #: drop it unsaid
    supports_seed: bool = True
    #: whether the API takes ``stop`` sequences; without, the plugin must refuse them
    #: with an ``InvalidRequestError`` (``param="stop"``) before sending anything
    supports_stop: bool = True
    #: whether the API takes a thinking setting (an effort or a budget: ``reasoning=``);
    #: without, the plugin must refuse one with a typed error before sending anything.
    #: The mock reads back what was sent with :meth:`VendorMock.sent_reasoning`.
    supports_reasoning_effort: bool = True
    #: a model id (``provider/model``) that takes ``reasoning="none"`` and
    #: ``reasoning="high"``, when ``model`` does not
    reasoning_model: str | None = None
    #: a model id (``provider/model``) that takes a ``temperature`` and ``top_p``
    #: other than 1, together, when ``model`` does not (OpenAI's reasoning models,
    #: which the plugin refuses them unsent; Claude Opus 4.1 to 4.6, Sonnet 4.5 and
    #: 4.6 and Haiku 4.5, which take one of the two)
    sampling_model: str | None = None
    #: plugin objects to register directly (a provider not installed as an entry point)
    plugins: tuple[object, ...] = ()
    #: a model id the provider embeds with (``provider/model``), or ``None`` when
    #: its API has no embeddings: the contract then checks the typed refusal.
    #: The mock answers each text with :func:`~relaykit.testing.mock_vector`.
    embedding_model: str | None = None
    #: a shorter ``dimensions`` the embedding model takes, or ``None`` when it
    #: takes none (the plugin must then refuse one with a typed error)
    embedding_dimensions: int | None = 4
    #: a model id the provider ranks documents with (``provider/model``), or
    #: ``None`` when its API has no rerank: the contract then checks the typed
    #: refusal. The mock scores each document with
    #: :func:`~relaykit.testing.mock_relevance`.
    rerank_model: str | None = None
    #: a model id the provider transcribes audio with (``provider/model``), or
    #: ``None`` when its API has no speech to text: the contract then checks the
    #: typed refusal. The mock answers :func:`~relaykit.testing.mock_transcript`
    #: of the audio (:func:`~relaykit.testing.mock_audio` says what is in it).
    transcription_model: str | None = None
    #: a model id the provider generates images with (``provider/model``), taking
    #: ``n=2``, or ``None`` when its API has no image generation: the contract
    #: then checks the typed refusal. The mock draws
    #: :func:`~relaykit.testing.mock_image` of the prompt (one per image asked
    #: for, by index), which :func:`~relaykit.testing.mock_image_prompt` reads back.
    image_model: str | None = None
    #: a model id the provider edits images with (``provider/model``), or ``None``
    #: when its API has no image editing: the contract then checks the typed
    #: refusal. The image (and mask) must reach the mock as sent, their bytes or
    #: their base64 in the request body; the mock draws
    #: :func:`~relaykit.testing.mock_image` of the prompt, as for a generation.
    image_edit_model: str | None = None
    #: whether the edit model takes a mask (the contract sends
    #: :func:`~relaykit.testing.mock_mask`, an RGBA PNG of the image's size);
    #: without, the plugin must refuse one with a typed error before sending anything
    image_edit_mask: bool = False
    #: a model id the provider speaks text with (``provider/model``), taking
    #: ``speech_voice`` and ``format="wav"``, or ``None`` when its API has no text
    #: to speech: the contract then checks the typed refusal. The mock answers
    #: :func:`~relaykit.testing.mock_speech` of the text, which
    #: :func:`~relaykit.testing.mock_speech_text` reads back (a ``wav`` is
    #: :func:`~relaykit.testing.mock_audio` of it, which transcribes back).
    speech_model: str | None = None
    #: a voice the speech model has (OpenAI's ``alloy``, Gemini's ``Kore``)
    speech_voice: str = "alloy"
    #: a format the speech model gives besides ``wav``, the one the speech suite
    #: asks for where it names none (OpenAI's default ``mp3``; Gemini's ``pcm``)
    speech_format: str = "mp3"
    #: a model id the provider moderates texts with (``provider/model``), or
    #: ``None`` when its API has no moderation: the contract then checks the typed
    #: refusal. The mock judges each text with
    #: :func:`~relaykit.testing.mock_moderation` under the vendor's categories
    #: (``"I will kill you"`` flags a violence category at OpenAI and Mistral).
    moderation_model: str | None = None
    #: a model id the provider runs batches with (``provider/model``), or ``None`` when
    #: its plugin has no batch API: the contract then checks the typed refusal. The
    #: mock runs a batch's items the first time it is described (each takes the
    #: script's next reply), keeps batches in progress while ``mock.hold_batches``,
    #: and takes the batch endpoints' faults from ``mock.batch_script``.
    batch_model: str | None = None
    #: HTTP statuses this vendor really uses for each error kind
    statuses: Mapping[int, type[relaykit.RelayError]] = attrs.field(
        factory=lambda: {
            400: InvalidRequestError,
            401: AuthenticationError,
            403: AuthenticationError,
            404: NotFoundError,
            429: RateLimitError,
            500: ProviderUnavailableError,
            503: ProviderUnavailableError,
        }
    )

    def config(self, **sections: Any) -> dict[str, Any]:
        """A client config reaching the mock, with instant single-attempt retries by default."""
        return one_try_config(self.providers, **sections)


@asynccontextmanager
async def _client(harness: Harness, **sections: Any) -> AsyncIterator[relaykit.Client]:
    async with relaykit.Client(harness.config(**sections), plugins=harness.plugins) as client:
        yield client


@asynccontextmanager
async def _recording_client(
    harness: Harness, storage: MemoryStorage
) -> AsyncIterator[relaykit.Client]:
    """A client against the harness whose call records go to ``storage`` (written
    when the client closes)."""
    config = harness.config(storage={"backend": "contract-memory"})
    plugins = (*harness.plugins, storage.plugin("contract-memory"))
    async with relaykit.Client(config, plugins=plugins) as client:
        yield client


def _streamed_record(storage: MemoryStorage, operation: str) -> Any:
    """The one streamed, successful ``operation`` record in ``storage``."""
    (record,) = [r for r in storage.records.values() if r.operation == operation and r.streamed]
    assert record.ok, f"the streamed {operation} is recorded as a success"
    return record


def _sent(data: bytes, body: bytes) -> bool:
    """Whether ``data`` is in ``body`` as it is: raw (a form) or base64 (a JSON body)."""
    return data in body or base64.b64encode(data) in body


def _typed_429_without_the_key(harness: Harness, error: RateLimitError, model: str) -> None:
    """What every capability's scripted 429 ("slow down", Retry-After 7) must come back
    as: a RateLimitError naming the provider, with the wait where the harness's
    vendor says it, and never the configured key in its text or repr."""
    assert error.provider == model.split("/", 1)[0]
    if harness.supports_retry_after:
        assert error.retry_after == pytest.approx(7)
    key = str(harness.providers.get(error.provider, {}).get("api_key") or "")
    assert not key or (key not in str(error) and key not in repr(error))


class ProviderContract:
    """Tests every provider plugin passes. Subclass it and define the ``harness`` fixture."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every contract test runs under both backends, whatever the plugin's conftest says."""
        return str(request.param)

    @pytest.fixture
    def harness(self) -> Harness:
        """Start the vendor mock and describe it; subclasses must override."""
        raise NotImplementedError("define a `harness` fixture returning relaykit.testing.Harness")

    @staticmethod
    def client(harness: Harness, **sections: Any) -> Any:
        """A client configured against the harness (``async with self.client(harness)``)."""
        return _client(harness, **sections)

    # -- plain calls -----------------------------------------------------------

    @pytest.mark.anyio
    async def test_chat_returns_text_usage_and_finish(self, harness: Harness) -> None:
        harness.mock.script.reply("Hello from the mock", input_tokens=12, output_tokens=4)
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "Say hello")
        assert r.text == "Hello from the mock"
        assert r.finish_reason == "stop"
        assert (r.usage.input_tokens, r.usage.output_tokens) == (12, 4)
        assert r.provider == harness.model.split("/", 1)[0]
        assert r.model
        assert r.latency is not None and r.latency > 0

    @pytest.mark.anyio
    async def test_system_prompt_and_multi_turn(self, harness: Harness) -> None:
        messages: list[Message | dict[str, Any]] = [
            Message.system("You are terse."),
            Message.user("first question"),
            Message.assistant("first answer"),
            {"role": "user", "content": "second question"},
        ]
        async with self.client(harness) as client:
            r = await client.chat(harness.model, messages)
        assert r.text == "echo: second question"

    @pytest.mark.anyio
    async def test_an_image_in_a_system_message_is_sent_or_refused(self, harness: Harness) -> None:
        # ChatRequest.system joins the system messages' text: an API whose system prompt
        # is text refuses the image before sending (relaykit.messages.misplaced_part),
        # rather than leave it out without a word.
        image = ImagePart(data=PNG, media_type="image/png")
        refused = await self._system_part_sent_or_refused(harness, image, PNG)
        if refused is not None:
            assert refused.param is not None and refused.param.startswith("messages[0].content")

    @pytest.mark.anyio
    async def test_a_document_in_a_system_message_is_sent_or_refused(
        self, harness: Harness
    ) -> None:
        # The core leaves it to the plugin (OpenAI's Responses API reads one there):
        # an API whose system prompt is text refuses it before sending, rather than
        # leave it out without a word.
        pdf = DocumentPart(data=PDF, name="rules.pdf")
        refused = await self._system_part_sent_or_refused(harness, pdf, PDF)
        if refused is not None:
            assert refused.param, "the refusal names no place"

    async def _system_part_sent_or_refused(
        self, harness: Harness, part: ImagePart | DocumentPart, data: bytes
    ) -> InvalidRequestError | None:
        """Send ``part`` (holding ``data``) in a system message: ``None`` when the
        request carried it, else the refusal, checked to have come before sending."""
        messages = [Message("system", (TextPart("Follow these:"), part)), Message.user("hi")]
        refused: InvalidRequestError | None = None
        async with self.client(harness) as client:
            try:
                await client.chat(harness.model, messages)
            except InvalidRequestError as e:
                refused = e
        if refused is not None:
            assert refused.status is None and not harness.mock.requests, "refused after sending"
            return refused
        kind = type(part).__name__
        assert base64.b64encode(data) in harness.mock.last_request.body, (
            f"the system message's {kind} was left out of the request"
        )
        return None

    @pytest.mark.anyio
    async def test_sampling_parameters_are_accepted(self, harness: Harness) -> None:
        async with self.client(harness) as client:
            r = await client.chat(
                harness.sampling_model or harness.model,
                "params",
                max_tokens=50,
                temperature=0.2,
                top_p=0.9,
                stop=["END"] if harness.supports_stop else (),
                seed=7 if harness.supports_seed else None,
            )
        assert r.text == "echo: params"

    @pytest.mark.anyio
    async def test_stop_sequences_are_sent_or_refused_unsent(self, harness: Harness) -> None:
        async with self.client(harness) as client:
            if not harness.supports_stop:
                with pytest.raises(InvalidRequestError, match="stop") as caught:
                    await client.chat(harness.model, "params", stop=["END"])
                assert caught.value.param == "stop" and caught.value.status is None
                assert "drop stop" in str(caught.value.hint)
                assert not harness.mock.requests, "refused stop sequences must not be sent"
                return
            r = await client.chat(harness.model, "params", stop=["END"])
        assert r.text == "echo: params"

    @pytest.mark.anyio
    async def test_a_seed_is_sent_or_refused_unsent(self, harness: Harness) -> None:
        async with self.client(harness) as client:
            if not harness.supports_seed:
                with pytest.raises(InvalidRequestError, match="seed") as caught:
                    await client.chat(harness.model, "params", seed=7)
                assert caught.value.param == "seed" and caught.value.status is None
                assert "drop seed" in str(caught.value.hint)
                assert not harness.mock.requests, "a refused seed must not be sent"
                return
            r = await client.chat(harness.model, "params", seed=7)
        assert r.text == "echo: params"

    @pytest.mark.anyio
    async def test_length_finish_reason(self, harness: Harness) -> None:
        harness.mock.script.reply("cut sho", finish="length")
        async with self.client(harness) as client:
            # 16: the fewest OpenAI's Responses API takes; the cut is scripted
            r = await client.chat(harness.model, "long please", max_tokens=16)
        assert r.finish_reason == "length"

    @pytest.mark.anyio
    async def test_usage_follows_the_conventions(self, harness: Harness) -> None:
        cached = 4 if harness.supports_cached_tokens else 0
        reasoning = 2 if harness.supports_reasoning and harness.supports_reasoning_tokens else 0
        harness.mock.script.reply(
            "counted",
            input_tokens=10,
            output_tokens=5,
            cached_input_tokens=cached,
            reasoning_tokens=reasoning,
        )
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "count")
        # input includes cached input; output includes reasoning
        assert r.usage == relaykit.Usage(10, 5, cached, reasoning)

    @pytest.mark.anyio
    async def test_image_input(self, harness: Harness) -> None:
        message = Message.user(
            "what is in this image?", ImagePart(data=PNG, media_type="image/png")
        )
        async with self.client(harness) as client:
            if not harness.supports_images:
                with pytest.raises(InvalidRequestError, match="image"):
                    await client.chat(harness.model, [message])
                assert not harness.mock.requests, "a refused image must not be sent"
                return
            r = await client.chat(harness.model, [message])
        assert r.text == "echo: what is in this image?"
        # every vendor takes an image inline as base64: the mock echoes the text alone
        assert base64.b64encode(PNG) in harness.mock.last_request.body, (
            "the image was left out of the request"
        )

    @pytest.mark.anyio
    async def test_document_input(self, harness: Harness) -> None:
        pdf = DocumentPart(data=PDF, name="invoice-7.pdf")
        notes = DocumentPart(data=b"Meeting notes: ship on Friday.", media_type="text/plain")
        message = Message.user([TextPart("summarise these"), pdf, notes])
        async with self.client(harness) as client:
            if not harness.supports_documents:
                with pytest.raises(InvalidRequestError, match="document"):
                    await client.chat(harness.model, [message])
                assert not harness.mock.requests, "a refused document must not be sent"
                return
            r = await client.chat(harness.model, [message])
        assert r.text == "echo: summarise these"
        sent = harness.mock.last_request.body.decode()
        assert base64.b64encode(PDF).decode() in sent  # every vendor takes a PDF as base64
        assert "Meeting notes: ship on Friday." in sent or (
            base64.b64encode(b"Meeting notes: ship on Friday.").decode() in sent
        )

    @pytest.mark.anyio
    async def test_json_schema_response_format(self, harness: Harness) -> None:
        harness.mock.script.reply('{"answer": 42}')
        schema = {
            "type": "object",
            "properties": {"answer": {"type": "integer"}},
            "required": ["answer"],
            "additionalProperties": False,
        }
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "answer", response_format=schema)
        assert r.text == '{"answer": 42}'

    @pytest.mark.anyio
    async def test_a_response_format_class_comes_back_parsed(self, harness: Harness) -> None:
        for _ in range(2):
            harness.mock.script.reply('{"city": "Paris", "celsius": 18.5, "sky": "clear"}')
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "weather?", response_format=_Weather)
            async with client.stream(harness.model, "again", response_format=_Weather) as s:
                async for _ in s:
                    pass
        assert r.parsed == _Weather("Paris", 18.5, "clear")
        assert s.response.parsed == _Weather("Paris", 18.5, "clear")

    @pytest.mark.anyio
    async def test_cache_points_are_sent_as_marks_or_left_out(self, harness: Harness) -> None:
        # Each provider turns a CachePoint into its own mark or drops it; none may
        # fail on one, send it as content, or let it change what the model reads.
        messages = [
            Message("system", (TextPart("You are terse."), CachePoint("1h"))),
            Message.user([TextPart("a document"), CachePoint(), TextPart("the question")]),
            Message.assistant("an answer"),
            Message.user([CachePoint(), TextPart("one more")]),
        ]
        tools: dict[str, Any] = {"tools": [WEATHER_TOOL, CachePoint("1h")], "tool_choice": "auto"}
        async with self.client(harness) as client:
            r = await client.chat(
                harness.model, messages, **(tools if harness.supports_tools else {})
            )
        assert r.text == "echo: one more"
        assert "cache_point" not in harness.mock.last_request.body.decode()

    # -- tools -----------------------------------------------------------------

    @pytest.mark.anyio
    async def test_tool_call_and_result_round_trip(self, harness: Harness) -> None:
        if not harness.supports_tools:
            return await refuses_tools_unsent(self, harness)
        harness.mock.script.reply("", tool_calls=(("get_weather", {"city": "Paris"}),))
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "Weather in Paris?", tools=[WEATHER_TOOL])
            assert r.finish_reason == "tool_calls"
            assert [(c.name, c.arguments) for c in r.tool_calls] == [
                ("get_weather", {"city": "Paris"})
            ]
            call = r.tool_calls[0]
            assert call.id
            harness.mock.script.reply("It is sunny in Paris.")
            follow_up = [
                Message.user("Weather in Paris?"),
                r.to_message(),
                Message.tool(call.id, '{"sky": "sunny"}'),
            ]
            final = await client.chat(
                harness.model, follow_up, tools=[WEATHER_TOOL], tool_choice="auto"
            )
        assert final.text == "It is sunny in Paris."

    @pytest.mark.anyio
    async def test_tool_result_attachments_reach_the_model(self, harness: Harness) -> None:
        if not harness.supports_tools:
            return await refuses_tools_unsent(self, harness)
        # A tool that returns a screenshot or a PDF: each API carries them its own
        # way (inside the result, or in a user turn after it); none may drop them.
        harness.mock.script.reply("", tool_calls=(("get_weather", {"city": "Paris"}),))
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "Weather in Paris?", tools=[WEATHER_TOOL])
            call = r.tool_calls[0]
            chart = ImagePart(data=PNG, media_type="image/png")
            report = DocumentPart(data=PDF, name="forecast.pdf")

            def follow_up(*attachments: ImagePart | DocumentPart) -> list[Message]:
                result = Message.tool(call.id, '{"sky": "sunny"}', *attachments)
                return [Message.user("Weather in Paris?"), r.to_message(), result]

            sent = len(harness.mock.requests)
            if not harness.supports_tool_result_attachments:
                with pytest.raises(InvalidRequestError, match="attachments"):
                    await client.chat(harness.model, follow_up(chart), tools=[WEATHER_TOOL])
                assert len(harness.mock.requests) == sent, "a refused attachment was sent"
                return
            if not harness.supports_documents:
                with pytest.raises(InvalidRequestError, match="document"):
                    await client.chat(harness.model, follow_up(report), tools=[WEATHER_TOOL])
                assert len(harness.mock.requests) == sent, "a refused document was sent"
            attachments = (chart, report) if harness.supports_documents else (chart,)
            harness.mock.script.reply("A sunny chart.")
            final = await client.chat(harness.model, follow_up(*attachments), tools=[WEATHER_TOOL])
        assert final.text == "A sunny chart."
        body = harness.mock.last_request.body.decode()
        assert base64.b64encode(PNG).decode() in body
        if harness.supports_documents:
            assert base64.b64encode(PDF).decode() in body

    @pytest.mark.anyio
    async def test_streamed_tool_call_arguments_are_assembled(self, harness: Harness) -> None:
        if not harness.supports_tools:
            return await refuses_tools_unsent(self, harness)
        args = {"city": "São Paulo", "days": 3, "units": {"temp": "C"}}
        harness.mock.script.reply(
            "", tool_calls=(("get_weather", args), ("get_weather", {"city": "Oslo"}))
        )
        async with (
            self.client(harness) as client,
            client.stream(harness.model, "two cities", tools=[WEATHER_TOOL]) as s,
        ):
            events = [e async for e in s]
        assert any(isinstance(e, ToolCallDelta) for e in events)
        calls = s.response.tool_calls
        assert [(c.name, c.arguments) for c in calls] == [
            ("get_weather", args),
            ("get_weather", {"city": "Oslo"}),
        ]
        assert all(isinstance(c, ToolCall) and c.id for c in calls)
        assert s.response.finish_reason == "tool_calls"

    @pytest.mark.anyio
    async def test_forced_tool_choice(self, harness: Harness) -> None:
        if not harness.supports_tools:
            return await refuses_tools_unsent(self, harness)
        harness.mock.script.reply("", tool_calls=(("get_weather", {"city": "Rome"}),))
        async with self.client(harness) as client:
            if not harness.supports_tool_choice:
                for choice in ("get_weather", "required"):
                    with pytest.raises(InvalidRequestError, match="tool_choice"):
                        await client.chat(
                            harness.model, "Rome", tools=[WEATHER_TOOL], tool_choice=choice
                        )
                assert not harness.mock.requests, "a refused tool_choice must not be sent"
                return
            r = await client.chat(
                harness.model, "Rome", tools=[WEATHER_TOOL], tool_choice="get_weather"
            )
        assert r.tool_calls[0].arguments == {"city": "Rome"}

    @pytest.mark.anyio
    async def test_a_named_message_is_sent_or_refused_unsent(self, harness: Harness) -> None:
        harness.mock.script.reply("Hello, Alice.")
        named = [
            {"role": "user", "name": "alice", "content": "hi, I am Alice"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "name": "bob_2", "content": [{"type": "text", "text": "and Bob"}]},
        ]
        async with self.client(harness) as client:
            if not harness.supports_message_names:
                with pytest.raises(InvalidRequestError, match="`name`") as caught:
                    await client.chat(harness.model, named)
                assert caught.value.param == "messages[0].name"
                assert "leave `name` out" in str(caught.value.hint)
                assert not harness.mock.requests, "a named message must not be sent without it"
                return
            r = await client.chat(harness.model, named)
        assert r.text == "Hello, Alice."
        sent = harness.mock.requests[-1].json()["messages"]
        names = [m.get("name") for m in sent if m.get("role") in ("user", "assistant")]
        assert names == ["alice", None, "bob_2"]

    # -- streaming -------------------------------------------------------------

    @pytest.mark.anyio
    async def test_stream_yields_deltas_and_assembles_the_response(self, harness: Harness) -> None:
        text = "Streaming works, one small piece at a time."
        harness.mock.script.reply(text, input_tokens=7, output_tokens=9)
        async with (
            self.client(harness) as client,
            client.stream(harness.model, "stream please") as s,
        ):
            deltas = [e.text async for e in s if isinstance(e, TextDelta)]
        assert len(deltas) > 1
        assert "".join(deltas) == text
        r = s.response
        assert r.text == text
        assert r.finish_reason == "stop"
        assert (r.usage.input_tokens, r.usage.output_tokens) == (7, 9)
        assert r.time_to_first_token is not None

    @pytest.mark.anyio
    async def test_kinds_the_vendor_adds_later_are_skipped(self, harness: Harness) -> None:
        """An event type, an output block, a part or a field of a kind the vendor has
        not yet (``Reply.future_events``; a mock without them sends none) changes
        nothing, streamed or not: vendors add them without a new API version."""
        reply = Reply(text="Still the answer, whole.", future_events=True)
        harness.mock.script.push(reply, reply)
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "Answer?")
            async with client.stream(harness.model, "Answer?") as s:
                texts = [e.text async for e in s if isinstance(e, TextDelta)]
        assert "".join(texts) == "Still the answer, whole."
        for answer in (r, s.response):
            assert (answer.text, answer.finish_reason) == ("Still the answer, whole.", "stop")

    @pytest.mark.anyio
    async def test_kinds_the_vendor_adds_later_leave_tool_calls_whole(
        self, harness: Harness
    ) -> None:
        """As above, beside a tool call: a block of an unknown kind before it takes
        no tool call's place."""
        if not harness.supports_tools:
            return await refuses_tools_unsent(self, harness)
        args = {"city": "Oslo", "days": 2}
        reply = Reply(text="Looking.", tool_calls=(("get_weather", args),), future_events=True)
        harness.mock.script.push(reply, reply)
        async with self.client(harness) as client:
            r = await client.chat(harness.model, "Oslo?", tools=[WEATHER_TOOL])
            async with client.stream(harness.model, "Oslo?", tools=[WEATHER_TOOL]) as s:
                async for _ in s:
                    pass
        for answer in (r, s.response):
            assert answer.text == "Looking."
            assert [(c.name, c.arguments) for c in answer.tool_calls] == [("get_weather", args)]
            assert answer.finish_reason == "tool_calls"

    @pytest.mark.anyio
    async def test_stream_reasoning_is_kept_apart(self, harness: Harness) -> None:
        harness.mock.script.reply("The answer is 4.", reasoning="2 plus 2 is 4")
        async with self.client(harness) as client:
            async with client.stream(harness.model, "2+2?") as s:
                async for _ in s:
                    pass
            r = await client.chat(harness.model, "2+2 again?")
        assert s.response.text == "The answer is 4."
        # an API without separate reasoning sends none (the mock must not either)
        expected = "2 plus 2 is 4" if harness.supports_reasoning else None
        assert (s.response.reasoning or None) == expected
        assert "2 plus 2" not in r.text

    @pytest.mark.anyio
    async def test_reasoning_setting_reaches_the_model(self, harness: Harness) -> None:
        model = harness.reasoning_model or harness.model
        mock = harness.mock
        async with self.client(harness) as client:
            if not harness.supports_reasoning_effort:
                with pytest.raises(InvalidRequestError, match="reason") as refused:
                    await client.chat(model, "think hard", reasoning="high")
                assert refused.value.status is None, "refused before sending: no status"
                assert not mock.requests, "a refused setting must not reach the vendor"
                return
            await client.chat(model, "think hard", reasoning="high")
            high = mock.sent_reasoning(mock.last_request)
            assert high is not None, "the mock read no thinking setting: override sent_reasoning"
            assert not high.off
            async with client.stream(model, "think hard again", reasoning="high") as s:
                async for _ in s:
                    pass
            streamed = mock.sent_reasoning(mock.last_request)
            assert streamed is not None and not streamed.off
            await client.chat(model, "answer at once", reasoning="none")
            none = mock.sent_reasoning(mock.last_request)
            assert none is not None and none.off
            await client.chat(model, "as you like")
            assert mock.sent_reasoning(mock.last_request) in (None, none), (
                "without reasoning=, the vendor's default applies: nothing is sent"
            )

    @pytest.mark.anyio
    async def test_error_event_inside_stream_raises_stream_error(self, harness: Harness) -> None:
        harness.mock.script.reply(
            "partial answer", stream_fault="error", error="overloaded mid-stream"
        )
        async with self.client(harness) as client:
            with pytest.raises(StreamError) as info:
                async with client.stream(harness.model, "break") as s:
                    async for _ in s:
                        pass
        assert info.value.partial is not None
        assert info.value.partial.text == "partial answer"

    @pytest.mark.anyio
    async def test_dropped_connection_raises_stream_error_with_partial(
        self, harness: Harness
    ) -> None:
        harness.mock.script.reply("this arrives before the drop", stream_fault="drop")
        async with self.client(harness) as client:
            with pytest.raises(StreamError) as info:
                async with client.stream(harness.model, "drop") as s:
                    async for _ in s:
                        pass
        assert info.value.partial is not None
        assert info.value.partial.text == "this arrives before the drop"

    @pytest.mark.anyio
    async def test_leaving_a_stream_early_closes_the_connection(self, harness: Harness) -> None:
        harness.mock.script.reply("x" * 400, chunk_delay=_ABANDONED_PIECE_GAP)
        stats = harness.mock.server.stats
        async with self.client(harness) as client:
            async with client.stream(harness.model, "long") as s:
                async for event in s:
                    if isinstance(event, TextDelta):
                        break
            assert s.response.text.startswith("x")
            await _eventually(lambda: stats.streams_abandoned == 1)
        await _eventually(lambda: stats.connections_open == 0)

    @pytest.mark.anyio
    async def test_cancelling_a_stream_leaves_no_connection_behind(self, harness: Harness) -> None:
        harness.mock.script.reply("y" * 400, chunk_delay=_ABANDONED_PIECE_GAP)
        stats = harness.mock.server.stats
        got_first = anyio.Event()
        async with self.client(harness) as client:

            async def consume() -> None:
                async with client.stream(harness.model, "cancel me") as s:
                    async for _ in s:
                        got_first.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await got_first.wait()
                tg.cancel_scope.cancel()
            await _eventually(lambda: stats.streams_abandoned == 1)
        await _eventually(lambda: stats.connections_open == 0)

    # -- errors ----------------------------------------------------------------

    @pytest.mark.anyio
    async def test_http_errors_map_to_typed_errors(self, harness: Harness) -> None:
        async with self.client(harness) as client:
            for status, error_type in harness.statuses.items():
                harness.mock.script.fail(status, f"mock failure {status}")
                with pytest.raises(error_type) as info:
                    await client.chat(harness.model, "fail")
                err = info.value
                assert err.status == status or (status >= 500 and err.status is not None)
                assert err.provider == harness.model.split("/", 1)[0]
                assert f"mock failure {status}" in str(err)

    @pytest.mark.anyio
    async def test_rate_limit_carries_retry_after(self, harness: Harness) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as info:
                await client.chat(harness.model, "too fast")
        expected = pytest.approx(7) if harness.supports_retry_after else None
        assert info.value.retry_after == expected
        assert info.value.retryable

    @pytest.mark.anyio
    async def test_errors_before_the_stream_starts_are_typed(self, harness: Harness) -> None:
        harness.mock.script.fail(401, "bad key")
        async with self.client(harness) as client:
            with pytest.raises(AuthenticationError):
                async with client.stream(harness.model, "no") as s:
                    async for _ in s:
                        pass

    @pytest.mark.anyio
    async def test_retry_after_a_server_error_succeeds(self, harness: Harness) -> None:
        harness.mock.script.fail(503, "try again")
        harness.mock.script.reply("second time lucky")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.chat(harness.model, "retry")
        assert (r.text, r.attempts) == ("second time lucky", 2)

    @pytest.mark.anyio
    async def test_no_secret_in_errors(self, harness: Harness) -> None:
        harness.mock.script.fail(
            401, "Incorrect API key provided: sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA"
        )
        async with self.client(harness) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.chat(harness.model, "leak?")
        text = f"{info.value} {info.value!r} {info.value.provider_message}"
        assert "sk-proj-AAAA" not in text

    # -- embeddings --------------------------------------------------------------

    @pytest.mark.anyio
    async def test_embed_returns_one_vector_per_input_in_order(self, harness: Harness) -> None:
        texts = ["the cat sat", "on the mat", "the cat sat"]
        async with self.client(harness) as client:
            if harness.embedding_model is None:
                with pytest.raises(InvalidRequestError, match="no embeddings"):
                    await client.embed(harness.model, texts)
                return
            r = await client.embed(harness.embedding_model, texts)
        assert r.vectors == tuple(mock_vector(t) for t in texts)
        assert r.dimensions == MOCK_DIMENSIONS
        assert r.provider == harness.embedding_model.split("/", 1)[0]
        assert r.model
        assert r.usage.input_tokens > 0 and r.usage.output_tokens == 0
        assert r.latency is not None and r.latency > 0

    # -- rerank ------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_rerank_ranks_the_documents_best_first(self, harness: Harness) -> None:
        query = "capital of France"
        documents = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]
        async with self.client(harness) as client:
            if harness.rerank_model is None:
                with pytest.raises(InvalidRequestError, match="no rerank API"):
                    await client.rerank(harness.model, query, documents)
                assert not harness.mock.requests, "a refused rerank must not be sent"
                return
            r = await client.rerank(harness.rerank_model, query, documents)
        assert [(x.index, x.document) for x in r.results] == [
            (1, documents[1]),
            (2, documents[2]),
            (0, documents[0]),
        ]
        assert [x.score for x in r.results] == [
            pytest.approx(mock_relevance(query, documents[i], i)) for i in (1, 2, 0)
        ]
        assert r.provider == harness.rerank_model.split("/", 1)[0] and r.model
        assert r.usage.input_tokens > 0 and r.usage.output_tokens == 0
        assert r.latency is not None and r.latency > 0

    # -- speech to text -----------------------------------------------------------

    @pytest.mark.anyio
    async def test_transcribe_returns_the_text_said(self, harness: Harness) -> None:
        audio = mock_audio("the quick brown fox", seconds=2.0)
        async with self.client(harness) as client:
            if harness.transcription_model is None:
                with pytest.raises(InvalidRequestError, match="no transcription API"):
                    await client.transcribe(harness.model, audio)
                assert not harness.mock.requests, "a refused transcription must not be sent"
                return
            r = await client.transcribe(harness.transcription_model, audio, language="en")
        assert r.text == "the quick brown fox"
        assert r.provider == harness.transcription_model.split("/", 1)[0] and r.model
        # Billed by the minute (then it says how long) or by the token (then it counts).
        assert r.duration == pytest.approx(2.0) or r.usage.input_tokens > 0
        assert r.language
        assert r.latency is not None and r.latency > 0

    # -- image generation ----------------------------------------------------------

    @pytest.mark.anyio
    async def test_generate_image_returns_the_image_drawn(self, harness: Harness) -> None:
        prompt = "a red fox in snow"
        async with self.client(harness) as client:
            if harness.image_model is None:
                with pytest.raises(InvalidRequestError, match="no image generation API"):
                    await client.generate_image(harness.model, prompt)
                assert not harness.mock.requests, "a refused image generation must not be sent"
                return
            r = await client.generate_image(harness.image_model, prompt)
        (image,) = r.images
        assert image.data is not None, "the plugin asks for the image's bytes"
        assert mock_image_prompt(image.data) == prompt
        assert image.media_type == "image/png" and image.size == (8, 8)
        assert "bytes" in repr(image) and repr(image.data[:16]) not in repr(r)
        assert r.provider == harness.image_model.split("/", 1)[0] and r.model
        assert r.latency is not None and r.latency > 0

    # -- text to speech -------------------------------------------------------------

    @pytest.mark.anyio
    async def test_speak_returns_the_audio_spoken(self, harness: Harness) -> None:
        text = "Hello there, general"
        async with self.client(harness) as client:
            if harness.speech_model is None:
                with pytest.raises(InvalidRequestError, match="no speech API"):
                    await client.speak(harness.model, text, voice="alloy")
                assert not harness.mock.requests, "a refused speech must not be sent"
                return
            r = await client.speak(
                harness.speech_model, text, voice=harness.speech_voice, format="wav"
            )
        assert mock_speech_text(r.audio) == text
        assert r.format == "wav" and r.media_type.startswith("audio/")
        assert "bytes wav" in repr(r) and repr(r.audio[:16]) not in repr(r)
        assert r.provider == harness.speech_model.split("/", 1)[0] and r.model
        assert r.latency is not None and r.latency > 0

    @pytest.mark.anyio
    async def test_stream_speech_chunks_join_to_what_speak_returns(self, harness: Harness) -> None:
        # A provider with stream_speech streams its chunks; one with only speak
        # hands its audio over as one chunk: either way they join to speak's audio.
        text = "Hello there, general"
        if harness.speech_model is None:
            async with self.client(harness) as client:
                with pytest.raises(InvalidRequestError, match="no speech API"):
                    async with client.stream_speech(harness.model, text, voice="alloy"):
                        pass
            assert not harness.mock.requests, "a refused speech must not be sent"
            return
        model, storage = harness.speech_model, MemoryStorage()
        params = {"voice": harness.speech_voice, "format": "wav"}
        async with _recording_client(harness, storage) as client:
            async with client.stream_speech(model, text, **params) as audio:
                chunks = [chunk async for chunk in audio]
            spoken = await client.speak(model, text, **params)
            streams = getattr(client.provider(model.split("/", 1)[0]), "stream_speech", None)
        assert chunks and all(chunks), "no empty chunk reaches the caller"
        if streams is None:
            assert len(chunks) == 1, "a provider that only speaks whole sends one chunk"
        joined = b"".join(chunks)
        assert joined == spoken.audio, "the chunks join to the audio speak returns"
        assert mock_speech_text(joined) == text
        r = audio.response
        assert r.audio == b"" and r.streamed_bytes == len(joined)
        assert r.format == "wav" and r.media_type == spoken.media_type
        assert r.provider == model.split("/", 1)[0] and r.model
        assert r.time_to_first_chunk is not None and r.latency is not None
        assert r.cost == spoken.cost, "a streamed speech is priced as speak's"
        record = _streamed_record(storage, "speak")
        assert record.cost == r.cost and record.model == r.model

    @pytest.mark.anyio
    async def test_stream_transcription_deltas_join_to_the_transcript(
        self, harness: Harness
    ) -> None:
        # A model that cannot stream, or a provider with only transcribe, sends the
        # transcript as one delta: the deltas still join to transcribe's text.
        audio = mock_audio("the quick brown fox", seconds=2.0)
        if harness.transcription_model is None:
            async with self.client(harness) as client:
                with pytest.raises(InvalidRequestError, match="no transcription API"):
                    async with client.stream_transcription(harness.model, audio):
                        pass
            assert not harness.mock.requests, "a refused transcription must not be sent"
            return
        model, storage = harness.transcription_model, MemoryStorage()
        async with _recording_client(harness, storage) as client:
            async with client.stream_transcription(model, audio, language="en") as heard:
                deltas = [delta async for delta in heard]
            whole = await client.transcribe(model, audio, language="en")
            streams = getattr(client.provider(model.split("/", 1)[0]), "stream_transcription", None)
        assert deltas and all(deltas), "no empty delta reaches the caller"
        if streams is None:
            assert len(deltas) == 1, "a provider that only transcribes whole sends one delta"
        assert "".join(deltas) == whole.text == "the quick brown fox"
        r = heard.response
        assert r.text == heard.text == whole.text
        assert r.provider == model.split("/", 1)[0] and r.model
        assert r.time_to_first_chunk is not None and r.latency is not None
        assert r.cost == whole.cost, "a streamed transcript is priced as transcribe's"
        record = _streamed_record(storage, "transcribe")
        assert record.text == whole.text and record.cost == r.cost

    # -- image edits ------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_edit_image_sends_the_image_and_returns_the_edit(self, harness: Harness) -> None:
        prompt, photo = "put a red hat on it", mock_image("a fox")
        async with self.client(harness) as client:
            if harness.image_edit_model is None:
                with pytest.raises(InvalidRequestError, match="no image editing API"):
                    await client.edit_image(harness.model, prompt, image=photo)
                assert not harness.mock.requests, "a refused image edit must not be sent"
                return
            model, mask = harness.image_edit_model, mock_mask()
            if not harness.image_edit_mask:
                with pytest.raises(InvalidRequestError, match="mask"):
                    await client.edit_image(model, prompt, image=photo, mask=mask)
                assert not harness.mock.requests, "a refused mask must not be sent"
            r = await client.edit_image(
                model, prompt, image=photo, mask=mask if harness.image_edit_mask else None
            )
        sent = harness.mock.last_request.body
        assert _sent(photo, sent), "the image must reach the vendor as it is"
        assert _sent(mask, sent) == harness.image_edit_mask, "the mask is sent as it is"
        (image,) = r.images
        assert image.data is not None, "the plugin asks for the image's bytes"
        assert mock_image_prompt(image.data) == prompt
        assert image.media_type == "image/png" and image.size == (8, 8)
        assert r.provider == model.split("/", 1)[0] and r.model
        assert r.latency is not None and r.latency > 0

    # -- moderation -----------------------------------------------------------------

    @pytest.mark.anyio
    async def test_moderate_judges_each_text_in_order(self, harness: Harness) -> None:
        texts = ["What a lovely day for a walk", "I will kill you"]
        async with self.client(harness) as client:
            if harness.moderation_model is None:
                with pytest.raises(InvalidRequestError, match="no moderation API"):
                    await client.moderate(harness.model, texts)
                assert not harness.mock.requests, "a refused moderation must not be sent"
                return
            r = await client.moderate(harness.moderation_model, texts)
        safe, threat = r.results
        assert not safe.flagged and threat.flagged and r.flagged
        assert threat.flagged_categories, "a flagged text names its categories"
        # the vendor's own category names, verdicts and scores, read as the mock sent them
        assert dict(threat.scores) == mock_moderation(texts[1], tuple(threat.scores))
        assert dict(threat.categories) == mock_flagged(texts[1], tuple(threat.categories))
        assert r.provider == harness.moderation_model.split("/", 1)[0] and r.model
        assert r.usage.input_tokens > 0 and r.latency is not None and r.latency > 0

    # -- models ----------------------------------------------------------------

    @pytest.mark.anyio
    async def test_a_batch_round_trips_or_is_refused_unsent(self, harness: Harness) -> None:
        item = relaykit.BatchItem("only-one", "Say yes")
        async with self.client(harness) as client:
            if harness.batch_model is None:
                with pytest.raises(InvalidRequestError, match="no batch API"):
                    await client.submit_batch(harness.model, [item])
                with pytest.raises(InvalidRequestError, match="no batch listing API"):
                    await client.batches(harness.model)
                assert not harness.mock.requests
                return
            harness.mock.script.reply("yes")
            batch = await client.submit_batch(harness.batch_model, [item], max_tokens=20)
            assert batch.id.startswith(harness.batch_model.split("/")[0] + "/")
            assert (await client.batch(batch.id)).done
            results = [r async for r in client.batch_results(batch.id)]
        assert [(r.custom_id, r.response and r.response.text) for r in results] == [
            ("only-one", "yes")
        ]

    @pytest.mark.anyio
    async def test_list_models(self, harness: Harness) -> None:
        provider = harness.model.split("/", 1)[0]
        async with self.client(harness) as client:
            models = await client.models(provider)
            # a listing may take several requests (pages, or two lists: Bedrock's)
            listed = sum(1 for r in harness.mock.requests if r.method == "GET")
            again = await client.models(provider)
        assert models
        assert all(m.provider == provider and m.id for m in models)
        assert again == models
        assert listed >= 1
        assert sum(1 for r in harness.mock.requests if r.method == "GET") == listed, (
            "a second call within the TTL must come from the cache"
        )


class EmbeddingContract:
    """More tests for a provider with embeddings: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``embedding_model``.

    ``class TestOpenAI(ProviderContract, EmbeddingContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def embedding_model(self, harness: Harness) -> str:
        """The harness's embedding model (it must have one)."""
        assert harness.embedding_model, "EmbeddingContract needs Harness(embedding_model=...)"
        return harness.embedding_model

    @pytest.mark.anyio
    async def test_embed_many_inputs_keeps_their_order(
        self, harness: Harness, embedding_model: str
    ) -> None:
        # More than any vendor takes in one request (Cohere 96, Gemini 100):
        # the plugin splits them, and the vectors still come back in order.
        texts = [f"document number {i}" for i in range(250)]
        async with self.client(harness) as client:
            r = await client.embed(embedding_model, texts)
        assert r.vectors == tuple(mock_vector(t) for t in texts)
        assert r.usage.input_tokens >= len(texts)

    @pytest.mark.anyio
    async def test_embed_input_type_is_accepted(
        self, harness: Harness, embedding_model: str
    ) -> None:
        async with self.client(harness) as client:
            query = await client.embed(embedding_model, "a question", input_type="query")
            document = await client.embed(embedding_model, "an answer", input_type="document")
        assert query.vectors == (mock_vector("a question"),)
        assert document.vectors == (mock_vector("an answer"),)

    @pytest.mark.anyio
    async def test_embed_dimensions(self, harness: Harness, embedding_model: str) -> None:
        async with self.client(harness) as client:
            size = harness.embedding_dimensions
            if size is None:
                with pytest.raises(InvalidRequestError, match="dimensions"):
                    await client.embed(embedding_model, "short one", dimensions=4)
                return
            short = await client.embed(embedding_model, "short one", dimensions=size)
        assert short.vectors == (mock_vector("short one", size),)

    @pytest.mark.anyio
    async def test_embed_errors_are_typed_without_the_key(
        self, harness: Harness, embedding_model: str
    ) -> None:
        harness.mock.script.fail(
            401, "Incorrect API key provided: sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA"
        )
        harness.mock.script.fail(429, "slow down", retry_after=3)
        harness.mock.script.fail(400, "mock failure 400")
        async with self.client(harness) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.embed(embedding_model, "leak?")
            text = f"{info.value} {info.value!r} {info.value.provider_message}"
            assert "sk-proj-AAAA" not in text
            with pytest.raises(RateLimitError) as limited:
                await client.embed(embedding_model, "too fast")
            assert limited.value.retryable
            if harness.supports_retry_after:
                assert limited.value.retry_after == pytest.approx(3)
            with pytest.raises(InvalidRequestError, match="mock failure 400"):
                await client.embed(embedding_model, "bad")

    @pytest.mark.anyio
    async def test_embed_retries_a_server_error(
        self, harness: Harness, embedding_model: str
    ) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.embed(embedding_model, "retried")
        assert r.vectors == (mock_vector("retried"),)
        assert r.attempts == 2


#: The gap between the pieces of a stream the client leaves early: 50 pieces
#: 0.1 s apart take 5 s, so the mock is still sending when the client leaves
#: (at 0.01 s apart, a client stalled for half a second on a loaded machine left
#: after the mock had sent everything, and no stream was abandoned). The tests
#: wait for the abandonment, a piece or two after the client left, not the 5 s.
_ABANDONED_PIECE_GAP = 0.1


async def _eventually(predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await anyio.sleep(0.01)


class RerankContract:
    """More tests for a provider with a rerank API: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``rerank_model``.

    ``class TestCohere(ProviderContract, RerankContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def rerank_model(self, harness: Harness) -> str:
        """The harness's rerank model (it must have one)."""
        assert harness.rerank_model, "RerankContract needs Harness(rerank_model=...)"
        return harness.rerank_model

    @pytest.mark.anyio
    async def test_rerank_top_n_keeps_the_best(self, harness: Harness, rerank_model: str) -> None:
        documents = [f"note {i} about the weather" for i in range(30)] + ["rain in Paris today"]
        async with self.client(harness) as client:
            r = await client.rerank(rerank_model, "rain in Paris", documents, top_n=2)
        assert [x.index for x in r.results] == [30, 0]
        assert r.documents == ("rain in Paris today", "note 0 about the weather")
        sent = harness.mock.last_request.body.decode()
        assert "rain in Paris today" in sent

    @pytest.mark.anyio
    async def test_rerank_max_tokens_per_doc_is_accepted(
        self, harness: Harness, rerank_model: str
    ) -> None:
        async with self.client(harness) as client:
            r = await client.rerank(
                rerank_model, "cats", ["cats purr", "dogs bark"], max_tokens_per_doc=64
            )
        assert r.results[0].index == 0

    @pytest.mark.anyio
    async def test_rerank_errors_are_typed_without_the_key(
        self, harness: Harness, rerank_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.rerank(rerank_model, "q", ["d"])
        _typed_429_without_the_key(harness, caught.value, rerank_model)

    @pytest.mark.anyio
    async def test_rerank_retries_a_server_error(self, harness: Harness, rerank_model: str) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.rerank(rerank_model, "retried", ["retried text", "other"])
        assert r.results[0].index == 0
        assert r.attempts == 2


class TranscriptionContract:
    """More tests for a provider with speech to text: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``transcription_model``.

    ``class TestOpenAI(ProviderContract, TranscriptionContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def transcription_model(self, harness: Harness) -> str:
        """The harness's transcription model (it must have one)."""
        assert harness.transcription_model, (
            "TranscriptionContract needs Harness(transcription_model=...)"
        )
        return harness.transcription_model

    @pytest.mark.anyio
    async def test_transcribe_sends_the_prompt_and_language(
        self, harness: Harness, transcription_model: str
    ) -> None:
        audio = mock_audio("ship it to Zyxel", seconds=1.0)
        async with self.client(harness) as client:
            r = await client.transcribe(
                transcription_model, audio, language="de", prompt="Zyxel, Qonto"
            )
        assert r.text == "ship it to Zyxel"
        sent = harness.mock.last_request.body
        assert b"Zyxel, Qonto" in sent
        # As it is: in a form, or base64 in a JSON body (Gemini's), never transcoded.
        assert audio in sent or base64.b64encode(audio) in sent, "the audio must go as it is"

    @pytest.mark.anyio
    async def test_transcribe_reads_a_file_and_other_formats(
        self, harness: Harness, transcription_model: str, tmp_path: Any
    ) -> None:
        path = tmp_path / "memo.wav"
        path.write_bytes(mock_audio("from a file"))
        mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8
        async with self.client(harness) as client:
            from_path = await client.transcribe(transcription_model, path)
            from_str = await client.transcribe(transcription_model, str(path))
            from_mp3 = await client.transcribe(
                transcription_model, relaykit.AudioFile(mp3, filename="voice memo.mp3")
            )
        assert from_path.text == from_str.text == "from a file"
        assert from_mp3.text == mock_transcript(mp3)

    @pytest.mark.anyio
    async def test_transcribe_refuses_what_is_no_audio_unsent(
        self, harness: Harness, transcription_model: str, tmp_path: Any
    ) -> None:
        async with self.client(harness) as client:
            with pytest.raises(InvalidRequestError, match="format is unknown"):
                await client.transcribe(transcription_model, b"plain text, not audio")
            with pytest.raises(InvalidRequestError, match="no such file"):
                await client.transcribe(transcription_model, tmp_path / "missing.wav")
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_transcribe_errors_are_typed_without_the_key(
        self, harness: Harness, transcription_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.transcribe(transcription_model, mock_audio("x"))
        _typed_429_without_the_key(harness, caught.value, transcription_model)

    @pytest.mark.anyio
    async def test_transcribe_retries_a_server_error(
        self, harness: Harness, transcription_model: str
    ) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.transcribe(transcription_model, mock_audio("retried"))
        assert r.text == "retried"
        assert r.attempts == 2

    @pytest.mark.anyio
    async def test_stream_transcription_errors_before_the_first_text_are_typed_and_retried(
        self, harness: Harness, transcription_model: str
    ) -> None:
        # The plugin's stream raises the vendor's error before its first delta, so
        # the client can still retry: nothing has reached the caller.
        harness.mock.script.fail(429, "slow down", retry_after=7)
        harness.mock.script.fail(503, "try again")
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                async with client.stream_transcription(transcription_model, mock_audio("x")):
                    pass
        assert caught.value.provider == transcription_model.split("/", 1)[0]
        async with (
            self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client,
            client.stream_transcription(transcription_model, mock_audio("retried")) as heard,
        ):
            deltas = [delta async for delta in heard]
        assert "".join(deltas) == "retried"
        assert heard.response.attempts == 2


class ImageEditContract:
    """More tests for a provider that edits images: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``image_edit_model``.

    ``class TestOpenAI(ProviderContract, ImageEditContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def image_edit_model(self, harness: Harness) -> str:
        """The harness's image edit model (it must have one)."""
        assert harness.image_edit_model, "ImageEditContract needs Harness(image_edit_model=...)"
        return harness.image_edit_model

    @pytest.mark.anyio
    async def test_edit_image_takes_a_file_and_an_image_just_drawn(
        self, harness: Harness, image_edit_model: str, tmp_path: Any
    ) -> None:
        path = tmp_path / "fox.png"
        path.write_bytes(mock_image("a fox"))
        drawn = relaykit.GeneratedImage(data=mock_image("an owl"), media_type="image/png")
        async with self.client(harness) as client:
            from_path = await client.edit_image(image_edit_model, "add snow", image=path)
            sent_path = harness.mock.last_request.body
            from_drawn = await client.edit_image(image_edit_model, "add rain", image=drawn)
            sent_drawn = harness.mock.last_request.body
        assert _sent(mock_image("a fox"), sent_path) and _sent(drawn.data or b"", sent_drawn)
        assert [mock_image_prompt(r.images[0].data or b"") for r in (from_path, from_drawn)] == [
            "add snow",
            "add rain",
        ]

    @pytest.mark.anyio
    async def test_edit_image_refuses_bad_input_unsent(
        self, harness: Harness, image_edit_model: str
    ) -> None:
        photo = mock_image("a fox")
        async with self.client(harness) as client:
            bad: list[tuple[str, Any, dict[str, Any]]] = [
                ("  ", photo, {}),
                ("add a hat", None, {}),
                ("add a hat", b"plain text, not an image", {}),
                ("add a hat", "https://example.com/fox.png", {}),
                ("add a hat", photo, {"mask": mock_mask(side=16)}),  # not the image's size
                ("add a hat", photo, {"n": 0}),
                ("add a hat", photo, {"sise": "1024x1024"}),
            ]
            for prompt, image, params in bad:
                with pytest.raises(InvalidRequestError):
                    await client.edit_image(image_edit_model, prompt, image=image, **params)
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_edit_image_errors_are_typed_without_the_key(
        self, harness: Harness, image_edit_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.edit_image(image_edit_model, "a hat", image=mock_image("a fox"))
        _typed_429_without_the_key(harness, caught.value, image_edit_model)

    @pytest.mark.anyio
    async def test_edit_image_retries_a_server_error(
        self, harness: Harness, image_edit_model: str
    ) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.edit_image(image_edit_model, "retried", image=mock_image("a fox"))
        assert r.attempts == 2 and mock_image_prompt(r.images[0].data or b"") == "retried"


class ImageContract:
    """More tests for a provider that generates images: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``image_model``.

    ``class TestOpenAI(ProviderContract, ImageContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def image_model(self, harness: Harness) -> str:
        """The harness's image model (it must have one)."""
        assert harness.image_model, "ImageContract needs Harness(image_model=...)"
        return harness.image_model

    @pytest.mark.anyio
    async def test_generate_image_draws_each_image_asked_for(
        self, harness: Harness, image_model: str
    ) -> None:
        async with self.client(harness) as client:
            r = await client.generate_image(image_model, "two owls at dusk", n=2)
        assert len(r.images) == 2
        assert all(i.data and mock_image_prompt(i.data) == "two owls at dusk" for i in r.images)
        first, second = (mock_pixel(i.data or b"") for i in r.images)
        assert first != second, "each image is its own, not one sent twice"

    @pytest.mark.anyio
    async def test_generate_image_sends_the_prompt_and_says_the_size(
        self, harness: Harness, image_model: str
    ) -> None:
        async with self.client(harness) as client:
            r = await client.generate_image(
                image_model, "a lighthouse, Zyxel blue", size="1024x1024"
            )
        assert b"a lighthouse, Zyxel blue" in harness.mock.last_request.body
        assert r.size == "1024x1024"

    @pytest.mark.anyio
    async def test_generate_image_refuses_bad_input_unsent(
        self, harness: Harness, image_model: str
    ) -> None:
        async with self.client(harness) as client:
            bad: list[tuple[str, dict[str, Any]]] = [
                ("  ", {}),
                ("a cat", {"n": 0}),
                ("a cat", {"size": "big"}),
                ("a cat", {"sise": "1024x1024"}),
            ]
            for prompt, params in bad:
                with pytest.raises(InvalidRequestError):
                    await client.generate_image(image_model, prompt, **params)
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_generate_image_errors_are_typed_without_the_key(
        self, harness: Harness, image_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.generate_image(image_model, "a cat")
        _typed_429_without_the_key(harness, caught.value, image_model)

    @pytest.mark.anyio
    async def test_generate_image_retries_a_server_error(
        self, harness: Harness, image_model: str
    ) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.generate_image(image_model, "retried")
        assert r.attempts == 2 and len(r.images) == 1


class SpeechContract:
    """More tests for a provider with text to speech: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``speech_model``.

    ``class TestOpenAI(ProviderContract, SpeechContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def speech_model(self, harness: Harness) -> str:
        """The harness's speech model (it must have one)."""
        assert harness.speech_model, "SpeechContract needs Harness(speech_model=...)"
        return harness.speech_model

    @pytest.mark.anyio
    async def test_speak_sends_the_text_voice_and_format(
        self, harness: Harness, speech_model: str
    ) -> None:
        async with self.client(harness) as client:
            r = await client.speak(
                speech_model,
                "ship it to Zyxel",
                voice=harness.speech_voice,
                format=harness.speech_format,
            )
        sent = harness.mock.last_request.body
        assert b"ship it to Zyxel" in sent and harness.speech_voice.encode() in sent
        assert r.format == harness.speech_format
        assert mock_speech_text(r.audio) == "ship it to Zyxel"

    @pytest.mark.anyio
    async def test_speak_in_wav_transcribes_back(self, harness: Harness, speech_model: str) -> None:
        if harness.transcription_model is None:
            pytest.skip("this provider has no speech to text")
        async with self.client(harness) as client:
            spoken = await client.speak(
                speech_model, "round trip", voice=harness.speech_voice, format="wav"
            )
            heard = await client.transcribe(harness.transcription_model, spoken.audio)
        assert heard.text == "round trip"

    @pytest.mark.anyio
    async def test_speak_refuses_bad_input_unsent(
        self, harness: Harness, speech_model: str
    ) -> None:
        async with self.client(harness) as client:
            bad: list[tuple[str, dict[str, Any]]] = [
                ("  ", {"voice": "alloy"}),
                ("hi", {}),
                ("hi", {"voice": "alloy", "format": "ogg"}),
                ("hi", {"voice": "alloy", "speed": 5}),
                ("hi", {"voice": "alloy", "sped": 1.0}),
            ]
            for text, params in bad:
                with pytest.raises(InvalidRequestError):
                    await client.speak(speech_model, text, **params)
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_speak_errors_are_typed_without_the_key(
        self, harness: Harness, speech_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.speak(
                    speech_model, "x", voice=harness.speech_voice, format=harness.speech_format
                )
        _typed_429_without_the_key(harness, caught.value, speech_model)

    @pytest.mark.anyio
    async def test_speak_retries_a_server_error(self, harness: Harness, speech_model: str) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.speak(
                speech_model, "retried", voice=harness.speech_voice, format=harness.speech_format
            )
        assert r.attempts == 2 and mock_speech_text(r.audio) == "retried"

    @pytest.mark.anyio
    async def test_stream_speech_refuses_bad_input_unsent(
        self, harness: Harness, speech_model: str
    ) -> None:
        async with self.client(harness) as client:
            bad: list[tuple[str, dict[str, Any]]] = [
                ("  ", {"voice": "alloy"}),
                ("hi", {}),
                ("hi", {"voice": "alloy", "sped": 1.0}),
            ]
            for text, params in bad:
                with pytest.raises(InvalidRequestError):
                    async with client.stream_speech(speech_model, text, **params):
                        pass
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_stream_speech_errors_before_the_first_chunk_are_typed_and_retried(
        self, harness: Harness, speech_model: str
    ) -> None:
        # The plugin's stream raises the vendor's error before its first chunk, so
        # the client can still retry: nothing has reached the caller.
        params = {"voice": harness.speech_voice, "format": harness.speech_format}
        harness.mock.script.fail(429, "slow down", retry_after=7)
        harness.mock.script.fail(503, "try again")
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                async with client.stream_speech(speech_model, "x", **params):
                    pass
        error = caught.value
        assert error.provider == speech_model.split("/", 1)[0]
        key = str(harness.providers.get(error.provider, {}).get("api_key") or "")
        assert not key or (key not in str(error) and key not in repr(error))
        async with (
            self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client,
            client.stream_speech(speech_model, "retried", **params) as audio,
        ):
            chunks = [chunk async for chunk in audio]
        assert mock_speech_text(b"".join(chunks)) == "retried"
        assert audio.response.attempts == 2


class ModerationContract:
    """More tests for a provider with moderation: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``moderation_model``.

    ``class TestOpenAI(ProviderContract, ModerationContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def moderation_model(self, harness: Harness) -> str:
        """The harness's moderation model (it must have one)."""
        assert harness.moderation_model, "ModerationContract needs Harness(moderation_model=...)"
        return harness.moderation_model

    @pytest.mark.anyio
    async def test_moderate_sends_each_text(self, harness: Harness, moderation_model: str) -> None:
        texts = ["Zyxel ships on Friday", "Qonto pays on Monday", "Zyxel ships on Friday"]
        async with self.client(harness) as client:
            r = await client.moderate(moderation_model, texts)
        sent = harness.mock.last_request.body
        assert b"Zyxel ships on Friday" in sent and b"Qonto pays on Monday" in sent
        assert len(r.results) == 3 and not r.flagged
        assert r.results[0].scores == r.results[2].scores, "a result per text, in order"

    @pytest.mark.anyio
    async def test_moderate_refuses_bad_input_unsent(
        self, harness: Harness, moderation_model: str
    ) -> None:
        async with self.client(harness) as client:
            bad: list[tuple[Any, dict[str, Any]]] = [
                ("  ", {}),
                ([], {}),
                (b"bytes, not text", {}),
                ("fine", {"timout": 5}),
            ]
            for texts, params in bad:
                with pytest.raises(InvalidRequestError):
                    await client.moderate(moderation_model, texts, **params)
        assert not harness.mock.requests

    @pytest.mark.anyio
    async def test_moderate_errors_are_typed_without_the_key(
        self, harness: Harness, moderation_model: str
    ) -> None:
        harness.mock.script.fail(429, "slow down", retry_after=7)
        async with self.client(harness) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.moderate(moderation_model, "x")
        _typed_429_without_the_key(harness, caught.value, moderation_model)

    @pytest.mark.anyio
    async def test_moderate_retries_a_server_error(
        self, harness: Harness, moderation_model: str
    ) -> None:
        harness.mock.script.fail(503, "try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            r = await client.moderate(moderation_model, "I will kill you")
        assert r.attempts == 2 and r.flagged


class BatchContract:
    """More tests for a provider with a batch API: add it to the bases of a
    :class:`ProviderContract` subclass whose harness sets ``batch_model``.

    ``class TestOpenAI(ProviderContract, BatchContract): ...``
    """

    client = staticmethod(_client)

    @pytest.fixture
    def batch_model(self, harness: Harness) -> str:
        """The harness's batch model (it must have one)."""
        assert harness.batch_model, "BatchContract needs Harness(batch_model=...)"
        return harness.batch_model

    @pytest.mark.anyio
    async def test_batch_submit_status_and_results_with_a_failed_item(
        self, harness: Harness, batch_model: str
    ) -> None:
        harness.mock.script.reply("alpha")
        harness.mock.script.fail(400, "this item is malformed")
        items: list[Any] = [
            relaykit.BatchItem("item-1", "first question", {"temperature": 0}),
            {"custom_id": "item-2", "prompt": "second question"},
        ]
        async with self.client(harness) as client:
            submitted = await client.submit_batch(batch_model, items, max_tokens=50)
            assert submitted.status == "in_progress" and not submitted.done
            assert submitted.model == batch_model.split("/", 1)[1]
            batch = await client.batch(submitted.id)
            results = {r.custom_id: r async for r in client.batch_results(batch.id)}
        assert batch.status == "ended" and batch.done
        assert (batch.total, batch.succeeded, batch.errored) == (2, 1, 1)
        assert set(results) == {"item-1", "item-2"}
        answer = results["item-1"].response
        assert answer is not None and answer.text == "alpha" and answer.usage.output_tokens
        assert answer.provider == batch.provider and answer.cost is not None
        error = results["item-2"].error
        assert isinstance(error, InvalidRequestError) and error.status == 400
        assert "this item is malformed" in str(error)
        key = str(harness.providers[batch.provider].get("api_key") or "")
        assert not key or key not in str(error)

    @pytest.mark.anyio
    async def test_cancelling_a_batch_fails_the_items_not_run(
        self, harness: Harness, batch_model: str
    ) -> None:
        harness.mock.hold_batches = True
        async with self.client(harness) as client:
            batch = await client.submit_batch(batch_model, [relaykit.BatchItem("x-1", "hi")])
            still = await client.batch(batch.id)
            with pytest.raises(InvalidRequestError, match=r"wait until batch\.done"):
                [r async for r in client.batch_results(batch.id)]
            cancelling = await client.cancel_batch(batch.id)
            cancelled = await client.batch(batch.id)
            (result,) = [r async for r in client.batch_results(batch.id)]
        assert still.status == "in_progress"
        assert cancelling.status in ("cancelling", "cancelled")
        assert cancelled.status == "cancelled" and cancelled.done
        assert result.custom_id == "x-1"
        assert isinstance(result.error, relaykit.BatchItemNotRunError)
        assert result.error.reason == "cancelled" and "cancelled" in str(result.error)

    @pytest.mark.anyio
    async def test_batch_errors_are_typed_without_the_key(
        self, harness: Harness, batch_model: str
    ) -> None:
        harness.mock.batch_script.fail(429, "slow down", retry_after=7)
        provider = batch_model.split("/", 1)[0]
        async with self.client(harness, retry={"attempts": 1}) as client:
            with pytest.raises(RateLimitError) as caught:
                await client.submit_batch(batch_model, [relaykit.BatchItem("a", "hi")])
            with pytest.raises(NotFoundError) as missing:
                await client.batch(f"{provider}/batch_that_never_was")
        _typed_429_without_the_key(harness, caught.value, batch_model)
        key = str(harness.providers[provider].get("api_key") or "")
        assert not key or key not in repr(missing.value)

    @pytest.mark.anyio
    async def test_a_submit_whose_answer_is_lost_makes_one_batch_and_says_so(
        self, harness: Harness, batch_model: str
    ) -> None:
        """The mock does what each request of a submit asks, then loses one answer
        (the ``n``-th batch request's): never two batches; the batch found again, or a
        typed error, not retryable, saying it may exist and how to look for it.
        (The mock keeps its batches in ``mock.batches.batches``, by vendor id.)"""
        mock: Any = harness.mock  # a mock with batches (see the docstring)
        held: Any = mock.batches.batches
        losses: tuple[tuple[int, Literal["drop", "reset"]], ...] = (
            (0, "drop"),
            (1, "drop"),
            (2, "reset"),
        )
        for n, lost in losses:
            mock.batch_script.clear()
            mock.batch_script.push(*[Reply()] * n, Reply(answer_lost=lost))
            before = set(held)
            async with self.client(harness) as client:
                failure: relaykit.RelayError | None = None
                try:
                    batch = await client.submit_batch(
                        batch_model, [relaykit.BatchItem(f"lost-{n}", "hi")]
                    )
                except relaykit.RelayError as e:
                    failure = e
            made = set(held) - before
            assert len(made) <= 1, f"answer {n} lost: {len(made)} batches made"
            if failure is None:
                assert batch.vendor_id in made
            else:
                assert not failure.retryable, failure
                text = str(failure)
                provider = batch_model.split("/", 1)[0]
                if "may have been created" in text:
                    assert f"client.batches({provider!r})" in text, text
                else:  # a step before the create (an upload) lost its answer: no batch
                    assert not made and "no batch was created" in text, text
        mock.batch_script.clear()

    @pytest.mark.anyio
    async def test_batches_are_listed_newest_first(
        self, harness: Harness, batch_model: str
    ) -> None:
        """``client.batches`` lists what was submitted, newest first, up to its limit,
        each id one ``client.batch`` takes."""
        harness.mock.hold_batches = True
        provider = batch_model.split("/", 1)[0]
        async with self.client(harness) as client:
            made = [
                (await client.submit_batch(batch_model, [relaykit.BatchItem(f"l-{n}", "hi")])).id
                for n in range(3)
            ]
            listed = await client.batches(provider, limit=2)
            everything = await client.batches(batch_model, limit=100)
            again = await client.batch(listed[0].id)
        assert [b.id for b in listed] == made[::-1][:2]
        assert [b.id for b in everything][:3] == made[::-1]
        assert all(b.provider == provider and not b.done for b in listed)
        assert again.id == made[-1]

    @pytest.mark.anyio
    async def test_a_submit_refused_for_now_is_retried_and_made_once(
        self, harness: Harness, batch_model: str
    ) -> None:
        """A 503 (or 429) says nothing was done: the submit is retried with ``[retry]``,
        and one batch is made."""
        mock: Any = harness.mock  # a mock with batches
        held: Any = mock.batches.batches
        before = set(held)
        mock.batch_script.fail(503, "overloaded, try again")
        async with self.client(harness, retry={"attempts": 2, "initial_wait": 0}) as client:
            batch = await client.submit_batch(batch_model, [relaykit.BatchItem("r-1", "hi")])
        made = set(held) - before
        assert made == {batch.vendor_id}

    @pytest.mark.anyio
    async def test_bad_batches_are_refused_unsent(self, harness: Harness, batch_model: str) -> None:
        item = relaykit.BatchItem("same", "hi")
        async with self.client(harness) as client:
            bad: list[tuple[Any, dict[str, Any]]] = [
                ([], {}),
                ([item, item], {}),
                ([relaykit.BatchItem("", "hi")], {}),
                ([item], {"temprature": 0}),
                ([relaykit.BatchItem("x", "hi", {"max_tokens": 0})], {}),
            ]
            for items, params in bad:
                with pytest.raises(InvalidRequestError):
                    await client.submit_batch(batch_model, items, **params)
        assert not harness.mock.requests


__all__ = [
    "PDF",
    "PNG",
    "WEATHER_TOOL",
    "BatchContract",
    "EmbeddingContract",
    "Harness",
    "ImageContract",
    "ImageEditContract",
    "ModerationContract",
    "ProviderContract",
    "Reply",
    "RerankContract",
    "SpeechContract",
    "TranscriptionContract",
    "weather_tool_loop",
]


async def refuses_tools_unsent(suite: ProviderContract, harness: Harness) -> None:
    """For a provider without tools: ``tools=`` is an InvalidRequestError naming
    ``tools``, chat and stream, before anything is sent (silently left out, the
    model would answer without the tools the caller meant it to call)."""
    async with suite.client(harness) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(harness.model, "Weather in Paris?", tools=[WEATHER_TOOL])
        assert caught.value.param == "tools"
        with pytest.raises(InvalidRequestError):
            async with client.stream(harness.model, "Paris?", tools=[WEATHER_TOOL]) as s:
                async for _ in s:
                    pass
    assert not harness.mock.requests, "a refused tool must not be sent"
