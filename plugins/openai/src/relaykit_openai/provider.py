"""The OpenAI provider: Chat Completions, or the Responses API (also the base of every
compatible preset, which speak Chat Completions)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs

from relaykit import (
    Batch,
    BatchResult,
    ChatRequest,
    ChatResponse,
    ConfigError,
    EmbeddingRequest,
    EmbeddingResponse,
    ImageEditRequest,
    ImageRequest,
    ImageResponse,
    ModelInfo,
    ModelPrice,
    ModerationRequest,
    ModerationResponse,
    ProviderSettings,
    RerankRequest,
    RerankResponse,
    SpeechRequest,
    SpeechResponse,
    SSEDecoder,
    StreamError,
    TranscriptionRequest,
    TranscriptionResponse,
    json_decode,
    json_encode,
)
from relaykit.cache_points import add_cache_points, auto_cache_option
from relaykit.events import StreamEvent, TextDelta
from relaykit.http import api_url, base_url_credentials
from relaykit.http_errors import (
    error_from_http,
    parse_error_body,
    refuse_document_stream,
)
from relaykit.json_decode import SHAPE_ERRORS, wrong_shape
from relaykit.secrets import scrub
from relaykit.tool_ids import unique_tool_ids
from relaykit.web_search import unsupported

from . import sampling_rules, web_search, wire
from .api_choice import Api, parse_api, responses_only
from .body_end import read_to_end
from .prices import OPENAI_MODELS, known_model
from .reasoning import ReasoningStyle, refuse
from .tool_call_ids import with_mistral_ids
from .wire import text_delta

if TYPE_CHECKING:
    from relaykit.http import HttpClient

    from .batches import BatchApi
    from .documents import ChatDocuments
    from .images import ImageStyle
    from .transcription import TranscriptionStyle
    from .web_search import SearchStyle

#: how ``/embeddings`` sends vectors back: ``"base64"`` (little-endian float32
#: bytes, a quarter of the JSON) or ``"float"`` (JSON numbers, for servers that
#: take no base64)
Encoding = Literal["base64", "float"]
_ENCODINGS: tuple[Encoding, ...] = ("base64", "float")


class OpenAIProvider:
    """Speaks ``/chat/completions`` (or ``/responses``), ``/embeddings`` and ``/models``
    at ``base_url`` (which includes ``/v1``).

    Options in ``[providers.NAME]``:

    - ``api``: ``"chat"`` (Chat Completions), ``"responses"`` (the Responses API,
      which returns reasoning summaries and encrypted reasoning, sent back
      statelessly on the next turn), or ``"auto"``: Responses for the models
      OpenAI serves only there (o1-pro, o3-pro, gpt-5-pro, the Codex models, ...),
      Chat Completions otherwise. The default is ``"auto"`` for ``type = "openai"``
      and ``"chat"`` for compatible services. The Responses API has no ``stop``
      or ``seed``: they are not sent. It takes a ``max_tokens`` of 16 or more
      only: a smaller one is refused before sending. A Chat Completions field
      ``extra`` gives it (``max_tokens``, ``stop``, ``response_format``, ...) is
      refused before sending for OpenAI and Azure, as they refuse it
      (:func:`relaykit_openai.responses_wire.check_chat_fields`).
    - ``organization``, ``project``: OpenAI's ``OpenAI-Organization`` and
      ``OpenAI-Project`` headers.
    - ``stream_usage``: ask for usage in Chat Completions streams (default true).
      Without it a stream's usage is relaykit's estimate (``usage_estimated``).
    - ``max_tokens_param``: the Chat Completions name of ``max_tokens``
      (``max_completion_tokens`` for OpenAI, ``max_tokens`` for compatibles).
    - ``cache_control``: send cache points as Anthropic-style ``cache_control``
      marks (OpenRouter reads them).
    - ``auto_cache``: ``true``, ``"5m"`` or ``"1h"``, with ``cache_control``: place
      cache points in calls that bring none (:mod:`relaykit.cache_points`).
    - ``embedding_encoding``: how ``/embeddings`` sends vectors back: ``"base64"``
      (little-endian float32, a quarter of the JSON; OpenAI's SDKs ask for it) or
      ``"float"`` (JSON numbers). The default is ``"base64"`` for OpenAI, and for
      each compatible preset what its service takes. Either shape is read.

    Speech to text (:meth:`relaykit.Client.transcribe`): ``POST
    /audio/transcriptions`` for OpenAI and the compatible presets that serve it
    (Groq, Together, Mistral, vLLM; the others refuse unsent); see
    :mod:`relaykit_openai.transcription`.

    Image generation (:meth:`relaykit.Client.generate_image`): ``POST
    /images/generations`` for OpenAI (GPT image models and DALL-E) and the
    compatible presets that serve it (xAI, Together; the others refuse unsent);
    see :mod:`relaykit_openai.images`. Image edits
    (:meth:`relaykit.Client.edit_image`): ``POST /images/edits``, a form, for
    OpenAI alone (every preset refuses unsent: see :mod:`.presets`).

    Text to speech (:meth:`relaykit.Client.speak`): ``POST /audio/speech`` for
    OpenAI (gpt-4o-mini-tts, tts-1, tts-1-hd) and Groq (the others refuse
    unsent); see :mod:`relaykit_openai.speech`. Both audio APIs stream too
    (:meth:`relaykit.Client.stream_speech`, :meth:`relaykit.Client.stream_transcription`).

    Moderation (:meth:`relaykit.Client.moderate`): ``POST /moderations`` for
    OpenAI (omni-moderation-latest, text-moderation-latest; free) and Mistral
    (mistral-moderation-latest; the other presets refuse unsent); see
    :mod:`relaykit_openai.moderation`.

    Rerank: OpenAI has none, so ``rerank`` is ``None`` and
    :meth:`relaykit.Client.rerank` refuses it with a typed error before sending
    anything; the compatible presets whose service ranks documents at
    ``/rerank`` have it (see :mod:`relaykit_openai.rerank`).

    Documents (:class:`relaykit.DocumentPart`): Chat Completions sends PDFs as
    ``file`` parts and text documents as text; the Responses API sends any file
    as ``input_file``, by data or URL. A service that cannot read one refuses it
    before sending (see :mod:`relaykit_openai.documents`).

    Sampling: OpenAI's reasoning models (o-series, GPT-5 but its chat models,
    Codex) take no ``temperature`` or ``top_p`` but 1 while they reason, nor
    (from ``extra``) a penalty but 0, ``logprobs`` or ``top_logprobs``, nor
    ``max_tokens`` on Chat Completions; such a call is refused before sending
    (:mod:`relaykit_openai.sampling_rules`), for OpenAI and Azure, never for the
    compatible presets. ``max_tokens`` goes as ``max_completion_tokens``, the
    name those models take.

    Web search (``web_search=``): the Responses API's ``web_search`` tool, where
    a call with it goes under ``api = "auto"``; Chat Completions' search models
    (gpt-5-search-api, gpt-4o-search-preview, ...) take ``web_search_options``
    and search on every call. OpenRouter's preset sends its
    ``openrouter:web_search`` server tool; the other presets and Azure do not
    search (refused unsent). See :mod:`relaykit_openai.web_search`.
    """

    type: ClassVar[str] = "openai"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    requires_api_key: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = (
        "api",
        "organization",
        "project",
        "stream_usage",
        "max_tokens_param",
        "cache_control",
        "auto_cache",
        "embedding_encoding",
    )
    #: OpenAI renamed max_tokens for reasoning models; compatible servers mostly know
    #: only the old name.
    max_tokens_param: ClassVar[str] = "max_completion_tokens"
    known_models: ClassVar[dict[str, tuple[int | None, ModelPrice | None]]] = OPENAI_MODELS
    #: whether the service reads Anthropic-style ``cache_control`` marks on content
    #: parts and tools (OpenRouter does; OpenAI caches by itself and takes none)
    cache_control: ClassVar[bool] = False
    #: refuse response formats and tools OpenAI's strict rules refuse, before sending
    #: (see .schemas); the compatible services keep rules of their own
    strict_schemas: ClassVar[bool] = True
    #: whether the service takes only nine-character tool call ids (Mistral: see
    #: .tool_call_ids), so that others in the history are mapped before sending
    short_tool_ids: ClassVar[bool] = False
    #: refuse before sending tool results that answer no call of the assistant
    #: message right before them, and calls left without results, as the service
    #: does (OpenAI, DeepSeek, Mistral; see .wire.check_tool_pairs)
    paired_tool_calls: ClassVar[bool] = True
    #: a final assistant message goes with ``"prefix": true``, the service's prefill
    #: (Mistral, which otherwise refuses it; see .wire.mark_prefix)
    assistant_prefix: ClassVar[bool] = False
    #: an assistant turn goes between tool results and a user message right after
    #: them (Mistral, which otherwise refuses: "Unexpected role 'user' after role
    #: 'tool'"; see .wire.bridge_tool_results)
    assistant_after_tools: ClassVar[bool] = False
    #: which API to speak when ``api`` is not configured (see the class docstring)
    api: ClassVar[Api] = "auto"
    #: how ``/embeddings`` returns vectors when ``embedding_encoding`` is not configured
    embedding_encoding: ClassVar[Encoding] = "base64"
    #: the ``/embeddings`` body's name for ``dimensions`` (Mistral's is ``output_dimension``)
    dimensions_param: ClassVar[str] = "dimensions"
    #: the most texts and tokens the service's ``/embeddings`` takes in one request
    #: (OpenAI's 2048 and 300,000; Mistral's 512 and 16,384): a call with more is
    #: split into several requests (see :mod:`relaykit_openai.embeddings`)
    embedding_limits: ClassVar[tuple[int, int]] = (2048, 300_000)
    #: whether OpenAI's embedding models' rules apply (``dimensions`` is refused
    #: unsent for ``text-embedding-ada-002``); not to compatible services' or
    #: Azure's deployments, whose names say nothing sure about their model
    embedding_rules: ClassVar[bool] = True
    #: how the service's Chat Completions API takes documents (:mod:`.documents`):
    #: PDFs as data (OpenAI), as data or URL (OpenRouter), or none, refused unsent
    chat_documents: ClassVar[ChatDocuments] = "data"
    #: refuse a ``temperature`` or ``top_p`` OpenAI's reasoning models refuse, before
    #: sending (see .sampling_rules); a compatible service's model names say nothing
    #: sure about its sampling
    sampling_rules: ClassVar[bool] = True
    #: refuse a Chat Completions field ``extra`` gives the Responses API, which OpenAI's
    #: (and Azure's) refuses, before sending (see .responses_wire.check_chat_fields);
    #: a compatible service's ``/responses`` may take it
    responses_fields: ClassVar[bool] = True
    #: how the service takes ``reasoning=`` (:mod:`.reasoning`): ``reasoning_effort``,
    #: OpenRouter's ``reasoning`` object, or not at all, refused unsent
    reasoning_style: ClassVar[ReasoningStyle] = "effort"
    #: which form and ``response_format`` ``/audio/transcriptions`` takes (see
    #: :mod:`.transcription`)
    transcription_style: ClassVar[TranscriptionStyle] = "verbose"
    #: the largest request body ``/audio/transcriptions`` takes, refused before
    #: sending when larger (``None``: the service says). OpenAI's is 25 MiB: its
    #: 413 reads "Maximum content size limit (26214400) exceeded".
    max_transcription_body: ClassVar[int | None] = 26_214_400
    #: which fields ``/images/generations`` takes (see :mod:`.images`)
    image_style: ClassVar[ImageStyle] = "openai"
    #: whether ``/audio/transcriptions`` streams server-sent events for ``stream=true``
    #: (OpenAI's own, for its models but Whisper); else a streamed transcription
    #: asks for the whole answer and hands it on as one delta
    streams_transcriptions: ClassVar[bool] = True
    #: whether ``/audio/speech`` is OpenAI's, whose model rules (instructions for
    #: gpt-4o-mini-tts only) are checked before sending
    speech_limits: ClassVar[bool] = True
    #: whether ``/images/...`` and ``/audio/transcriptions`` are OpenAI's, whose model
    #: rules (:mod:`.image_rules`; the transcription models' response formats,
    #: timestamps and languages, :mod:`.transcription`) are checked before sending
    media_rules: ClassVar[bool] = True
    #: the service searches the web for ``web_search=`` (the core refuses the
    #: setting, unsent, for a provider without it)
    searches_web: ClassVar[bool] = True
    #: how it searches (see :mod:`.web_search`): OpenAI's tools, OpenRouter's
    #: server tool, or not at all
    web_search_style: ClassVar[SearchStyle] = "openai"

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        if not settings.base_url.lower().startswith(("http://", "https://")):
            where = f"{self.base_url_env} or " if self.base_url_env else ""
            raise ConfigError(
                f"base URL {settings.base_url!r} of provider {settings.name!r} is not an HTTP URL",
                hint=f"set {where}[providers.{settings.name}] base_url to http://host:port/v1"
                " or https://...",
            )
        self.settings = settings
        self._http = http
        self._name = settings.name
        headers = {
            "content-type": "application/json",
            **settings.headers,
            **self._auth_headers(settings),
        }
        #: without user:password@, which go as basic auth (when nothing else claims it)
        self._base_url, headers = base_url_credentials(
            settings.base_url,
            headers,
            where=f"providers.{settings.name}.base_url",
            known_secrets=settings.known_secrets,
        )
        opts = settings.options
        if opts.get("organization"):
            headers["openai-organization"] = str(opts["organization"])
        if opts.get("project"):
            headers["openai-project"] = str(opts["project"])
        self._headers = headers
        self._stream_usage = bool(opts.get("stream_usage", True))
        self._max_tokens_param = str(opts.get("max_tokens_param") or self.max_tokens_param)
        self._cache_control = bool(opts.get("cache_control", self.cache_control))
        where = f"providers.{settings.name}.auto_cache"
        self._auto_cache = auto_cache_option(opts.get("auto_cache"), where)
        if self._auto_cache is not None and not self._cache_control:
            raise ConfigError(
                f"{where} places cache points, but this service takes no cache marks",
                hint=f"set providers.{settings.name}.cache_control = true if it reads"
                " Anthropic-style cache_control (OpenRouter does), or drop auto_cache",
            )
        self._api = parse_api(opts.get("api"), self.api, settings.name)
        self._embedding_encoding = _encoding(
            opts.get("embedding_encoding"), self.embedding_encoding, settings.name
        )
        #: uses_responses' answers, by model
        self._responses: dict[str, bool] = {}
        #: _known's answers: the core asks for a model's price on every call
        self._known_cache: dict[str, tuple[int | None, ModelPrice | None]] = {}

    def _auth_headers(self, settings: ProviderSettings) -> dict[str, str]:
        """The headers that carry the credentials: ``Authorization: Bearer KEY``."""
        if settings.api_key:
            return {"authorization": f"Bearer {settings.api_key.reveal()}"}
        return {}

    def _url(self, path: str, model: str | None = None) -> str:
        """The URL of API ``path`` (``"chat/completions"``) for a call to ``model``
        (Azure's deployments API puts the model in the path; OpenAI's does not).
        A query in ``base_url`` (``?api-version=...``) stays after the path."""
        return api_url(self._base_url, path)

    def __repr__(self) -> str:
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(
            f"{type(self).__name__}(name={self._name!r}, base_url={self.settings.base_url!r})"
        )

    def _body(self, request: ChatRequest, stream: bool) -> bytes:
        if self.chat_documents == "none":
            from .documents import check_none  # loaded on first use

            check_none(request.messages, self.type)
        if request.reasoning is not None and self.reasoning_style == "none":
            raise refuse(self.type, request.model)
        if self._auto_cache is not None:
            request = add_cache_points(request, self._auto_cache)
        messages = request.messages
        if self.paired_tool_calls:
            wire.check_tool_pairs(messages)  # before ids are mapped: the caller's ids
        prefill = self.assistant_prefix and messages and messages[-1].role == "assistant"
        # Each call under an id of its own, at most OpenAI's 40 characters (see
        # relaykit.tool_ids), before Mistral's mapping, which keeps them apart.
        unique = unique_tool_ids(messages, max_length=40, invalid=None)
        if unique is not messages:
            request = attrs.evolve(request, messages=unique)
        if self.short_tool_ids:
            request = with_mistral_ids(request)
        search_options, search_tool = self._chat_search(request)
        body = wire.request_body(
            request,
            max_tokens_param=self._max_tokens_param,
            stream=stream,
            stream_usage=self._stream_usage,
            cache_control=self._cache_control,
            documents=self.chat_documents,
            reasoning=self.reasoning_style,
            search_options=search_options,
            search_tool=search_tool,
            strict_schemas=self.strict_schemas,
        )
        if prefill:
            wire.mark_prefix(body, messages, self.type)
        if self.assistant_after_tools:
            wire.bridge_tool_results(body)
        self._check_sampling(body, request, "chat")
        return json_encode.dumps(body)

    def _responses_body(self, request: ChatRequest, stream: bool) -> bytes:
        """The encoded body of a Responses API call (see :mod:`.responses_wire`)."""
        from . import responses_wire  # the Responses API's modules load when first used

        if self.responses_fields and request.extra:
            responses_wire.check_chat_fields(
                request.extra, provider=self._name, model=request.model
            )
        if request.stop or request.seed is not None:
            fix = self._chat_fix(request)
            responses_wire.refuse_unsent(request, provider=self._name, fix=fix)
        body = responses_wire.request_body(request, stream=stream, provider=self._name)
        self._check_sampling(body, request, "responses")
        return json_encode.dumps(body)

    def _chat_fix(self, request: ChatRequest) -> str:
        """How a Responses call gets a Chat Completions field it has none for
        (``{param}`` its name), by why the call goes there."""
        model = request.model
        if responses_only(self.base_model(model)):
            return (
                f"drop {{param}}=: OpenAI serves {model} only through the Responses API,"
                " which has none"
            )
        if (
            request.web_search is not None
            and self.web_search_style == "openai"
            and not web_search.is_search_model(model)
        ):
            return (
                "drop {param}=, or drop web_search= to call Chat Completions, which takes it:"
                f" {model} searches the web only through the Responses API"
            )
        return (
            "call Chat Completions, which takes it: set api = 'auto' (or 'chat') in"
            f" [providers.{self._name}], or drop {{param}}="
        )

    def _check_sampling(
        self, body: dict[str, Any], request: ChatRequest, api: Literal["chat", "responses"]
    ) -> None:
        """Refuse, unsent, sampling OpenAI's reasoning model refuses (:mod:`.sampling_rules`)
        in the ``body`` of ``request`` for ``api``."""
        if self.sampling_rules:
            sampling_rules.check_body(
                body,
                served=self.base_model(request.model),
                model=request.model,
                provider=self._name,
                api=api,
                extra=request.extra.keys(),
            )

    def base_model(self, deployment: str) -> str:
        """The model a call to ``deployment`` reaches, as OpenAI names it: the name
        itself (Azure's deployments may map to another)."""
        return deployment

    def _chat_search(
        self, request: ChatRequest
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(web_search_options, a search tool)`` for a Chat Completions call with
        ``web_search=``; what the service cannot run is refused before sending."""
        search = request.web_search
        if search is None:
            return None, None
        style = self.web_search_style
        if style == "openrouter":
            return None, web_search.openrouter_tool(search, self._name, request.model)
        if style == "openai":
            if web_search.is_search_model(request.model):
                return web_search.chat_options(search, self._name, request.model), None
            # Any other model searches only through the Responses API.
            raise web_search.refuse_chat_api(self._name, request.model)
        raise unsupported(self._name, request.model, "web search")

    def _chat_searches(self, model: str) -> int:
        """The searches a Chat Completions call to ``model`` is billed for: one for
        OpenAI's search models, which search on every call, whether asked or not."""
        return int(self.web_search_style == "openai" and web_search.is_search_model(model))

    def _via_responses(self, request: ChatRequest) -> bool:
        """Whether ``request`` goes to the Responses API: the configured ``api``, or,
        under ``"auto"``, a web search for a model other than a search model (OpenAI
        searches for those only through the Responses API's tool)."""
        if self._api == "chat":
            return False
        if self.uses_responses(request.model):
            return True
        return (
            request.web_search is not None
            and self.web_search_style == "openai"
            and not web_search.is_search_model(request.model)
        )

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens ``request`` would use, from OpenAI's counter
        (``POST /responses/input_tokens``; compatible services have none, so their
        presets leave this out and relaykit estimates).

        It counts the prompt as the Responses API sends it; a Chat Completions
        call's prompt bills the same text, give or take a few formatting tokens.
        """
        from . import responses_wire  # the Responses API's modules load when first used

        body = json_encode.dumps(responses_wire.count_body(request, self._name))
        r = await self._http.post(
            self._url("responses/input_tokens", request.model), content=body, headers=self._headers
        )
        if r.status_code >= 400:
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        return wire.input_tokens(json_decode.loads(r.content))

    def uses_responses(self, model: str) -> bool:
        """Whether calls to ``model`` go to the Responses API (see ``api``)."""
        # Asked on every call: a model's answer is kept, not matched again.
        found = self._responses.get(model)
        if found is None:
            api = self._api
            found = api == "responses" or (api == "auto" and responses_only(model))
            if len(self._responses) >= 1024:  # model names come from callers: stay bounded
                self._responses.clear()
            self._responses[model] = found
        return found

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One non-streamed call: Chat Completions, or Responses (see ``api``)."""
        if self._via_responses(request):
            from . import responses_api  # loaded on first use: most calls never need it

            return await responses_api.chat(
                self._http,
                self._url("responses", request.model),
                self._headers,
                self._name,
                request,
                self._responses_body(request, False),
            )
        r = await self._http.post(
            self._url("chat/completions", request.model),
            content=self._body(request, False),
            headers=self._headers,
        )
        if r.status_code >= 400:
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        data = json_decode.loads(r.content)
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            # A failure reported with status 200 (OpenRouter, once generation began)
            # is an error, not an empty answer.
            raise error_from_http(
                wire.error_status(data["error"]),
                r.headers,
                r.content,
                provider=self._name,
                model=request.model,
            )
        if prefix := self._prefill(request):
            from . import prefix_echo  # loaded on first use: only Mistral's prefills

            prefix_echo.strip_answer(data, prefix)
        return wire.response(data, self._chat_searches(request.model))

    def _prefill(self, request: ChatRequest) -> str:
        """The text of the prefill ``request`` sends with ``"prefix": true`` ("" for
        none), which the service's answer repeats (:mod:`.prefix_echo`)."""
        messages = request.messages
        if self.assistant_prefix and messages and messages[-1].role == "assistant":
            return messages[-1].text
        return ""

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streamed call: SSE ``chat.completion.chunk`` events until ``[DONE]``,
        or the Responses API's typed events (see ``api``)."""
        if self._via_responses(request):
            from . import responses_api

            return responses_api.stream(
                self._http,
                self._url("responses", request.model),
                self._headers,
                self._name,
                request,
                lambda: self._responses_body(request, True),
            )
        if prefix := self._prefill(request):
            from . import prefix_echo

            return prefix_echo.strip_stream(self._chat_stream(request), prefix)
        return self._chat_stream(request)

    async def _chat_stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        body = self._body(request, True)
        url = self._url("chat/completions", request.model)
        async with self._http.stream("POST", url, content=body, headers=self._headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise error_from_http(
                    r.status_code, r.headers, r.content, provider=self._name, model=request.model
                )
            await refuse_document_stream(  # a page, an error object
                r, expected="an event stream", provider=self._name, model=request.model
            )
            decoder = SSEDecoder()
            feed = decoder.feed
            loads = json_decode.loads
            # Asked for log probabilities, every chunk is read whole (no fast path).
            plain = not (request.extra and request.extra.get("logprobs"))
            state = wire.StreamState(self._chat_searches(request.model), logprobs=not plain)
            # aclosing: the byte iterator is an async generator; closing it
            # explicitly (not at garbage collection) keeps trio from warning.
            async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
                async for raw in chunks:
                    for sse in feed(raw):
                        data = sse.data
                        if data == "[DONE]":
                            wire.require_started(state)
                            await read_to_end(chunks, r)
                            return
                        chunk = loads(data)
                        try:  # wire.has_error, inline: this runs for every chunk
                            failed = "error" in chunk
                        except TypeError as e:
                            raise wrong_shape("a chat.completion.chunk", e) from e
                        if failed:
                            raise self._stream_error(data, chunk, request)
                        if plain and state.started:
                            # Nearly every chunk: a piece of text (wire.text_delta).
                            text = text_delta(chunk)
                            if text is not None:
                                if text:
                                    yield TextDelta(text)
                                continue
                        for event in wire.chunk_events(chunk, state):
                            yield event
            # The body ended without a [DONE] event. Its last event may lack the
            # blank line that ends it; and a stream whose finish reason arrived is
            # whole (some compatible servers never send [DONE], and the OpenAI SDK
            # ends there too). Anything else: the server or a proxy cut us off.
            for sse in decoder.flush():
                if sse.data == "[DONE]":
                    wire.require_started(state)
                    return
                try:
                    chunk = loads(sse.data)
                except ValueError:
                    # The body stopped part way through this event: a stream cut
                    # short, like one cut between events, not a malformed answer.
                    raise StreamError(
                        "the stream ended part way through an event, before [DONE]",
                        provider=self._name,
                        model=request.model,
                    ) from None
                if wire.has_error(chunk):
                    raise self._stream_error(sse.data, chunk, request)
                for event in wire.chunk_events(chunk, state):
                    yield event
            if not state.finished:
                raise StreamError(
                    "the stream ended before [DONE]", provider=self._name, model=request.model
                )

    def _stream_error(self, data: str, chunk: Any, request: ChatRequest) -> StreamError:
        """The error for an ``{"error": ...}`` event (``data``, decoded: ``chunk``) in a stream."""
        message, _, _ = parse_error_body(data)
        # What it stands for: the typed error of this status before any text came.
        status = wire.error_status(chunk.get("error") if isinstance(chunk, dict) else None)
        return StreamError(
            message or "error event in the stream",
            provider=self._name,
            model=request.model,
            status=status,
            provider_message=message,
            # The core does not retry a started stream, but a caller may: say whether it helps.
            retryable=status == 429 or status >= 500,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``POST /embeddings``: one vector per text, in order (see ``embedding_encoding``).

        More texts than a request takes (``embedding_limits``: for OpenAI 2048
        texts or 300,000 tokens, counted as bytes) go in several requests, four
        at a time, merged in order with their usage summed.
        ``input_type`` is ignored: OpenAI's models embed queries and documents
        alike. ``dimensions`` goes as the service names it; ``extra`` is merged in.
        """
        from . import embeddings  # loaded on first use, as the Responses API's modules

        return await embeddings.embed(
            self._http,
            self._url("embeddings", request.model),
            self._headers,
            self._name,
            request,
            encoding=self._embedding_encoding,
            dimensions_param=self.dimensions_param,
            limits=self.embedding_limits,
            openai=self.embedding_rules,
        )

    #: OpenAI has no rerank API: the core refuses a rerank call to it, unsent.
    #: The presets whose service has one set it to :meth:`_rerank`.
    rerank = None

    async def _rerank(self, request: RerankRequest) -> RerankResponse:
        """``POST /rerank``: the documents ranked best first (a compatible preset's
        ``rerank``; see :mod:`relaykit_openai.rerank`).

        ``top_n`` and ``extra`` are sent; ``max_tokens_per_doc`` is not, since
        none of these services takes a per-document limit.
        """
        from . import rerank  # loaded on first use, as the embeddings module

        return await rerank.rerank(
            self._http, self._url("rerank", request.model), self._headers, self._name, request
        )

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResponse:
        """``POST /audio/transcriptions``: the text said in ``request.audio`` (see
        :mod:`relaykit_openai.transcription` for the form and which answer is asked for).

        A request over the service's size limit is refused before sending.
        """
        from . import transcription  # loaded on first use, as the embeddings module

        return await transcription.transcribe(
            self._http,
            self._url("audio/transcriptions", request.model),
            self._headers,
            self._name,
            request,
            style=self.transcription_style,
            max_body=self.max_transcription_body,
            rules=self.media_rules,
        )

    def stream_transcription(
        self, request: TranscriptionRequest
    ) -> AsyncIterator[str | TranscriptionResponse]:
        """``POST /audio/transcriptions`` with ``stream=true``: the text as it is heard,
        then the whole response; a Whisper model's (and a compatible service's)
        whole transcript as one delta (see :mod:`relaykit_openai.transcription`)."""
        from . import transcription

        return transcription.stream_transcription(
            self._http,
            self._url("audio/transcriptions", request.model),
            self._headers,
            self._name,
            request,
            style=self.transcription_style,
            max_body=self.max_transcription_body,
            rules=self.media_rules,
            stream=self.streams_transcriptions,
        )

    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        """``POST /images/generations``: the images drawn from ``request.prompt``, as
        bytes (see :mod:`relaykit_openai.images` for what is asked of each service).

        What the service cannot draw (too many images, a field it refuses) is
        refused before sending.
        """
        from . import images  # loaded on first use, as the embeddings module

        return await images.generate(
            self._http,
            self._url("images/generations", request.model),
            self._headers,
            self._name,
            request,
            style=self.image_style,
            rules=self.media_rules,
        )

    async def edit_image(self, request: ImageEditRequest) -> ImageResponse:
        """``POST /images/edits``: ``request.images`` edited as ``request.prompt`` says,
        sent as a form (see :func:`relaykit_openai.images.edit_form` for the fields and
        what is refused before sending: a mask without transparency, dall-e-3, more
        than 16 images); to xAI as JSON (:func:`relaykit_openai.images.xai_edit_body`)."""
        from . import images  # loaded on first use, as the embeddings module

        return await images.edit(
            self._http,
            self._url("images/edits", request.model),
            self._headers,
            self._name,
            request,
            style=self.image_style,
            rules=self.media_rules,
        )

    async def speak(self, request: SpeechRequest) -> SpeechResponse:
        """``POST /audio/speech``: the audio of ``request.text``, whole, as bytes (see
        :mod:`relaykit_openai.speech`).

        What OpenAI refuses (a text over 4,096 characters, instructions for tts-1)
        is refused before sending.
        """
        from . import speech  # loaded on first use, as the embeddings module

        return await speech.speak(
            self._http,
            self._url("audio/speech", request.model),
            self._headers,
            self._name,
            request,
            openai=self.speech_limits,
        )

    async def moderate(self, request: ModerationRequest) -> ModerationResponse:
        """``POST /moderations``: one verdict per text of ``request.inputs``, in order,
        under the vendor's own category names (see :mod:`relaykit_openai.moderation`)."""
        from . import moderation  # loaded on first use, as the embeddings module

        return await moderation.moderate(
            self._http,
            self._url("moderations", request.model),
            self._headers,
            self._name,
            request,
        )

    def stream_speech(self, request: SpeechRequest) -> AsyncIterator[bytes | SpeechResponse]:
        """``POST /audio/speech``, read as it arrives: the audio's bytes as they are
        generated, then a summary without them (see :mod:`relaykit_openai.speech`)."""
        from . import speech

        return speech.stream_speech(
            self._http,
            self._url("audio/speech", request.model),
            self._headers,
            self._name,
            request,
            openai=self.speech_limits,
        )

    # -- batches (see :mod:`relaykit_openai.batches`) -------------------------------

    def _batches(self) -> BatchApi:
        from .batches import BatchApi  # loaded on first use, as the embeddings module

        return BatchApi(self._http, self._url, self._headers, self._name, tag_submissions=True)

    def _batch_endpoint(self, path: str, model: str) -> str:
        """The ``endpoint`` (and each line's ``url``) of a batch of calls to API ``path``
        (``"chat/completions"``, ``"responses"``) for ``model``."""
        return f"/v1/{path}"

    async def submit_batch(self, requests: Sequence[tuple[str, ChatRequest]]) -> Batch:
        """``POST /files`` (the items as JSONL, each body as a single call's) and ``POST
        /batches``: to ``/v1/responses`` for a model called through the Responses API,
        ``/v1/chat/completions`` otherwise. Over 50,000 items or 200 MB is refused
        before sending. One item with ``web_search=`` (for a model that is not a
        search model) sends the batch to ``/v1/responses``: a batch has one endpoint."""
        model = requests[0][1].model
        if any(self._via_responses(request) for _, request in requests):
            endpoint = self._batch_endpoint("responses", model)
            return await self._batches().submit(
                requests, endpoint, lambda request: self._responses_body(request, False)
            )
        return await self._batches().submit(
            requests,
            self._batch_endpoint("chat/completions", model),
            lambda request: self._body(request, False),
        )

    async def get_batch(self, vendor_id: str) -> Batch:
        """``GET /batches/{id}``."""
        return await self._batches().get(vendor_id)

    async def cancel_batch(self, vendor_id: str) -> Batch:
        """``POST /batches/{id}/cancel``."""
        return await self._batches().cancel(vendor_id)

    def batch_results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The output file's lines, then the error file's, read as they arrive."""
        return self._batches().results(batch)

    def list_batches(self, limit: int) -> AsyncIterator[Batch]:
        """``GET /batches?limit=&after=``, newest first, a page at a time."""
        return self._batches().list(limit)

    async def list_models(self) -> list[ModelInfo]:
        """``GET /models``, with context windows and prices where this plugin knows them."""
        r = await self._http.get(self._url("models"), headers=self._headers)
        if r.status_code >= 400:
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=self._name, model=None
            )
        page = json_decode.loads(r.content)
        # {} is no empty listing (it would be cached as one): "data" holds the list
        json_decode.require_answer(page, "a model list", "data")
        try:
            return [self._model_info(m) for m in page.get("data") or ()]
        except SHAPE_ERRORS as e:
            raise wrong_shape("a model list", e, page, _LISTING_SHAPE) from e

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        """One model of ``GET /models``; optional fields of the wrong type left out."""
        model_id = m["id"]
        if type(model_id) is not str or not model_id:
            raise TypeError(f"a model's id is {type(model_id).__name__}, not text")
        window, price = self._known(model_id)
        owned_by = m.get("owned_by")
        return ModelInfo(
            id=model_id,
            provider=self._name,
            context_window=_whole(m.get("context_length"))
            or _whole(m.get("context_window"))
            or window,
            price=price,
            created=_whole(m.get("created")) or _whole(m.get("created_at")),
            owned_by=owned_by if isinstance(owned_by, str) else None,
        )

    def price(self, model: str) -> ModelPrice | None:
        """The list price of ``model`` if this plugin knows it."""
        return self._known(model)[1]

    def context_window(self, model: str) -> int | None:
        """``model``'s context window if this plugin's table knows it (the core asks
        when the listing fails: a compatible server without ``GET /models``)."""
        return self._known(model)[0]

    def _known(self, model: str) -> tuple[int | None, ModelPrice | None]:
        known = self._known_cache.get(model)
        if known is not None:
            return known
        # Dated snapshots (gpt-4o-mini-2024-07-18) share their family's price.
        best = known_model(self.known_models, model)
        if len(self._known_cache) < 1024:  # model names come from callers: stay bounded
            self._known_cache[model] = best
        return best


#: what ``GET /models`` documents, for naming the place an answer does not fit it
_LISTING_SHAPE = {"data": [{"id": str}]}


def _whole(value: object) -> int | None:
    """``value`` if it is a whole number; a compatible server's optional count of
    another type (a context length as text, say) is left out, not passed on."""
    return value if type(value) is int else None


def _encoding(value: object, default: Encoding, name: str) -> Encoding:
    """The configured ``embedding_encoding``, or the provider type's ``default``."""
    if value is None:
        return default
    for encoding in _ENCODINGS:
        if value == encoding:
            return encoding
    raise ConfigError(
        f'providers.{name}.embedding_encoding is {value!r}: it takes "base64" or "float"',
        hint='"float" for servers that refuse encoding_format = "base64"',
    )
