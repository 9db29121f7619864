"""The Amazon Bedrock provider: the Converse, ConverseStream and CountTokens APIs over HTTP,
and InvokeModel for embeddings, reranking and images."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, suppress
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import quote, urlencode

from relaykit import (
    AuthenticationError,
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
    ProviderSettings,
    ProviderUnavailableError,
    RelayError,
    RerankRequest,
    RerankResponse,
    StreamError,
    json_decode,
    json_encode,
)
from relaykit.cache_points import add_cache_points, auto_cache_option
from relaykit.events import StreamEvent, StreamStart, UsageUpdate
from relaykit.http import api_url, has_url_credentials, transport_error
from relaykit.http_errors import (
    error_in_answer,
    error_in_place_of_stream,
    not_a_stream,
    not_the_api,
)
from relaykit.secrets import SecretHeaders, cut_short, scrub
from relaykit.sse import SSEDecoder
from relaykit_claude_models import read_error

from . import embeddings, images, inference_profiles, messages_wire, wire
from . import rerank as rerank_api
from .auth import BEARER_ENV, BedrockAuth
from .aws_errors import (
    STREAM_EXCEPTION_STATUS,
    error_kind,
    http_error,
    messages_http_error,
    messages_typed_error,
    stream_exception,
)
from .claude_api import claude_api_option, uses_messages_api
from .endpoints import CONTROL_PLANE_URL_ENV, RUNTIME_URL_ENV, endpoint_url, model_region
from .eventstream import EventStreamDecoder, EventStreamError, EventStreamMessage
from .messages_stream import MessagesStreamReader
from .prices import lookup
from .routes import CONVERSE, MESSAGES, Api, chat_model
from .stream_events import ConverseStreamTranslator

if TYPE_CHECKING:
    from relaykit.http import HttpClient


#: Where ListFoundationModels lives unless ``control_plane_url`` or the env says otherwise.
DEFAULT_CONTROL_PLANE_URL = "https://bedrock.{region}.amazonaws.com"
#: Converse answers carry no id of their own; AWS's request id serves as the response id.
REQUEST_ID = "x-amzn-requestid"
#: ListInferenceProfiles' ``maxResults``: the most it takes, so that few pages are asked for
PROFILES_PAGE = "1000"

log = logging.getLogger("relaykit.bedrock")


#: the events message_start gives, before any of the answer (see MessagesStreamReader)
_NOT_STARTED = (StreamStart, UsageUpdate)


class BedrockProvider:
    """Amazon Bedrock Runtime at ``base_url`` (``{region}`` in it is filled in).

    Authenticates with a Bedrock API key when one is configured
    (``AWS_BEARER_TOKEN_BEDROCK`` or ``[providers.NAME] api_key``), otherwise
    with SigV4 over the standard AWS credential chain. Options in
    ``[providers.NAME]``: ``region`` (else ``AWS_REGION``/``AWS_DEFAULT_REGION``
    or the profile's), ``profile`` (else ``AWS_PROFILE``) and
    ``control_plane_url`` (where ``GET /foundation-models`` and ``GET
    /inference-profiles`` are served); without them, the AWS SDKs' endpoint
    variables (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` for ``base_url``,
    ``AWS_ENDPOINT_URL_BEDROCK`` for the control plane, then ``AWS_ENDPOINT_URL``;
    see :mod:`relaykit_bedrock.endpoints`), and ``auto_cache`` (``true``, ``"5m"`` or
    ``"1h"``: cache points after the tools, the system prompt and the last
    message of calls that bring none; see :mod:`relaykit.cache_points`), and
    ``claude_api`` (``"auto"``, ``"converse"`` or ``"messages"``: which API
    Claude is called through; see :mod:`relaykit_bedrock.claude_api`).
    Claude 4.7 and later, Fable and Mythos go through Anthropic's Messages API
    on ``bedrock-runtime`` (``/anthropic/v1/messages``, server-sent events; see
    :mod:`relaykit_bedrock.messages_wire`), every other model through Converse.
    Model ids may be foundation model ids, inference profile ids
    (``us.anthropic.claude-...``) or ARNs; a call by an ARN of another region
    goes to that region's endpoint, signed for it, unless ``base_url`` is a
    fixed endpoint (no ``{region}`` in it).

    ``reasoning=`` reaches Claude (``thinking``: a budget, or adaptive
    thinking from Claude 4.6 on), Amazon Nova 2 (``reasoningConfig``) and
    gpt-oss (``reasoning_effort``) in ``additionalModelRequestFields``, and is
    refused before sending for other models (see :mod:`relaykit_bedrock.reasoning`).

    :meth:`count_tokens` asks CountTokens how many input tokens the call
    would use (its Converse input, or its Messages body as an InvokeModel
    body), for the models Bedrock counts for. :meth:`embed` embeds
    with Titan Text Embeddings and Cohere Embed through InvokeModel
    (see :mod:`relaykit_bedrock.embeddings`), and :meth:`rerank` ranks
    documents with Cohere Rerank 3.5 and Amazon Rerank 1.0 the same way (see
    :mod:`relaykit_bedrock.rerank`). :meth:`generate_image` draws images the
    same way too, with Amazon Nova Canvas, Titan Image Generator v2 and
    Stability AI's Stable Diffusion 3.5 Large, Stable Image Ultra and Stable
    Image Core (see :mod:`relaykit_bedrock.images`); other models are refused
    before sending, so a route falls back.
    """

    type: ClassVar[str] = "bedrock"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "aws.bedrock"
    default_base_url: ClassVar[str] = "https://bedrock-runtime.{region}.amazonaws.com"
    api_key_env: ClassVar[str | None] = BEARER_ENV
    # None: the AWS SDKs' endpoint variables (AWS_ENDPOINT_URL_BEDROCK_RUNTIME, then
    # AWS_ENDPOINT_URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) are read here, by
    # relaykit_bedrock.endpoints, for every table of this type, as the SDKs read them.
    base_url_env: ClassVar[str | None] = None
    requires_api_key: ClassVar[bool] = False  # the AWS credential chain needs no key
    # SigV4's credentials from the environment, masked from the client's start as keys
    # are (AWS quotes a session token back in a signature mismatch's canonical request)
    secret_envs: ClassVar[tuple[str, ...]] = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    options: ClassVar[tuple[str, ...]] = (
        "region",
        "profile",
        "control_plane_url",
        "auto_cache",
        "claude_api",
    )

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        self.settings = settings
        self._http = http
        self._name = settings.name
        opts = settings.options
        self._auth = BedrockAuth(
            region=_opt(opts, "region"),
            profile=_opt(opts, "profile"),
            bearer=settings.api_key,
            known=settings.known_secrets,
        )
        # base_url_env is None, so settings.base_url is the table's or the default.
        given = settings.base_url if settings.base_url != self.default_base_url else None
        self._runtime_url = _endpoint(
            *endpoint_url(
                given,
                f"providers.{self._name}.base_url",
                RUNTIME_URL_ENV,
                settings.env,
                self.default_base_url,
            )
        )
        self._control_url = _endpoint(
            *endpoint_url(
                _opt(opts, "control_plane_url"),
                f"providers.{self._name}.control_plane_url",
                CONTROL_PLANE_URL_ENV,
                settings.env,
                DEFAULT_CONTROL_PLANE_URL,
            )
        )
        # Signed: content-type (and the host). User headers ride along unsigned.
        self._signed = {"content-type": "application/json"}
        self._unsigned = SecretHeaders(settings.headers)
        self._auto_cache = auto_cache_option(
            opts.get("auto_cache"), f"providers.{settings.name}.auto_cache"
        )
        self._claude_api = claude_api_option(
            opts.get("claude_api"), f"providers.{settings.name}.claude_api"
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(
            f"{name}(name={self._name!r}, base_url={self._runtime_url!r}, auth={self._auth!r})"
        )

    async def _url(self, template: str, path: str, region: str | None = None) -> str:
        """``path`` under the endpoint ``template``, its ``{region}`` filled with
        ``region`` (a model ARN's) or the configured one."""
        if "{region}" in template:
            template = template.replace("{region}", region or await self._auth.region())
        # under the endpoint's path, before its query (a gateway's ?key=value)
        return api_url(template, path)

    def _model_region(self, model: str) -> str | None:
        """The region a call to ``model`` is signed for and sent to when it is not
        the configured one: a model ARN's, when the runtime endpoint is regional
        (``{region}`` in it). A fixed endpoint (a VPC endpoint, a gateway) is the
        one the user chose: its region is the configured one."""
        return model_region(model) if "{region}" in self._runtime_url else None

    async def _request_headers(
        self, method: str, url: str, body: bytes, region: str | None = None
    ) -> dict[str, str]:
        signed = await self._auth.headers(method, url, body, self._signed, region=region)
        return {**signed, **self._unsigned}

    def _converse_body(self, request: ChatRequest, *, api: Api = CONVERSE) -> dict[str, Any]:
        if self._auto_cache is not None:
            request = add_cache_points(request, self._auto_cache)
        return wire.request_body(request, api=api)

    async def _model_request(
        self, model: str, operation: str, body: dict[str, Any]
    ) -> tuple[str, bytes, dict[str, str]]:
        # The model id sits in one path segment: ARNs carry '/' and ':' which must be escaped.
        region = self._model_region(model)
        path = f"/model/{quote(model, safe='')}/{operation}"
        url = await self._url(self._runtime_url, path, region)
        content = json_encode.dumps(body)
        return url, content, await self._request_headers("POST", url, content, region)

    async def _converse_request(
        self, request: ChatRequest, operation: str
    ) -> tuple[str, bytes, dict[str, str]]:
        return await self._model_request(request.model, operation, self._converse_body(request))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One ``POST /model/{modelId}/converse`` call, or ``POST /anthropic/v1/messages``
        for the Claude models the Messages API serves."""
        request = chat_model(request)
        if uses_messages_api(request.model, self._claude_api):
            return await self._messages_chat(request)
        url, body, headers = await self._converse_request(request, "converse")
        r = await self._http.post(url, content=body, headers=headers)
        if r.status_code >= 400:
            raise http_error(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        data = json_decode.loads(r.content)
        answered_error(data, r, ("output",), self._name, request.model)
        return wire.response(
            data, request.model, r.headers.get(REQUEST_ID), wire.json_tool_name(request)
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One ``POST /model/{modelId}/converse-stream`` call, decoding the binary event
        stream, or a streamed Messages API call (server-sent events) for the Claude
        models it serves."""
        request = chat_model(request)
        if uses_messages_api(request.model, self._claude_api):
            async with aclosing(self._messages_stream(request)) as events:
                async for event in events:
                    yield event
            return
        url, body, headers = await self._converse_request(request, "converse-stream")
        async with self._http.stream("POST", url, content=body, headers=headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise http_error(
                    r.status_code, r.headers, r.content, provider=self._name, model=request.model
                )
            if (media := not_a_stream(r.headers)) is not None:  # how AWS reports a failure
                await r.aread()
                raise self._in_place_of_stream(r, media, request.model, "an AWS event stream")
            decoder = EventStreamDecoder()
            translator = ConverseStreamTranslator(
                request.model, r.headers.get(REQUEST_ID), wire.json_tool_name(request)
            )
            started = False
            lost: str | None = None  # why the metadata after messageStop never came
            # aclosing: the client's byte iterator is an async generator too; leaving it
            # unexhausted would leave its cleanup to the garbage collector.
            chunks_iter = cast("AsyncGenerator[bytes, None]", r.aiter_bytes())
            async with aclosing(chunks_iter) as chunks:
                while lost is None:
                    try:
                        raw = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except Exception as e:
                        # After messageStop the answer is whole: a connection lost
                        # before the metadata event costs its usage only.
                        if not translator.stopped or translator.has_usage:
                            raise
                        if transport_error(e, provider=self._name, model=request.model) is None:
                            raise
                        lost = f"the connection broke ({type(e).__name__})"
                        break
                    try:
                        messages = decoder.feed(raw)
                    except EventStreamError as e:
                        if not translator.stopped or translator.has_usage:
                            raise self._corrupt(e, request.model) from e
                        lost = f"its frame was corrupt ({e})"
                        messages = []
                    for message in messages:
                        if message.message_type != "event":
                            raise self._exception(message, started, request.model)
                        try:
                            data = json_decode.loads(message.payload) if message.payload else {}
                        except ValueError as e:
                            raise StreamError(
                                f"a {message.event_type} event is not JSON",
                                provider=self._name,
                                model=request.model,
                            ) from e
                        for event in translator.events(message.event_type, data):
                            yield event
                            started = True
            if lost is None:
                try:
                    # A corrupt frame that shared the last read with good ones is raised here.
                    decoder.close()
                except EventStreamError as e:
                    if not translator.stopped or translator.has_usage:
                        raise self._corrupt(e, request.model) from e
                    lost = f"its frame was corrupt ({e})"
            # messageStop says the answer is whole (metadata with usage follows it);
            # without it the server or a proxy cut the stream short.
            if not translator.stopped:
                raise StreamError(
                    "the stream ended before messageStop", provider=self._name, model=request.model
                )
            if not translator.has_usage:
                # The answer stands (its events reached the caller; AWS billed it).
                # With no UsageUpdate the client charges its estimate, marked
                # usage_estimated; this says why.
                if lost is None:
                    cut = decoder.pending
                    lost = "its last frame was cut short" if cut else "the stream ended first"
                log.warning(
                    "bedrock: the ConverseStream of %s lost its metadata event (the usage)"
                    " after messageStop: %s; the answer is whole, its usage estimated",
                    request.model,
                    lost,
                )

    # -- the Messages API (Claude 4.7 on) ---------------------------------------------

    def _messages_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        # built by this route's rules: no strict (see messages_wire), its refusals
        converse = self._converse_body(request, api=MESSAGES)
        choice = request.tool_choice
        none = choice is not None and choice.mode == "none"
        return messages_wire.request_body(
            converse,
            request.model,
            stream=stream,
            tool_choice_none=none,
            default_max_tokens=messages_wire.default_max_tokens(request),
        )

    async def _messages_request(
        self, request: ChatRequest, *, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        body = self._messages_body(request, stream=stream)
        region = self._model_region(request.model)
        url = await self._url(self._runtime_url, messages_wire.PATH, region)
        content = json_encode.dumps(body)
        signed = {**self._signed, "anthropic-version": messages_wire.ANTHROPIC_VERSION}
        # A Bedrock API key goes in x-api-key here, as the Anthropic SDKs send it.
        auth = await self._auth.headers(
            "POST", url, content, signed, bearer_header="x-api-key", region=region
        )
        return url, content, {**auth, **self._unsigned}

    async def _messages_chat(self, request: ChatRequest) -> ChatResponse:
        url, body, headers = await self._messages_request(request, stream=False)
        r = await self._http.post(url, content=body, headers=headers)
        if r.status_code >= 400:
            raise messages_http_error(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        data = json_decode.loads(r.content)
        answered_error(data, r, ("content",), self._name, request.model)
        converse = messages_wire.converse_response(data)
        given = data.get("id")  # a dict: converse_response read it
        rid = given if isinstance(given, str) and given else r.headers.get(REQUEST_ID)
        return wire.response(converse, request.model, rid, wire.json_tool_name(request))

    async def _messages_stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        url, body, headers = await self._messages_request(request, stream=True)
        model = request.model
        async with self._http.stream("POST", url, content=body, headers=headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise messages_http_error(
                    r.status_code, r.headers, r.content, provider=self._name, model=model
                )
            if (media := not_a_stream(r.headers)) is not None:  # an error object, a page
                await r.aread()
                raise self._in_place_of_stream(r, media, model, "an event stream", messages=True)
            kind = r.headers.get("content-type", "").split(";", 1)[0].strip()
            if kind != "text/event-stream":
                raise StreamError(
                    f"the Messages API answered a stream as {kind or 'no content type'}, "
                    "not server-sent events",
                    provider=self._name,
                    model=model,
                )
            decoder = SSEDecoder()
            reader = MessagesStreamReader()
            translator: ConverseStreamTranslator | None = None
            started = False
            chunks_iter = cast("AsyncGenerator[bytes, None]", r.aiter_bytes())
            async with aclosing(chunks_iter) as chunks:
                async for raw in chunks:
                    for sse in decoder.feed(raw):
                        try:
                            data = json_decode.loads(sse.data) if sse.data else {}
                        except ValueError as e:
                            raise StreamError(
                                f"a {sse.event} event is not JSON", provider=self._name, model=model
                            ) from e
                        if sse.event == "error":
                            raise self._messages_stream_error(data, started, model)
                        for name, converse in reader.events(sse.event, data):
                            if translator is None:  # the message id comes in message_start
                                rid = reader.message_id or r.headers.get(REQUEST_ID)
                                json_tool = wire.json_tool_name(request)
                                translator = ConverseStreamTranslator(model, rid, json_tool)
                            for event in translator.events(name, converse):
                                yield event
                                # message_start's prompt usage is no piece of the answer
                                started = started or not isinstance(event, _NOT_STARTED)
            if translator is not None and not translator.stopped:
                # Cut after message_delta (the stop reason, the final usage): whole.
                for name, converse in reader.end():
                    for event in translator.events(name, converse):
                        yield event
            if translator is None or not translator.stopped:
                raise StreamError(
                    "the stream ended before message_stop", provider=self._name, model=model
                )

    def _messages_stream_error(self, data: dict[str, Any], started: bool, model: str) -> RelayError:
        status, kind, message = read_error(data)
        # Bedrock's own errors come in Anthropic's shape under AWS's names
        # (ThrottlingException), which Anthropic's table takes for an unknown 500.
        status = STREAM_EXCEPTION_STATUS.get(kind.lower(), status)
        typed = messages_typed_error(status, kind, message, provider=self._name, model=model)
        if not started:
            return typed
        return StreamError(
            f"{kind} in the stream: {message or 'no message'}",
            provider=self._name,
            model=model,
            status=status,
            provider_message=f"{kind}: {message}",
            # As on ConverseStream (stream_exception): not retryable where the typed
            # error says not to retry (a daily quota used up), whatever its kind says.
            retryable=typed.retryable and typed.should_retry is not False,
            hint=typed.hint,
        )

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens ``request`` would use, from ``POST /model/{modelId}/count-tokens``.

        Counts what the call would send. For a model called through Converse:
        the ``messages``, ``system`` and ``toolConfig`` of the Converse call as
        ``input.converse`` (the inference settings have no place there). For a
        Claude model called through the Messages API: that call's whole body,
        which is Claude's InvokeModel body, as ``input.invokeModel`` (see
        :func:`relaykit_bedrock.messages_wire.invoke_model_body`), so that what
        only that API takes (Messages fields ``extra`` gives, ``cache_control``,
        the thinking setting) is counted as sent, and what it refuses is refused
        before sending as the call would be. Bedrock counts for some models
        only and refuses the rest with a ``ValidationException``
        (:class:`relaykit.InvalidRequestError`). Raises
        :class:`relaykit.RelayError` subclasses on failure.
        """
        counted: dict[str, Any]
        request = chat_model(request)
        if uses_messages_api(request.model, self._claude_api):
            body = self._messages_body(request, stream=False)
            counted = {"invokeModel": {"body": messages_wire.invoke_model_body(body)}}
        else:
            converse = self._converse_body(request)
            fields = {k: converse[k] for k in wire.COUNT_TOKENS_FIELDS if k in converse}
            counted = {"converse": fields}
        url, content, headers = await self._model_request(
            request.model, "count-tokens", {"input": counted}
        )
        try:
            # The core maps transport errors on its chat path only; this call is outside it.
            r = await self._http.post(url, content=content, headers=headers)
        except Exception as e:
            mapped = transport_error(e, provider=self._name, model=request.model)
            if mapped is None:
                raise
            raise mapped from e
        if r.status_code >= 400:
            raise http_error(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        return counted_tokens(r, self._name, request.model)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One vector per input, from ``POST /model/{modelId}/invoke`` calls.

        The body is the model family's own (Titan Text Embeddings V2 and G1,
        Cohere Embed v3 and v4); Titan takes one text a request, Cohere 96.
        Raises :class:`relaykit.InvalidRequestError` for a model of another
        family and a ``dimensions`` the model cannot give, before sending.
        """
        return await embeddings.embed(request, self._invoke, provider=self._name)

    async def rerank(self, request: RerankRequest) -> RerankResponse:
        """``request.documents`` ranked by relevance to its query, from one
        ``POST /model/{modelId}/invoke`` call.

        The body is the model's own (Cohere Rerank 3.5 with ``api_version`` 2
        and ``top_n``; Amazon Rerank 1.0 with the query and documents alone, its
        results cut to ``top_n`` here). ``search_units`` is the queries Bedrock
        bills, one per 100 documents. Raises :class:`relaykit.InvalidRequestError`
        for a model that is no reranker relaykit knows and for more than 1,000
        documents, before sending.
        """
        return await rerank_api.rerank(request, self._invoke, provider=self._name)

    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        """The images drawn from ``request.prompt``, from one ``POST /model/{modelId}/invoke``
        call.

        The body is the model family's own: Amazon Nova Canvas and Titan Image
        Generator v2 (up to 5 images a request, ``quality`` standard or premium,
        sizes as each draws them) or Stability AI's Stable Diffusion 3.5 Large,
        Stable Image Ultra and Stable Image Core (one image a request, ``size``
        standing for an aspect ratio). Raises :class:`relaykit.InvalidRequestError`
        before sending for another model and for what the family cannot draw,
        and :class:`relaykit.ContentFilterError` when AWS's filters refuse the
        prompt or block every image (see :mod:`relaykit_bedrock.images`).
        """
        return await images.generate(request, self._invoke, provider=self._name)

    async def edit_image(self, request: ImageEditRequest) -> ImageResponse:
        """``request.images`` edited by Amazon Nova Canvas or Titan Image Generator v2,
        from one ``POST /model/{modelId}/invoke`` call: ``INPAINTING`` of the image
        where the mask is black when a mask is given, else ``IMAGE_VARIATION`` of the
        images (one to five) as the prompt says (see
        :func:`relaykit_bedrock.images.edit_body`). Stability's models, and what the
        task cannot take, are refused before sending.
        """
        return await images.edit(request, self._invoke, provider=self._name)

    async def _invoke(self, model: str, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        url, content, headers = await self._model_request(model, "invoke", body)
        r = await self._http.post(url, content=content, headers=headers)
        if r.status_code >= 400:
            raise http_error(r.status_code, r.headers, r.content, provider=self._name, model=model)
        try:
            data = json_decode.loads(r.content)
        except ValueError as e:
            came = r.headers.get("content-type") or "no content type"
            raise ProviderUnavailableError(
                f"InvokeModel answered with a body that is not JSON (it came as {came})",
                provider=self._name,
                model=model,
                status=r.status_code,
            ) from e
        if isinstance(data, dict) and isinstance(data.get("error"), Mapping):
            # an error object sent with status 200 (a proxy's) is the error it
            # describes; Nova Canvas's and Titan's "error" beside images is text
            answered_error(data, r, _INVOKE_ANSWERS, self._name, model)
        return data, r.headers

    def _in_place_of_stream(
        self, r: Any, media: str, model: str, expected: str, *, messages: bool = False
    ) -> RelayError:
        """The error for a stream answered (status 200) with a whole ``media`` document,
        read: AWS's error (named in ``x-amzn-errortype`` or ``__type``) typed as its
        name says, an error object as it describes, anything else the retryable
        error naming what came (:func:`relaykit.http_errors.error_in_place_of_stream`)."""
        kind = error_kind(r.headers, r.content) if media != "text/html" else None
        if kind is None:
            return error_in_place_of_stream(
                media, r.headers, r.content, expected=expected, provider=self._name, model=model
            )
        status = STREAM_EXCEPTION_STATUS.get(kind.lower(), 502)
        typed = messages_http_error if messages else http_error
        return typed(status, r.headers, r.content, provider=self._name, model=model)

    def _corrupt(self, error: EventStreamError, model: str) -> StreamError:
        return StreamError(
            f"the ConverseStream response is corrupt: {error}", provider=self._name, model=model
        )

    def _exception(self, message: EventStreamMessage, started: bool, model: str) -> RelayError:
        if message.message_type == "error":  # the generic form: the error in headers
            kind = message.header(":error-code") or "UnknownError"
            payload = json.dumps({"message": message.header(":error-message") or ""}).encode()
        else:
            kind = message.exception_type or "UnknownException"
            payload = message.payload
        return stream_exception(kind, payload, started=started, provider=self._name, model=model)

    async def list_models(self) -> list[ModelInfo]:
        """The models a call can name: ListFoundationModels (``GET /foundation-models``,
        control plane) and ListInferenceProfiles (``GET /inference-profiles``, every page).

        Foundation models: text models only, and those a call can reach by their id
        or an inference profile's (a model AWS serves to Provisioned Throughput
        alone, such as a ``...:0:300k`` context-length variant, is called through
        its provisioned model's ARN and left out). Then the system-defined
        (cross-region) inference profiles of those text models, by their ids
        (``us.anthropic.claude-...``, ``global.anthropic.claude-...``): the ids the
        models that take on-demand calls through a profile only are called by.
        When the credentials may list models but not profiles (AccessDenied on
        ``bedrock:ListInferenceProfiles``), the foundation models are listed alone
        and a warning says why.
        """
        url = await self._url(self._control_url, "/foundation-models?byOutputModality=TEXT")
        data = await self._control_get(url)
        # {} is no empty listing (it would be cached as one)
        json_decode.require_answer(data, "a model list", "modelSummaries")
        try:
            summaries = data.get("modelSummaries") or ()
            models = [self._model_info(m) for m in summaries if _callable(m)]
            owners = {m.get("modelId"): m.get("providerName") for m in summaries}
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a model list", e, data, _LISTING_SHAPE) from e
        try:
            profiles = await self._inference_profiles(owners)
        except AuthenticationError as e:
            if e.status != 403:
                raise
            log.warning(
                "bedrock: listing %s without inference profiles: %s (allow"
                " bedrock:ListInferenceProfiles to list us./eu./global. profile ids)",
                self._name,
                e,
            )
            return models
        listed = {m.id for m in models}
        for info in profiles:
            if info.id not in listed:
                listed.add(info.id)
                models.append(info)
        return models

    async def _control_get(self, url: str) -> Any:
        r = await self._http.get(url, headers=await self._request_headers("GET", url, b""))
        if r.status_code >= 400:
            raise http_error(r.status_code, r.headers, r.content, provider=self._name, model=None)
        return json_decode.loads(r.content)

    async def _inference_profiles(self, owners: Mapping[Any, Any]) -> list[ModelInfo]:
        """The system-defined inference profiles of the text models in ``owners`` (model
        id -> provider name), page after page."""
        found: list[ModelInfo] = []
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = {"maxResults": PROFILES_PAGE, "type": "SYSTEM_DEFINED"}
            if token is not None:
                query["nextToken"] = token
            url = await self._url(self._control_url, f"/inference-profiles?{urlencode(query)}")
            data = await self._control_get(url)
            infos, token = inference_profiles.read_page(data, owners, self._name)
            found += infos
            if not token:
                return found
            if token in seen:  # a server handing out a token twice would page forever
                raise ProviderUnavailableError(
                    "ListInferenceProfiles answered a nextToken it had already given",
                    provider=self._name,
                )
            seen.add(token)

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        """One of ListFoundationModels' ``modelSummaries``; a ``providerName`` that is not
        text left out."""
        model_id = m["modelId"]
        if type(model_id) is not str or not model_id:
            raise TypeError(f"a model's modelId is {type(model_id).__name__}, not text")
        window, price = lookup(model_id)
        owner = m.get("providerName")
        return ModelInfo(
            id=model_id,
            provider=self._name,
            context_window=window,
            price=price,
            owned_by=owner if isinstance(owner, str) else None,
        )

    def price(self, model: str) -> ModelPrice | None:
        """The list price of ``model`` (a model or inference profile id) if this plugin knows it."""
        return lookup(model)[1]

    def context_window(self, model: str) -> int | None:
        """``model``'s context window (a model or inference profile id) if this plugin
        knows it (the core asks when the listing fails)."""
        return lookup(model)[0]


#: what ListFoundationModels documents, for naming the place an answer does not fit it
_LISTING_SHAPE = {"modelSummaries": [{"modelId": str, "providerName": str}]}


def answered_error(data: Any, r: Any, answer: tuple[str, ...], provider: str, model: str) -> None:
    """Raise the error an error object sent with status 200 in place of an answer
    (a proxy's) describes: ``{"error": {...}}`` is no empty answer."""
    error = error_in_answer(
        data, r.headers, r.content, answer=answer, provider=provider, model=model
    )
    if error is not None:
        raise error


def counted_tokens(r: Any, provider: str, model: str) -> int:
    """The count in CountTokens' status-200 answer ``r`` (``{"inputTokens": n}``).

    What a proxy or gateway may send with status 200 in its place is no count:
    AWS's error JSON (named in ``__type`` or ``x-amzn-ErrorType``, its words in
    ``message``) is the typed error its name says, as it would be with its own
    status; an error object (``{"error": {...}}``) the error it describes; and
    anything else (an HTML page, ``{}``, a count that is no whole number, a body
    cut short) the retryable malformed-response error, quoting what came.
    """
    media = (r.headers.get("content-type") or "no content type").lower()
    data: Any = None
    if not media.startswith("text/html"):
        try:
            data = json_decode.loads(r.content)
        except ValueError:
            data = None
    if isinstance(data, dict) and "inputTokens" in data and "__type" not in data:
        with suppress(ValueError):  # a negative count is no count either
            return json_decode.count(data["inputTokens"], "inputTokens")
    elif not media.startswith("text/html"):
        kind = error_kind(r.headers, r.content)
        if kind is not None:
            status = STREAM_EXCEPTION_STATUS.get(kind.lower(), 500)
            raise http_error(status, r.headers, r.content, provider=provider, model=model)
        answered_error(data, r, ("inputTokens",), provider, model)
    text = r.content.decode("utf-8", "replace").strip()
    shown = f": {cut_short(' '.join(text.split()), 100)!r}" if text else " with no body"
    if (page := not_the_api(r.headers, r.content)) is not None:
        shown = f": {page}"  # a web page summed up as every error page is, queries cut
    raise ProviderUnavailableError(
        f"CountTokens answered (status 200) with {media.split(';', 1)[0]} that holds no"
        f" inputTokens count{shown}",
        provider=provider,
        model=model,
        status=r.status_code,
        hint="a proxy or gateway between relaykit and Bedrock answered, or the service is"
        " in trouble: a retry may get the count; if it lasts, check base_url and any"
        " proxy settings (HTTPS_PROXY)",
    )


#: the fields of the InvokeModel answers relaykit reads that hold the answer: images
#: (Nova Canvas, Titan, Stability), embeddings (Titan's one, Cohere's), rerank results
_INVOKE_ANSWERS = ("images", "embedding", "embeddings", "results")

#: the inference types a call by model or inference profile id goes through
_CALLABLE = frozenset({"ON_DEMAND", "INFERENCE_PROFILE"})


def _callable(summary: Any) -> bool:
    """Whether a ``modelSummaries`` entry names a model callable without Provisioned
    Throughput: an entry that says nothing of its inference types is kept."""
    kinds = summary.get("inferenceTypesSupported") if isinstance(summary, dict) else None
    if not isinstance(kinds, list) or not kinds:
        return True
    return any(kind in _CALLABLE for kind in kinds)


def _opt(options: Any, key: str) -> str | None:
    value = options.get(key)
    return str(value) if value else None


def _endpoint(url: str, where: str) -> str:
    """A configured endpoint URL, checked: requests go under its path and keep its
    query (:func:`relaykit.http.api_url`).

    :raises ConfigError: ``user:password@`` in it: the request's ``Authorization``
        is its SigV4 signature or Bedrock API key, which basic credentials would
        have to replace (httpx would send them instead; aiohttp refuses the pair).
    """
    if has_url_credentials(url):
        raise ConfigError(
            f"{where} carries credentials (user:password@), which Bedrock cannot send:"
            " its Authorization header is the request's SigV4 signature or API key",
            hint="remove user:password@ from the URL; a proxy's own credentials go in"
            " HTTPS_PROXY (https://user:password@proxy:port), a gateway's in"
            " [providers] headers",
        )
    return url
