"""An in-process provider driven by a :class:`~relaykit.testing.script.Script`.

For testing code that uses relaykit without any HTTP at all::

    fake = FakePlugin()
    fake.script.reply("hello")
    async with relaykit.Client(plugins=[fake]) as client:
        await client.chat("fake/any-model", "hi")
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs

from .._hookimpl import hookimpl
from ..batches import Batch, BatchResult
from ..embeddings import EmbeddingRequest, EmbeddingResponse
from ..errors import StreamError, error_for_status
from ..events import (
    Finish,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from ..image_generation import (
    AnyImageRequest,
    GeneratedImage,
    ImageEditRequest,
    ImageRequest,
    ImageResponse,
)
from ..messages import ReasoningPart, ToolCall
from ..moderation import ModerationRequest, ModerationResponse, moderation_result
from ..protocols import ProviderSettings
from ..request import ChatRequest
from ..rerank import RerankRequest, RerankResponse, ranked
from ..response import NO_USAGE, ChatResponse, ModelInfo, ModelPrice, Usage
from ..speech import SpeechRequest, SpeechResponse, media_type_of
from ..transcription import TranscriptionRequest, TranscriptionResponse
from .audio_samples import mock_seconds, mock_transcript
from .embedding_vectors import mock_embedding_tokens, mock_vector
from .fake_batches import FakeBatches
from .image_samples import mock_image
from .moderation_scores import mock_flagged, mock_moderation
from .rerank_scores import mock_ranking
from .script import Reply, Script
from .speech_samples import mock_speech

if TYPE_CHECKING:
    from ..http import HttpClient


class FakeProvider:
    """Answers from its script; echoes the last user message when the script is empty."""

    type: ClassVar[str] = "fake"
    default_base_url: ClassVar[str] = "fake://"
    api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    requires_api_key: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()
    #: it "searches the web" for ``web_search=``: a reply's scripted citations
    searches_web: ClassVar[bool] = True
    PRICE: ClassVar[ModelPrice] = ModelPrice(
        Decimal("1"), Decimal("2"), batch_share=Decimal("0.5"), web_search=Decimal("0.01")
    )
    #: a ``rerank-*`` model's: USD 2 per thousand searches of up to 100 documents
    RERANK_PRICE: ClassVar[ModelPrice] = ModelPrice(
        Decimal(0), Decimal(0), per_search=Decimal("0.002")
    )
    #: a ``whisper-*`` model's: USD 0.006 per minute of audio (as OpenAI's whisper-1)
    WHISPER_PRICE: ClassVar[ModelPrice] = ModelPrice(
        Decimal(0), Decimal(0), per_minute=Decimal("0.006")
    )
    #: a ``dall-e-*`` model's: per image, by quality and size, as OpenAI's DALL-E 3
    #: (USD 0.04 standard 1024x1024, 0.08 wide or hd, 0.12 wide and hd)
    DALLE_PRICE: ClassVar[ModelPrice] = ModelPrice(
        Decimal(0),
        Decimal(0),
        per_image=Decimal("0.04"),
        image_prices={
            "1024x1792": Decimal("0.08"),
            "1792x1024": Decimal("0.08"),
            "hd": Decimal("0.08"),
            "hd/1024x1792": Decimal("0.12"),
            "hd/1792x1024": Decimal("0.12"),
        },
    )
    #: a ``tts-*`` model's: USD 15 per million characters (as OpenAI's tts-1)
    TTS_PRICE: ClassVar[ModelPrice] = ModelPrice(
        Decimal(0), Decimal(0), per_character=Decimal("0.000015")
    )
    #: an ``omni-moderation-*`` or ``text-moderation-*`` model's: free, as OpenAI's
    FREE_PRICE: ClassVar[ModelPrice] = ModelPrice(Decimal(0), Decimal(0))
    #: the output tokens a token-billed image costs, unless the script says
    IMAGE_TOKENS: ClassVar[int] = 100
    #: the input tokens each image sent to an edit adds, unless the script says
    INPUT_IMAGE_TOKENS: ClassVar[int] = 65

    def __init__(
        self,
        settings: ProviderSettings,
        script: Script,
        calls: list[ChatRequest],
        context_window: int = 8192,
        embeddings: list[EmbeddingRequest] | None = None,
    ) -> None:
        self.settings = settings
        self.script = script
        self.calls = calls
        self.embeddings = [] if embeddings is None else embeddings
        self.reranks: list[RerankRequest] = []
        self.transcriptions: list[TranscriptionRequest] = []
        self.images: list[ImageRequest] = []
        self.image_edits: list[ImageEditRequest] = []
        self.speeches: list[SpeechRequest] = []
        self.moderations: list[ModerationRequest] = []
        self.context_window = context_window
        #: the plugin's batches (the factory shares them between instances)
        self.batch_store = FakeBatches()

    def _reply(self, request: ChatRequest) -> Reply:
        self.calls.append(request)
        last = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        return self.script.next(Reply(text=f"echo: {last}"))

    def _usage(self, reply: Reply, request: ChatRequest) -> Usage:
        if not reply.usage:  # an answer that carries none (the client estimates it)
            return NO_USAGE
        inp = reply.input_tokens
        if inp is None:
            inp = sum(len(m.text.split()) for m in request.messages)
        out = reply.output_tokens if reply.output_tokens is not None else len(reply.text.split())
        return Usage(
            inp,
            out,
            reply.cached_input_tokens,
            reply.reasoning_tokens,
            reply.cache_write_input_tokens,
            reply.cache_write_1h_input_tokens,
            reply.web_searches,
        )

    def _raise(
        self,
        reply: Reply,
        request: ChatRequest
        | EmbeddingRequest
        | RerankRequest
        | TranscriptionRequest
        | ImageRequest
        | ImageEditRequest
        | SpeechRequest
        | ModerationRequest,
    ) -> None:
        if reply.status >= 400:
            raise error_for_status(
                reply.status,
                reply.error,
                provider=self.settings.name,
                model=request.model,
                retry_after=reply.retry_after,
                code=reply.error_code,
            )

    def _blocks(self, reply: Reply) -> tuple[ReasoningPart, ...]:
        # Scripted blocks go out as written (signatures included), as this type's.
        return tuple(
            [attrs.evolve(b, origin=b.origin or self.type) for b in reply.reasoning_blocks]
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """The next scripted reply as a response."""
        reply = self._reply(request)
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        calls = tuple(
            ToolCall(f"call_{i}", name, dict(args))
            for i, (name, args) in enumerate(reply.tool_calls)
        )
        blocks = self._blocks(reply)
        return ChatResponse(
            text=reply.text,
            reasoning="".join([b.text for b in blocks]) if blocks else reply.reasoning,
            reasoning_signature=next((b.signature for b in blocks[::-1] if b.signature), None),
            reasoning_parts=blocks,
            tool_calls=calls,
            finish_reason=reply.finish_reason,  # type: ignore[arg-type]
            usage=self._usage(reply, request),
            model=request.model,
            id="fake-1",
            citations=reply.citations,
            search_queries=reply.search_queries,
            search_suggestions=reply.search_suggestions,
            stop_sequence=reply.stop_sequence,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The next scripted reply as stream events."""
        reply = self._reply(request)
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        yield StreamStart("fake-1", request.model)
        if reply.first_token_delay:
            await anyio.sleep(reply.first_token_delay)
        for b in self._blocks(reply):
            yield ReasoningDelta(
                b.text, b.signature, new_block=True, redacted=b.redacted, origin=b.origin
            )
        if reply.reasoning and not reply.reasoning_blocks:
            yield ReasoningDelta(reply.reasoning)
        # A web search runs before the answer written from it: its events come first.
        for query in reply.search_queries:
            yield SearchQuery(query)
        for i, piece in enumerate(reply.chunks()):
            if reply.chunk_delay and i:
                await anyio.sleep(reply.chunk_delay)
            yield TextDelta(piece)
        for citation in reply.citations:
            yield citation
        for i, (name, args) in enumerate(reply.tool_calls):
            import json

            yield ToolCallDelta(i, f"call_{i}", name, json.dumps(args))
        if reply.stream_fault:
            raise StreamError(
                reply.error or "scripted stream failure",
                provider=self.settings.name,
                model=request.model,
            )
        if reply.usage:
            yield UsageUpdate(self._usage(reply, request))
        yield Finish(
            reply.finish_reason,  # type: ignore[arg-type]
            search_suggestions=reply.search_suggestions,
            stop_sequence=reply.stop_sequence,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """:func:`~relaykit.testing.mock_vector` of each input; the script's next
        reply may fail the call, delay it, or set its ``input_tokens``."""
        self.embeddings.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        dimensions = request.dimensions or 8
        tokens = reply.input_tokens
        if tokens is None:
            tokens = sum(map(mock_embedding_tokens, request.inputs))
        return EmbeddingResponse(
            vectors=tuple(mock_vector(text, dimensions) for text in request.inputs),
            model=request.model,
            usage=Usage(tokens),
        )

    async def rerank(self, request: RerankRequest) -> RerankResponse:
        """The documents ranked by :func:`~relaykit.testing.mock_relevance`, one search
        unit per 100 documents; the script's next reply may fail the call, delay it,
        or set its ``input_tokens`` (none by default: billed per search)."""
        self.reranks.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        scores = mock_ranking(request.query, request.documents)
        return RerankResponse(
            results=ranked(request, scores, provider=self.settings.name),
            model=request.model,
            id="rerank-fake",
            usage=Usage(reply.input_tokens or 0),
            search_units=-(-len(request.documents) // 100),
        )

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResponse:
        """:func:`~relaykit.testing.mock_transcript` of the audio (or the script's next
        reply's ``text``; it may also fail the call or delay it).

        A ``whisper-*`` model says how long the audio lasts
        (:func:`~relaykit.testing.mock_seconds`) and counts no tokens, as a model
        billed by the minute; any other counts tokens, as gpt-4o-transcribe does:
        a thousand a minute of audio (``audio_tokens``), plus the prompt's words,
        in, and the transcript's words out (or the reply's counts).
        """
        self.transcriptions.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        return self._transcript(request, reply)

    async def stream_transcription(
        self, request: TranscriptionRequest
    ) -> AsyncIterator[str | TranscriptionResponse]:
        """:meth:`transcribe`'s transcript streamed a word at a time, then the whole
        response; the script's next reply may fail the call, delay it or its first
        word (``first_token_delay``), space the words (``chunk_delay``), or break the
        stream after its first word (``stream_fault``)."""
        self.transcriptions.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        response = self._transcript(request, reply)
        if reply.first_token_delay:
            await anyio.sleep(reply.first_token_delay)
        words = response.text.split(" ")
        for i, word in enumerate(words):
            if reply.chunk_delay and i:
                await anyio.sleep(reply.chunk_delay)
            yield word if i == 0 else f" {word}"
            if reply.stream_fault:
                raise StreamError(
                    reply.error or "scripted stream failure",
                    provider=self.settings.name,
                    model=request.model,
                )
        yield response

    def _transcript(self, request: TranscriptionRequest, reply: Reply) -> TranscriptionResponse:
        data = request.audio.data
        text = reply.text or mock_transcript(data)
        seconds = mock_seconds(data)
        if request.model.startswith("whisper"):
            return TranscriptionResponse(
                text=text, language="english", duration=seconds, model=request.model
            )
        audio_tokens = -(-round(seconds * 1000) // 60)
        prompt = len((request.prompt or "").split())
        usage = Usage(
            reply.input_tokens if reply.input_tokens is not None else audio_tokens + prompt,
            reply.output_tokens if reply.output_tokens is not None else len(text.split()),
        )
        return TranscriptionResponse(
            text=text,
            model=request.model,
            id="transcribe-fake",
            usage=usage,
            audio_tokens=min(audio_tokens, usage.input_tokens),
        )

    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        """``request.n`` images, each :func:`~relaykit.testing.mock_image` of the prompt
        and its index; the script's next reply may fail the call, delay it, set
        the revised prompt (its ``text``) or the token counts.

        A ``dall-e-*`` model counts no tokens, as a model billed per image, and
        says what quality and size it drew (``standard``, ``1024x1024`` by
        default); any other counts tokens, as OpenAI's GPT image models do: the
        prompt's words in, :attr:`IMAGE_TOKENS` an image out (or the reply's
        counts). ``extra={"response_format": "url"}`` answers URLs instead of bytes.
        """
        self.images.append(request)
        return await self._draw(request)

    async def edit_image(self, request: ImageEditRequest) -> ImageResponse:
        """What :meth:`generate_image` answers for the edit's prompt (the request, with
        its images and mask, is kept in :attr:`image_edits`); each input image adds
        :attr:`INPUT_IMAGE_TOKENS` input tokens to a model billed by the token, counted
        apart too (``image_tokens``), as OpenAI counts them."""
        self.image_edits.append(request)
        return await self._draw(request)

    async def _draw(self, request: AnyImageRequest) -> ImageResponse:
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        as_url = request.extra.get("response_format") == "url"
        images = tuple(
            GeneratedImage(
                data=None if as_url else mock_image(request.prompt, i),
                url=f"https://images.fake.invalid/{i}.png?sig=fake-signature" if as_url else None,
                revised_prompt=reply.text or None,
            )
            for i in range(request.n)
        )
        if request.model.startswith("dall-e"):
            return ImageResponse(
                images=images,
                model=request.model,
                id="image-fake",
                size=request.size or "1024x1024",
                quality=request.quality or "standard",
            )
        words = len(request.prompt.split())
        image_tokens = 0
        if isinstance(request, ImageEditRequest):
            image_tokens = self.INPUT_IMAGE_TOKENS * len(request.images)
        usage = Usage(
            reply.input_tokens if reply.input_tokens is not None else words + image_tokens,
            reply.output_tokens
            if reply.output_tokens is not None
            else self.IMAGE_TOKENS * request.n,
        )
        return ImageResponse(
            images=images,
            model=request.model,
            id="image-fake",
            usage=usage,
            image_tokens=min(image_tokens, usage.input_tokens),
        )

    async def speak(self, request: SpeechRequest) -> SpeechResponse:
        """:func:`~relaykit.testing.mock_speech` of the text in the format asked (a
        ``wav`` is :func:`~relaykit.testing.mock_audio` of it, which transcribes
        back to the text); the script's next reply may fail the call or delay it.
        No tokens are counted, as OpenAI's speech endpoint reports none.
        """
        self.speeches.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        audio = mock_speech(request.text, request.format, speed=request.speed or 1.0)
        return SpeechResponse(
            audio=audio,
            format=request.format,
            media_type=media_type_of(request.format),
            model=request.model,
            id="speech-fake",
        )

    async def moderate(self, request: ModerationRequest) -> ModerationResponse:
        """Each input judged by :func:`~relaykit.testing.mock_moderation` under OpenAI's
        categories (``"I will kill you"`` is flagged for ``violence``); the script's
        next reply may fail the call, delay it, or set its ``input_tokens`` (none by
        default, as OpenAI counts none)."""
        self.moderations.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        results = []
        for text in request.inputs:
            scores = mock_moderation(text)
            results.append(
                moderation_result(
                    mock_flagged(text),
                    scores,
                    applied_input_types=dict.fromkeys(scores, ("text",)),
                )
            )
        return ModerationResponse(
            results=tuple(results),
            model=request.model,
            id="modr-fake",
            usage=Usage(reply.input_tokens or 0),
        )

    #: the size of the chunks :meth:`stream_speech` yields
    SPEECH_CHUNK: ClassVar[int] = 1024

    async def stream_speech(self, request: SpeechRequest) -> AsyncIterator[bytes | SpeechResponse]:
        """:meth:`speak`'s audio in :attr:`SPEECH_CHUNK`-byte chunks, then a summary
        without audio (its media type and id); the script's next reply may fail the
        call, delay it or its first chunk (``first_token_delay``), space the chunks
        (``chunk_delay``), or break the stream after its first chunk (``stream_fault``).
        """
        self.speeches.append(request)
        reply = self.script.next(Reply())
        if reply.delay:
            await anyio.sleep(reply.delay)
        self._raise(reply, request)
        audio = mock_speech(request.text, request.format, speed=request.speed or 1.0)
        if reply.first_token_delay:
            await anyio.sleep(reply.first_token_delay)
        size = self.SPEECH_CHUNK
        for i in range(0, len(audio), size):
            if reply.chunk_delay and i:
                await anyio.sleep(reply.chunk_delay)
            yield audio[i : i + size]
            if reply.stream_fault:
                raise StreamError(
                    reply.error or "scripted stream failure",
                    provider=self.settings.name,
                    model=request.model,
                )
        yield SpeechResponse(
            audio=b"",
            format=request.format,
            media_type=media_type_of(request.format),
            model=request.model,
            id="speech-fake",
        )

    async def list_models(self) -> list[ModelInfo]:
        """One model, priced."""
        return [
            ModelInfo(
                "fake-model",
                self.settings.name,
                context_window=self.context_window,
                price=self.PRICE,
            )
        ]

    # -- batches (see fake_batches.py) -------------------------------------------

    async def submit_batch(self, requests: Sequence[tuple[str, ChatRequest]]) -> Batch:
        """Keep ``requests`` as a batch in progress (run on the first look)."""
        return self.batch_store.submit(self.settings.name, requests)

    async def get_batch(self, vendor_id: str) -> Batch:
        """The batch; the first look runs its items through :meth:`chat`."""
        return await self.batch_store.get(self.settings.name, vendor_id, self.chat)

    async def cancel_batch(self, vendor_id: str) -> Batch:
        """Cancel the batch if it has not run."""
        return self.batch_store.cancel(self.settings.name, vendor_id)

    def batch_results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The batch's results, in the items' order."""
        return self.batch_store.results(self.settings.name, batch.id)

    def list_batches(self, limit: int) -> AsyncIterator[Batch]:
        """Every batch of the plugin, newest first, in pages of ``limit``."""
        return self.batch_store.list(self.settings.name, limit)

    def price(self, model: str) -> ModelPrice | None:
        """USD 1 per million input tokens, 2 per million output tokens (a
        ``rerank-*`` model: :attr:`RERANK_PRICE`; a ``whisper-*`` model:
        :attr:`WHISPER_PRICE`; a ``dall-e-*`` model: :attr:`DALLE_PRICE`; a ``tts-*``
        model: :attr:`TTS_PRICE`; an ``omni-moderation-*`` or ``text-moderation-*``
        model: :attr:`FREE_PRICE`)."""
        # One check for the usual chat model: the call-path benchmarks run on this.
        if not model.startswith(_PRICED_APART):
            return self.PRICE
        if model.startswith("rerank"):
            return self.RERANK_PRICE
        if model.startswith("whisper"):
            return self.WHISPER_PRICE
        if model.startswith("dall-e"):
            return self.DALLE_PRICE
        if model.startswith("tts"):
            return self.TTS_PRICE
        return self.FREE_PRICE


#: the model name prefixes priced apart from chat's tokens (see FakeProvider.price)
_PRICED_APART = ("rerank", "whisper", "dall-e", "tts", "omni-moderation", "text-moderation")


class _Factory:
    requires_api_key = False
    api_key_env = None
    base_url_env = None
    default_base_url = "fake://"
    options: tuple[str, ...] = ()

    def __init__(self, plugin: FakePlugin) -> None:
        self.type = plugin.type
        if plugin.genai_provider_name is not None:
            self.genai_provider_name = plugin.genai_provider_name
        self._plugin = plugin

    def __call__(self, settings: ProviderSettings, http: HttpClient) -> FakeProvider:
        """Build a fake provider; it answers from the script and never uses ``http``."""
        provider = self._plugin.provider(
            settings,
            self._plugin.script,
            self._plugin.calls,
            self._plugin.context_window,
            self._plugin.embeddings,
        )
        provider.reranks = self._plugin.reranks
        provider.transcriptions = self._plugin.transcriptions
        provider.images = self._plugin.images
        provider.image_edits = self._plugin.image_edits
        provider.speeches = self._plugin.speeches
        provider.moderations = self._plugin.moderations
        provider.batch_store = self._plugin.batch_store
        self._plugin.instances.append(provider)
        return provider


class FakePlugin:
    """A plugin adding the ``fake`` provider type; pass it as ``Client(plugins=[...])``."""

    def __init__(
        self,
        type: str = "fake",
        *,
        context_window: int = 8192,
        provider: builtins.type[FakeProvider] = FakeProvider,
        genai_provider_name: str | None = None,
    ) -> None:
        self.type = type
        #: the factory's ``genai_provider_name`` (see :class:`relaykit.protocols.ProviderFactory`):
        #: ``None`` leaves it out, so telemetry names the provider by its type
        self.genai_provider_name = genai_provider_name
        self.context_window = context_window
        #: the class the factory builds: a subclass changes one behaviour in a test
        #: (``rerank = None`` for a provider without rerank, a batching ``embed``,
        #: ``transcribe = None`` for one without speech to text, ``generate_image =
        #: None`` for one without images, ``edit_image = None`` for one that cannot
        #: edit them, ``speak = None`` for one without speech, ``moderate = None`` for
        #: one without moderation)
        self.provider = provider
        self.__name__ = f"fake-plugin-{type}"
        self.script = Script()
        self.calls: list[ChatRequest] = []
        #: the embeddings requests the fake providers received, in order
        self.embeddings: list[EmbeddingRequest] = []
        #: the rerank requests the fake providers received, in order
        self.reranks: list[RerankRequest] = []
        #: the transcription requests the fake providers received, in order
        self.transcriptions: list[TranscriptionRequest] = []
        #: the image generation requests the fake providers received, in order
        self.images: list[ImageRequest] = []
        #: the image edit requests the fake providers received, in order
        self.image_edits: list[ImageEditRequest] = []
        #: the text to speech requests the fake providers received, in order
        self.speeches: list[SpeechRequest] = []
        #: the moderation requests the fake providers received, in order
        self.moderations: list[ModerationRequest] = []
        #: the batches the fake providers were sent, by id (``batch_store.run_on_look =
        #: False`` keeps them in progress)
        self.batch_store = FakeBatches()
        self.instances: list[FakeProvider] = []

    @hookimpl
    def relaykit_providers(self) -> Sequence[Any]:
        """The fake provider factory."""
        return [_Factory(self)]
