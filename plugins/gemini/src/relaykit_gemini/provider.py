"""The Gemini API provider: ``generateContent`` (chat, images, speech and transcripts),
``streamGenerateContent``, ``countTokens``, ``batchEmbedContents``, ``models``, and
Batch Mode (``batchGenerateContent``, :mod:`relaykit_gemini.batches`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar

from relaykit import (
    AuthenticationError,
    Batch,
    BatchResult,
    ChatRequest,
    ChatResponse,
    ConfigError,
    ContentFilterError,
    ContextLengthError,
    EmbeddingRequest,
    EmbeddingResponse,
    GeneratedImage,
    ImageEditRequest,
    ImageRequest,
    ImageResponse,
    InvalidRequestError,
    ModelInfo,
    ModelPrice,
    ProviderSettings,
    ProviderUnavailableError,
    RelayError,
    SpeechRequest,
    SpeechResponse,
    TranscriptionRequest,
    TranscriptionResponse,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.embeddings import BatchAnswer, estimate_tokens, name_callers_input, send_batches
from relaykit.events import StreamEvent
from relaykit.http import api_url, base_url_credentials, transport_error
from relaykit.http_errors import (
    error_from_http,
    error_in_answer,
    refuse_document_stream,
)
from relaykit.image_generation import AnyImageRequest
from relaykit.secrets import cut_short, scrub
from relaykit_google_auth.vertex_http import model_pages

from . import (
    embeddings,
    grounding,
    image_output,
    image_shapes,
    shutdowns,
    speech,
    thinking,
    transcription,
    wire,
)
from .prices import known_model
from .quota_errors import daily_quota_used_up
from .stream_decoder import GeminiStreamDecoder

if TYPE_CHECKING:
    from relaykit.http import HttpClient, HttpResponse, HttpStreamResponse

    from .batches import GeminiBatches

log = logging.getLogger("relaykit.gemini")
#: why an answer of a Gemini image model holds no image, when no filter says why
_NO_IMAGE = "an answer without an image"


class GeminiProvider:
    """Speaks the Gemini API at ``base_url`` (no version: ``https://generativelanguage.googleapis.com``).

    Options (``[providers.gemini]``): ``api_version`` (default ``v1beta``),
    ``include_thoughts`` (ask for thought summaries, which arrive as
    reasoning) and ``thinking_budget`` (tokens; ``0`` turns thinking off on
    models that allow it, ``-1`` lets the model decide). A call's
    ``reasoning=`` overrides ``thinking_budget`` for that call: an effort goes
    to Gemini 3 models as ``thinkingLevel`` and to earlier ones as a budget;
    thinking off is refused unsent for models that always think (Gemini 3,
    2.5 Pro). See :mod:`relaykit_gemini.thinking`. Anything else Gemini accepts
    (``safetySettings``, ``cachedContent``, more ``generationConfig`` keys)
    goes in ``extra``; a ``thinkingConfig`` there adds to the one relaykit
    built, its level or budget replacing relaykit's.

    :meth:`count_tokens` asks ``countTokens`` how many input tokens a request
    would use, system instruction and function declarations included;
    :meth:`embed` embeds texts with ``batchEmbedContents``;
    :meth:`generate_image` draws with a Gemini image model
    (``gemini-3.1-flash-image``, ``gemini-3-pro-image``,
    ``gemini-2.5-flash-image``), ``size`` and ``quality`` read as
    :mod:`relaykit_gemini.image_shapes` says; :meth:`edit_image` edits with one
    (the images as ``inlineData`` parts before the prompt), refusing a mask
    unsent; :meth:`speak` speaks a text with a TTS model
    (``gemini-2.5-flash-preview-tts``...) as WAV or raw PCM
    (:mod:`relaykit_gemini.speech`); :meth:`transcribe` asks a model for the
    words said in an audio file (:mod:`relaykit_gemini.transcription`). All
    answer on ``generateContent``. A chat, a drawing or an edit with an
    ``imagen-*`` model is refused unsent: Google shut Imagen down
    (:mod:`relaykit_gemini.shutdowns`).

    ``web_search=`` is Grounding with Google Search (the ``googleSearch`` tool);
    its ``groundingMetadata`` comes back as ``citations`` and ``usage.web_searches``
    (:mod:`relaykit_gemini.grounding`, which also says what is refused unsent).

    :meth:`submit_batch` and its siblings speak Batch Mode
    (:mod:`relaykit_gemini.batches`): each item's body is the one a chat would
    send, thinking, tools, schemas and ``extra`` (``safetySettings``...) included.
    """

    type: ClassVar[str] = "gemini"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions (the Gemini Developer API)
    genai_provider_name: ClassVar[str] = "gcp.gemini"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    api_key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    base_url_env: ClassVar[str | None] = "GOOGLE_GEMINI_BASE_URL"
    requires_api_key: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ("api_version", "include_thoughts", "thinking_budget")
    #: ``web_search=`` is Grounding with Google Search (:mod:`relaykit_gemini.grounding`)
    searches_web: ClassVar[bool] = True
    #: whether ``googleSearch`` takes ``excludeDomains`` (``blocked_domains``): the
    #: Gemini API's does not, Vertex AI's does
    search_excludes_domains: ClassVar[bool] = False
    #: the audio formats ``transcribe`` sends, and as which MIME type: the Gemini
    #: API's audio guide's; Vertex AI's page lists M4A and WebM too
    _audio_types: ClassVar[Mapping[str, str]] = transcription.MIME_TYPES

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        self.settings = settings
        self._http = http
        self._name = settings.name
        opts = settings.options
        version = str(opts.get("api_version") or "v1beta")
        self._version = version
        headers = {"content-type": "application/json", **settings.headers}
        if settings.api_key:
            headers["x-goog-api-key"] = settings.api_key.reveal()
        # user:password@ in base_url goes as basic auth (when nothing else claims it)
        base_url, self._headers = base_url_credentials(
            settings.base_url,
            headers,
            where=f"providers.{settings.name}.base_url",
            known_secrets=settings.known_secrets,
        )
        #: the base URL without credentials, its query kept (see relaykit.http.api_url)
        self._base = base_url
        self._thinking = _thinking_config(opts, settings.name)

    def __repr__(self) -> str:
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(
            f"{type(self).__name__}(name={self._name!r}, base_url={self.settings.base_url!r})"
        )

    async def _url(self, model: str, method: str) -> str:
        """Where ``method`` of ``model`` is served. (A subclass may need to read its
        credentials first, so this is awaited.)"""
        return api_url(self._base, f"{self._version}/{_resource(model)}:{method}")

    async def _post(self, url: str, body: bytes) -> HttpResponse:
        """POST ``body`` to ``url`` with this provider's headers (and credentials)."""
        return await self._http.post(url, content=body, headers=self._headers)

    def _open_stream(
        self, url: str, body: bytes
    ) -> AbstractAsyncContextManager[HttpStreamResponse]:
        """POST ``body`` to ``url``, the answer left on the wire to be streamed."""
        return self._http.stream("POST", url, content=body, headers=self._headers)

    def _thinking_for(self, request: ChatRequest) -> dict[str, Any] | None:
        """The call's ``thinkingConfig``: the options', with ``reasoning=`` applied.

        Raises :class:`~relaykit.InvalidRequestError` before anything is sent for
        a setting the model cannot take (thinking off on a model that always thinks).
        """
        return thinking.config(request.reasoning, request.model, self._thinking, self._name)

    def _request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The ``generateContent`` body of ``request`` (a chat's, a batch item's, what
        ``countTokens`` counts). Raises :class:`~relaykit.InvalidRequestError` before
        anything is sent for a thinking setting or a web search the model cannot take."""
        search = grounding.search_tool(request, self._name, excludes=self.search_excludes_domains)
        return wire.request_body(
            request, thinking_config=self._thinking_for(request), search=search
        )

    def _body(self, request: ChatRequest) -> bytes:
        return json_encode.dumps(self._request_body(request))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One ``generateContent`` call."""
        shutdowns.refuse_shut_down(request.model, self._name)
        url = await self._url(request.model, "generateContent")
        r = await self._post(url, self._body(request))
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, request.model)
        data = json_decode.loads(r.content)
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data,
            r.headers,
            r.content,
            answer=("candidates", "promptFeedback"),
            provider=self._name,
            model=request.model,
        )
        if error is not None:
            raise error
        return wire.response(data, request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One ``streamGenerateContent?alt=sse`` call, until the chunk with a finish reason."""
        shutdowns.refuse_shut_down(request.model, self._name)
        url = with_query(await self._url(request.model, "streamGenerateContent"), "alt=sse")
        body = self._body(request)
        async with self._open_stream(url, body) as r:
            if r.status_code >= 400:
                await r.aread()
                raise self._error(r.status_code, r.headers, r.content, request.model)
            await refuse_document_stream(  # a page, an error object
                r, expected="an event stream", provider=self._name, model=request.model
            )
            decoder = GeminiStreamDecoder(
                provider=self._name, model=request.model, http_error=self._error
            )
            # aclosing: the client's byte iterator is an async generator too; leaving it
            # unexhausted would leave its cleanup to the garbage collector. (The
            # protocol types it as a plain AsyncIterator, which has no aclose.)
            async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
                async for raw in chunks:
                    for event in decoder.feed(raw):
                        yield event
            # Raises StreamError when the connection closed before the finish reason.
            for event in decoder.close():
                yield event

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens ``request`` would use, from ``models/{model}:countTokens``.

        The whole ``generateContent`` body goes as ``generateContentRequest``, so
        the system instruction, function declarations and cached content count
        as a chat call would bill them. Raises :class:`relaykit.RelayError`
        subclasses on failure.
        """
        body = json_encode.dumps(self._count_tokens_body(request))
        try:
            url = await self._url(request.model, "countTokens")
            # The core maps transport errors on its chat path only; this call is outside it.
            r = await self._post(url, body)
        except Exception as e:
            mapped = transport_error(e, provider=self._name, model=request.model)
            if mapped is None:
                raise
            raise mapped from e
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, request.model)
        try:
            data = json_decode.loads(r.content)
        except ValueError:
            data = None
        # an error object sent with status 200 (a proxy's) is the error it describes,
        # not the count of 0 that {} is
        error = error_in_answer(
            data,
            r.headers,
            r.content,
            answer=("totalTokens",),
            provider=self._name,
            model=request.model,
        )
        if error is not None:
            raise error
        try:
            data = json_decode.loads(r.content)
            # Google's JSON leaves out fields at their default: no totalTokens means 0.
            return json_decode.count(data.get("totalTokens") or 0, "totalTokens")
        except (ValueError, TypeError, AttributeError) as e:
            raise ProviderUnavailableError(
                "countTokens answered with something other than a CountTokensResponse",
                provider=self._name,
                model=request.model,
            ) from e

    def _count_tokens_body(self, request: ChatRequest) -> dict[str, Any]:
        """The ``countTokens`` body: the whole ``generateContent`` body, as
        ``generateContentRequest``."""
        # That form needs the model in the body too, as a resource name (models/NAME).
        inner = {
            "model": _resource(request.model),
            **self._request_body(request),
        }
        return {"generateContentRequest": inner}

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One vector per text, from ``models/{model}:batchEmbedContents``.

        Texts go 100 to a call (Gemini's limit), one call after another: a
        burst of parallel calls would mostly meet the per-minute quota. A retry
        sends only the calls that got no answer.
        ``input_type`` becomes the ``taskType`` (``RETRIEVAL_QUERY`` or
        ``RETRIEVAL_DOCUMENT``), ``dimensions`` the ``outputDimensionality``,
        and ``extra`` is merged into each text's entry. The input tokens are
        Gemini's count where it reports one, else an estimate (see
        :mod:`relaykit_gemini.embeddings`).
        """
        embeddings.check_dimensions(request)
        url = await self._url(request.model, "batchEmbedContents")
        resource = _resource(request.model)

        split = embeddings.batches(request.inputs)
        starts = [0, *accumulate(map(len, split[:-1]))]  # each request's first text

        async def send(
            batch: tuple[int, tuple[str, ...]],
        ) -> tuple[list[tuple[float, ...]], int | None]:
            start, texts = batch
            body = json_encode.dumps(embeddings.batch_body(request, texts, resource))
            r = await self._post(url, body)
            if r.status_code >= 400:
                error = self._error(r.status_code, r.headers, r.content, request.model)
                # Google names a refused text by its place in this batch; the
                # caller's is the batch's start plus that.
                embeddings.name_refused_text(error)
                name_callers_input(error, lambda k: start + k)
                raise error
            return self._embeddings_answer(r.content, len(texts), request.model)

        def billed(index: int, answer: tuple[list[tuple[float, ...]], int | None]) -> BatchAnswer:
            vectors, reported = answer
            tokens = estimate_tokens(split[index]) if reported is None else reported
            return BatchAnswer(
                first=starts[index],
                vectors=tuple(vectors),
                usage=Usage(tokens),
                tokens_estimated=reported is None,
            )

        answers = await send_batches(
            list(zip(starts, split, strict=True)), send, concurrency=1, billed=billed
        )
        return EmbeddingResponse(
            vectors=tuple(vector for vectors, _ in answers for vector in vectors),
            model=request.model,
            usage=Usage(
                sum(
                    estimate_tokens(texts) if reported is None else reported
                    for texts, (_, reported) in zip(split, answers, strict=True)
                )
            ),
            # whether any batch's answer lacked a count
            tokens_estimated=any(reported is None for _, reported in answers),
        )

    def _embeddings_answer(
        self, content: bytes, count: int, model: str
    ) -> tuple[list[tuple[float, ...]], int | None]:
        """A batch's vectors and reported tokens; a typed error for anything but
        ``count`` vectors, which would shift every later text onto the wrong one."""
        try:
            data = json_decode.loads(content)
            # {} is no answer, an error object (a proxy's) the error it describes
            json_decode.require_answer(data, "a BatchEmbedContentsResponse", "embeddings")
            vectors = embeddings.vectors(data)
            reported = embeddings.reported_tokens(data)
        except json_decode.ErrorInAnswer:
            raise  # the core types it as the error it describes
        except (ValueError, TypeError, AttributeError) as e:
            raise ProviderUnavailableError(
                "batchEmbedContents answered with something other than a "
                f"BatchEmbedContentsResponse ({type(e).__name__}: {cut_short(str(e), 160)})",
                provider=self._name,
                model=model,
            ) from e
        if len(vectors) != count:
            raise ProviderUnavailableError(
                f"batchEmbedContents answered {len(vectors)} embeddings for {count} texts",
                provider=self._name,
                model=model,
            )
        return vectors, reported

    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        """``request.n`` images of ``request.prompt`` from the model's ``:generateContent``,
        one request an image (the Gemini image models draw one image a request), one
        after another.

        ``quality`` is the resolution (``"1K"``, ``"2K"``, ``"4K"``), ``size`` the
        shape (see :mod:`relaykit_gemini.image_shapes`); more than four images, a
        size or resolution the model has not, an output format and an ``imagen-*``
        model are refused before anything is sent. Images Google's safety
        filters withheld are logged (``relaykit.gemini``, a warning) and left out;
        when none is left, :class:`~relaykit.ContentFilterError` says why.
        """
        shutdowns.refuse_shut_down(request.model, self._name)
        image_shapes.check_count(request, self._name)
        return await self._draw(request)

    async def edit_image(self, request: ImageEditRequest) -> ImageResponse:
        """``request.n`` edits of ``request.images`` from a Gemini image model's
        ``:generateContent``: the images as ``inlineData`` parts before the prompt,
        one request an image, as :meth:`generate_image` draws.

        Refused before anything is sent: a mask (the Gemini image models edit as
        the prompt says, and take none), and the rest as :meth:`generate_image`
        refuses it.
        """
        shutdowns.refuse_shut_down(request.model, self._name)
        if request.mask is not None:
            raise InvalidRequestError(
                f"{request.model} takes no mask: the Gemini image models edit where the"
                " prompt says",
                provider=self._name,
                model=request.model,
                param="mask",
                hint="leave mask out and say in the prompt what to change, and where",
            )
        image_shapes.check_count(request, self._name)
        return await self._draw(request)

    async def _draw(self, request: AnyImageRequest) -> ImageResponse:
        shape = image_shapes.gemini_shape(request, self._name)
        if request.output_format is not None:
            raise InvalidRequestError(
                f"{request.model} answers PNG or JPEG as it chooses: the Gemini API takes"
                " no output format for it",
                provider=self._name,
                model=request.model,
                param="output_format",
                hint="leave output_format out and read image.media_type",
            )
        url = await self._url(request.model, "generateContent")
        body = json_encode.dumps(image_output.image_body(request, shape))
        images: list[GeneratedImage] = []
        withheld: list[str] = []
        remarks: list[str] = []
        usage = Usage()
        image_tokens = 0
        model = ""
        # One request an image, one after another: a burst would mostly meet the
        # per-minute quota, and a failure stops before more images are billed.
        for _ in range(request.n):
            data = await self._answer(url, body, request.model)
            try:
                answer = image_output.drawn(data)
            except (ValueError, TypeError, AttributeError) as e:
                raise self._malformed(
                    "generateContent", "a GenerateContentResponse", request.model
                ) from e
            images += answer.images
            usage += answer.usage
            image_tokens += answer.image_tokens
            model = model or answer.model
            if answer.text:
                remarks.append(answer.text)
            if not answer.images:
                withheld.append(answer.filtered or _NO_IMAGE)
        self._check_drawn(request, images, withheld, "\n".join(remarks))
        return ImageResponse(
            images=tuple(images),
            model=model or request.model,
            usage=usage,
            image_tokens=min(image_tokens, usage.input_tokens),
            quality=shape.quality,
        )

    async def speak(self, request: SpeechRequest) -> SpeechResponse:
        """One ``generateContent`` call to a TTS model: ``request.text`` spoken in
        ``request.voice``, as ``wav`` or ``pcm`` (other formats, and ``speed``, are
        refused unsent: see :mod:`relaykit_gemini.speech`)."""
        body = json_encode.dumps(speech.speech_body(request, self._name))
        url = await self._url(request.model, "generateContent")
        data = await self._answer(url, body, request.model)
        try:
            return speech.spoken(data, request, self._name)
        except (TypeError, AttributeError) as e:
            raise self._malformed(
                "generateContent", "a GenerateContentResponse", request.model
            ) from e

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResponse:
        """One ``generateContent`` call: the words said in ``request.audio``, sent inline
        (a format the host does not read, or a request over 100 MB, is refused unsent:
        see :mod:`relaykit_gemini.transcription`)."""
        body = transcription.transcription_body(request, self._name, self._audio_types)
        url = await self._url(request.model, "generateContent")
        data = await self._answer(url, body, request.model)
        try:
            return transcription.transcript(data, request, self._name)
        except (TypeError, AttributeError, ValueError) as e:
            raise self._malformed(
                "generateContent", "a GenerateContentResponse", request.model
            ) from e

    async def _answer(self, url: str, body: bytes, model: str) -> Any:
        """POST ``body`` to ``url``: its JSON answer, or the typed error for its status."""
        r = await self._post(url, body)
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, model)
        try:
            data = json_decode.loads(r.content)
        except ValueError as e:
            raise self._malformed(url.rsplit(":", 1)[-1], "JSON", model) from e
        # {} is no answer (retried), an error object the error it describes; an image,
        # speech or transcript decoder would read either as an answer without its part
        wire.require_generated(data)
        return data

    def _check_drawn(
        self,
        request: AnyImageRequest,
        images: list[GeneratedImage],
        withheld: list[str],
        text: str,
    ) -> None:
        """Say what Google withheld: a warning when some images came, the typed error
        when none did (:class:`~relaykit.ContentFilterError` for a safety filter)."""
        if not withheld:
            return
        reasons = "; ".join(dict.fromkeys(withheld))
        where = f"{self._name}/{request.model}"
        if images:
            log.warning("%s drew %d of %d images: %s", where, len(images), request.n, reasons)
            return
        if any(r != _NO_IMAGE for r in withheld):
            raise ContentFilterError(
                f"{request.model}'s safety filters withheld every image: {reasons}",
                provider=self._name,
                model=request.model,
                provider_message=text or reasons,
                hint="rephrase the prompt; filtered images are not returned",
            )
        raise RelayError(
            f"{request.model} answered without an image",
            provider=self._name,
            model=request.model,
            provider_message=text or None,
            hint="the model's remarks are in provider_message: rephrase the prompt as"
            " a picture to draw",
        )

    def _malformed(self, method: str, what: str, model: str) -> ProviderUnavailableError:
        return ProviderUnavailableError(
            f"{method} answered with something other than {what}",
            provider=self._name,
            model=model,
        )

    async def list_models(self) -> list[ModelInfo]:
        """``GET models``, every page, keeping the models that can chat (``generateContent``)."""
        return await model_pages(
            lambda url: self._http.get(url, headers=self._headers),
            api_url(self._base, f"{self._version}/models"),
            "models",
            self._chat_models,
            self._error,
        )

    def _chat_models(self, page: Iterable[dict[str, Any]]) -> Iterator[ModelInfo]:
        """The models of a page of ``models`` that can chat (``generateContent``)."""
        for m in page:
            if "generateContent" in (
                m.get("supportedGenerationMethods") or ("generateContent",)
            ):  # embedding, image and video models answer other methods
                yield self._model_info(m)

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        """One model of ``GET models``; a token limit that is not a number left out."""
        model_id = listed_id(m, "models/")
        window, price = known_model(model_id)
        return ModelInfo(
            id=model_id,
            provider=self._name,
            context_window=_whole(m.get("inputTokenLimit")) or window,
            max_output_tokens=_whole(m.get("outputTokenLimit")),
            price=price,
            owned_by="google",
        )

    # -- batches (see :mod:`relaykit_gemini.batches`) --------------------------------

    def _batches(self) -> GeminiBatches:
        from .batches import GeminiBatches  # loaded on first use

        return GeminiBatches(
            self._http,
            self._base,
            self._version,
            self._headers,
            self._name,
            self._error,
        )

    async def submit_batch(self, requests: Sequence[tuple[str, ChatRequest]]) -> Batch:
        """``models/{model}:batchGenerateContent``, each request the body a single
        ``generateContent`` sends: inline up to 20 MB, else as an uploaded JSONL file.
        A shut-down model, or a thinking setting the model cannot take, is refused
        before sending."""
        model = requests[0][1].model
        shutdowns.refuse_shut_down(model, self._name)
        return await self._batches().submit(
            requests,
            self._request_body,
        )

    async def get_batch(self, vendor_id: str) -> Batch:
        """``GET batches/{id}``."""
        return await self._batches().get(vendor_id)

    async def cancel_batch(self, vendor_id: str) -> Batch:
        """``POST batches/{id}:cancel``, then the batch as it stands."""
        return await self._batches().cancel(vendor_id)

    def batch_results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The answers inline in the batch, or the lines of its responses file."""
        return self._batches().results(batch)

    def list_batches(self, limit: int) -> AsyncIterator[Batch]:
        """``GET batches?pageSize=&pageToken=``, newest first, a page at a time."""
        return self._batches().list(limit)

    def price(self, model: str) -> ModelPrice | None:
        """The list price of ``model`` if this plugin knows it."""
        return known_model(model.removeprefix("models/"))[1]

    def context_window(self, model: str) -> int | None:
        """``model``'s context window if this plugin's table knows it (the core asks
        when the listing fails)."""
        return known_model(model.removeprefix("models/"))[0]

    def _error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: str | None
    ) -> RelayError:
        err = error_from_http(status, headers, body, provider=self._name, model=model)
        text = body.decode("utf-8", "replace")
        kw: dict[str, Any] = {
            "provider": self._name,
            "model": model,
            "status": status,
            "provider_message": err.provider_message,
        }
        # Google answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        if status == 400 and "API_KEY_INVALID" in text:
            return AuthenticationError(err.message, **kw)
        daily = daily_quota_used_up(body) if status == 429 else None
        if daily is not None:
            # Its RetryInfo says seconds, but the quota comes back at midnight Pacific
            # time: retrying the deployment fails again; a fallback may serve the call.
            err.should_retry = False
            err.hint = (
                f"Gemini's per-day quota {daily} is used up; it resets at midnight Pacific"
                " time: wait for it, route the call elsewhere (fallbacks), or raise the"
                " project's quota (billing, usage tier)"
            )
            return err
        # "The input token count (N) exceeds the maximum number of tokens allowed (M)."
        lowered = err.message.lower()
        if status == 400 and "token count" in lowered and "exceeds" in lowered:
            return ContextLengthError(err.message, **kw)
        return err


def _resource(model: str) -> str:
    # "gemini-2.5-flash" lives under models/; "tunedModels/x" names its own collection.
    return model if "/" in model else f"models/{model}"


def _thinking_config(opts: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    config: dict[str, Any] = {}
    include = opts.get("include_thoughts")
    if include is not None:
        if not isinstance(include, bool):
            raise ConfigError(f"providers.{name}.include_thoughts must be true or false")
        config["includeThoughts"] = include
    budget = opts.get("thinking_budget")
    if budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise ConfigError(
                f"providers.{name}.thinking_budget must be an integer (tokens; -1 = dynamic)"
            )
        config["thinkingBudget"] = budget
    return config or None


def listed_id(m: dict[str, Any], prefix: str) -> str:
    """The model id of a listed model's resource ``name`` (``models/gemini-2.5-flash``),
    ``prefix`` and all before it removed; a ``TypeError`` when it has none."""
    name = m["name"]
    model_id = name.rsplit(prefix, 1)[-1] if type(name) is str else ""
    if not model_id:
        raise TypeError(f"a model's name is {name!r:.40}, not a resource name")
    return model_id


def _whole(value: object) -> int | None:
    """``value`` if it is a whole number, else ``None`` (an optional count is left out)."""
    return value if type(value) is int else None


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` after any query it has (a base URL's is kept)."""
    return f"{url}{'&' if '?' in url else '?'}{query}"
