"""The Anthropic Messages API provider: messages, streaming, token counting, model listing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from relaykit import (
    Batch,
    BatchResult,
    ChatRequest,
    ChatResponse,
    ConfigError,
    ModelInfo,
    ModelPrice,
    ProviderSettings,
    RelayError,
    StreamError,
    json_decode,
    json_encode,
)
from relaykit.cache_points import add_cache_points, auto_cache_option
from relaykit.events import StreamEvent
from relaykit.http import api_url, base_url_credentials, transport_error
from relaykit.http_errors import (
    error_from_http,
    error_in_answer,
    refuse_document_stream,
)
from relaykit.secrets import scrub
from relaykit_claude_models import hint_thinking

from . import paused_turns, wire
from .prices import known_model
from .stream_decoding import MessageStreamDecoder

if TYPE_CHECKING:
    from relaykit.http import HttpClient, HttpResponse, HttpStreamResponse

    from .batches import MessageBatches


DEFAULT_VERSION = "2023-06-01"


class AnthropicProvider:
    """Claude through the Messages API at ``base_url`` (without ``/v1``, as the SDKs take it).

    Options in ``[providers.NAME]``:

    - ``auth``: ``"x-api-key"`` (default) or ``"bearer"`` to send the key as
      ``Authorization: Bearer`` (gateways, OAuth tokens).
    - ``anthropic_version``: the ``anthropic-version`` header (default ``2023-06-01``).
    - ``anthropic_beta``: a beta name or a list of them, sent as ``anthropic-beta``.
    - ``default_max_tokens``: the answer's share of ``max_tokens`` when a call
      gives none, which the API requires (default 4096); room for thinking is
      added when the model will think, Claude 5's default thinking included
      (see :mod:`relaykit_anthropic.wire`).
    - ``structured_output``: ``"native"`` (default; ``output_config.format``)
      or ``"tool"`` to emulate JSON-schema output with a forced tool on models
      older than Claude 4.5.
    - ``auto_cache``: ``true``, ``"5m"`` or ``"1h"`` to place cache points in
      calls that bring none: after the tools, the system prompt and the last
      message (:mod:`relaykit.cache_points`). Off by default: each prefix is
      written at a premium the first time.
    - ``dynamic_web_search``: ``true`` to send ``web_search=`` as the web search
      tool with dynamic filtering (``web_search_20260209``: Claude filters the
      results in code before reading them) to Claude 4.6 and later; off by
      default, as it is not eligible for zero data retention. Older models get
      the basic tool either way (see :mod:`relaykit_anthropic.web_search`).

    Thinking is set per call with ``reasoning=`` (an effort, a budget in
    tokens, ``True`` or ``False``): a ``thinking`` budget, or adaptive thinking
    with an effort from Claude 4.6 on; Claude 5 models think by default, and
    ``"none"`` sends what turns that off, or is refused on the models that
    always think (see :mod:`relaykit_anthropic.thinking`).
    ``extra={"thinking": {...}}`` still sends the API's own field as given, in
    place of ``reasoning=``. The thinking comes back as reasoning, never mixed
    into the answer.
    """

    type: ClassVar[str] = "anthropic"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    base_url_env: ClassVar[str | None] = "ANTHROPIC_BASE_URL"
    requires_api_key: ClassVar[bool] = True
    #: ``web_search=`` runs Claude's web search tool (:mod:`relaykit_anthropic.web_search`)
    searches_web: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = (
        "auth",
        "anthropic_version",
        "anthropic_beta",
        "default_max_tokens",
        "structured_output",
        "auto_cache",
        "dynamic_web_search",
    )

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        self.settings = settings
        self._http = http
        self._name = settings.name
        opts = settings.options
        headers = {
            "content-type": "application/json",
            **_auth_headers(settings, opts),
            **settings.headers,
        }
        # user:password@ in base_url goes as basic auth (when nothing else claims it)
        base_url, self._headers = base_url_credentials(
            settings.base_url,
            headers,
            where=f"providers.{settings.name}.base_url",
            known_secrets=settings.known_secrets,
        )
        #: the base URL without a /v1 or credentials, its query kept
        self._base = base = _api_base(base_url)
        self._messages_url = api_url(base, "v1/messages")
        self._count_url = api_url(base, "v1/messages/count_tokens")
        self._models_url = api_url(base, "v1/models")
        self._default_max_tokens = _positive_int(
            opts, "default_max_tokens", wire.DEFAULT_MAX_TOKENS, settings.name
        )
        structured = opts.get("structured_output", "native")
        if structured not in ("native", "tool"):
            raise ConfigError(
                f"providers.{settings.name}.structured_output is {structured!r}",
                hint="use 'native' (output_config.format) or 'tool' (a forced tool, old models)",
            )
        self._structured: wire.StructuredOutput = structured
        self._auto_cache = auto_cache_option(
            opts.get("auto_cache"), f"providers.{settings.name}.auto_cache"
        )
        dynamic = opts.get("dynamic_web_search", False)
        if not isinstance(dynamic, bool):
            raise ConfigError(
                f"providers.{settings.name}.dynamic_web_search is {dynamic!r}",
                hint="use true (web search with dynamic filtering on Claude 4.6 and later)"
                " or false (the basic web search tool)",
            )
        self._dynamic_web_search = dynamic

    def __repr__(self) -> str:
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(
            f"{type(self).__name__}(name={self._name!r}, base_url={self.settings.base_url!r})"
        )

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if self._auto_cache is not None:
            request = add_cache_points(request, self._auto_cache)
        return wire.request_body(
            request,
            stream=stream,
            default_max_tokens=self._default_max_tokens,
            structured_output=self._structured,
            provider=self._name,
            dynamic_web_search=self._dynamic_web_search,
            search_model=self.base_model(request.model),
        )

    def base_model(self, model: str) -> str:
        """The Claude model ``model`` names (a host's deployment names differ)."""
        return model

    # -- where and how a request goes: what a subclass for another host overrides ----

    async def _messages_url_for(self, request: ChatRequest, *, stream: bool) -> str:
        """Where a Messages call for ``request`` goes."""
        return self._messages_url

    async def _count_url_for(self, request: ChatRequest) -> str:
        """Where ``request``'s tokens are counted."""
        return self._count_url

    def _count_body(self, request: ChatRequest) -> dict[str, Any]:
        """The token-counting body: the Messages body's fields the endpoint takes
        (sampling parameters are refused there)."""
        full = self._body(request, stream=False)
        return {k: v for k, v in full.items() if k in wire.COUNT_TOKENS_FIELDS}

    def _call_headers(self, body: Mapping[str, Any]) -> dict[str, str]:
        """Headers a Messages call with ``body`` adds to the provider's: none here."""
        return {}

    async def _post(
        self, url: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """POST ``body`` with the provider's headers (and ``extra``)."""
        headers = {**self._headers, **extra} if extra else self._headers
        return await self._http.post(url, content=body, headers=headers)

    def _open_stream(
        self, url: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[HttpStreamResponse]:
        """POST ``body`` (with ``extra`` headers), the answer streamed."""
        headers = {**self._headers, **extra} if extra else self._headers
        return self._http.stream("POST", url, content=body, headers=headers)

    def _error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: str | None
    ) -> RelayError:
        """The typed error for an HTTP error answer; Claude refusing a turn's thinking
        blocks says how to send them back."""
        return hint_thinking(
            error_from_http(status, headers, body, provider=self._name, model=model)
        )

    # -- calls -------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One non-streamed Messages API call; a turn a server tool paused is
        continued (:mod:`relaykit_anthropic.paused_turns`)."""
        body = self._body(request, stream=False)
        url = await self._messages_url_for(request, stream=False)
        extra = self._call_headers(body)
        data = await self._message(url, body, request.model, extra)
        answers = [data]
        while paused_turns.paused(data) and len(answers) <= paused_turns.MAX_CONTINUATIONS:
            more = paused_turns.continuation(body, answers)
            if more is None:
                break
            data = await self._message(url, more, request.model, extra)
            answers.append(data)
        if len(answers) > 1:
            data = paused_turns.joined(answers)
        return wire.response(data, wire.json_tool_name(request, self._structured))

    async def _message(
        self, url: str, body: dict[str, Any], model: str, extra: Mapping[str, str]
    ) -> Any:
        """POST one Messages body; the answer's JSON."""
        r = await self._post(url, _encode(body), extra)
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, model)
        data = json_decode.loads(r.content)
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data, r.headers, r.content, answer=("content",), provider=self._name, model=model
        )
        if error is not None:
            raise error
        return data

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streamed call: SSE events from ``message_start`` to ``message_stop``."""
        fields = self._body(request, stream=True)
        extra = self._call_headers(fields)
        body = _encode(fields)
        decoder = MessageStreamDecoder(
            provider=self._name,
            model=request.model,
            json_tool=wire.json_tool_name(request, self._structured),
        )
        url = await self._messages_url_for(request, stream=True)
        async with self._open_stream(url, body, extra) as r:
            if r.status_code >= 400:
                await r.aread()
                raise self._error(r.status_code, r.headers, r.content, request.model)
            await refuse_document_stream(  # a page, an error object
                r, expected="an event stream", provider=self._name, model=request.model
            )
            # aclosing: the client's byte iterator is an async generator too; leaving it
            # unexhausted would leave its cleanup to the garbage collector.
            async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
                async for raw in chunks:
                    for event in decoder.feed(raw):
                        yield event
                    if decoder.finished:
                        return
            for event in decoder.flush():
                yield event
            if decoder.whole:  # message_stop, or at least the stop reason before it
                return
            # The connection closed before the stop reason: the server or a proxy cut us off.
            raise StreamError(
                "the stream ended before message_stop", provider=self._name, model=request.model
            )

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens ``request`` would use, from ``POST /v1/messages/count_tokens``.

        Counts the system prompt, messages, tools, images and documents as the
        API would bill them; sampling parameters are left out because the
        endpoint rejects them. Raises :class:`relaykit.RelayError` subclasses on failure.
        """
        url = await self._count_url_for(request)
        r = await self._send(url, request.model, _encode(self._count_body(request)))
        return wire.input_tokens(json_decode.loads(r.content))

    async def list_models(self) -> list[ModelInfo]:
        """``GET /v1/models``, every page, with context windows and prices where known;
        a page whose last id was asked after already ends the list (following it would
        read the same pages for ever)."""
        out: list[ModelInfo] = []
        params: dict[str, str] = {"limit": "1000"}
        asked: set[str] = set()
        while True:
            url = f"{self._models_url}?{urlencode(params)}"
            r = await self._http.get(url, headers=self._headers)
            if r.status_code >= 400:
                raise error_from_http(
                    r.status_code, r.headers, r.content, provider=self._name, model=None
                )
            page = json_decode.loads(r.content)
            # {} is no empty listing (it would be cached as one): "data" holds the list
            json_decode.require_answer(page, "a model list", "data")
            try:
                out.extend(self._model_info(m) for m in page.get("data") or ())
                last_id = page.get("last_id")
                if last_id is not None and type(last_id) is not str:
                    raise TypeError(f"last_id is {type(last_id).__name__}, not text")
            except json_decode.SHAPE_ERRORS as e:
                raise json_decode.wrong_shape("a model list", e, page, _LISTING_SHAPE) from e
            if not page.get("has_more") or not last_id or last_id in asked:
                return out
            asked.add(last_id)
            params = {"limit": "1000", "after_id": last_id}

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        """One model of ``GET /v1/models``, with what this plugin knows of it."""
        model_id = m["id"]
        if type(model_id) is not str or not model_id:
            raise TypeError(f"a model's id is {type(model_id).__name__}, not text")
        known = known_model(model_id)
        return ModelInfo(
            id=model_id,
            provider=self._name,
            context_window=known.context_window if known else None,
            max_output_tokens=known.max_output_tokens if known else None,
            price=known.price if known else None,
            created=_epoch(m.get("created_at")),
        )

    # -- batches (see :mod:`relaykit_anthropic.batches`) -----------------------------

    def _batches(self) -> MessageBatches:
        from .batches import MessageBatches  # loaded on first use

        return MessageBatches(self._http, self._base, self._headers, self._name)

    async def submit_batch(self, requests: Sequence[tuple[str, ChatRequest]]) -> Batch:
        """``POST /v1/messages/batches``, each request's ``params`` the body a single call
        sends. A custom id the API refuses, more than 100,000 requests or 256 MB are
        refused before sending."""
        return await self._batches().submit(
            requests, lambda request: self._body(request, stream=False)
        )

    async def get_batch(self, vendor_id: str) -> Batch:
        """``GET /v1/messages/batches/{id}``."""
        return await self._batches().get(vendor_id)

    async def cancel_batch(self, vendor_id: str) -> Batch:
        """``POST /v1/messages/batches/{id}/cancel``."""
        return await self._batches().cancel(vendor_id)

    def batch_results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The lines at the batch's ``results_url``, read as they arrive."""
        return self._batches().results(batch)

    def list_batches(self, limit: int) -> AsyncIterator[Batch]:
        """``GET /v1/messages/batches?limit=&after_id=``, newest first, a page at a time."""
        return self._batches().list(limit)

    def price(self, model: str) -> ModelPrice | None:
        """The list price of ``model`` if this plugin knows it."""
        known = known_model(model)
        return known.price if known else None

    def context_window(self, model: str) -> int | None:
        """``model``'s context window if this plugin knows it (the core asks when the
        listing fails)."""
        known = known_model(model)
        return known.context_window if known else None

    async def _send(self, url: str, model: str | None, body: bytes) -> HttpResponse:
        """A POST outside the core's call path, so transport errors are mapped here."""
        try:
            r = await self._post(url, body)
        except Exception as e:
            mapped = transport_error(e, provider=self._name, model=model)
            if mapped is None:
                raise
            raise mapped from e
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, model)
        return r


def beta_names(beta: Any, name: str) -> list[str]:
    """The betas ``[providers.NAME] anthropic_beta`` names: one name or a list of them.

    :raises ConfigError: anything else (``true`` raised TypeError; a table was sent
        as its keys, a number as its digits).
    """
    if not beta:
        return []
    names = [beta] if isinstance(beta, str) else beta
    if not isinstance(names, list | tuple) or not all(isinstance(b, str) for b in names):
        raise ConfigError(
            f"providers.{name}.anthropic_beta must be a beta's name or a list of them,"
            f" not {beta!r}"[:160],
            hint='anthropic_beta = ["context-1m-2025-08-07"]',
        )
    return list(names)


def _auth_headers(settings: ProviderSettings, opts: Any) -> dict[str, str]:
    headers = {"anthropic-version": str(opts.get("anthropic_version") or DEFAULT_VERSION)}
    betas = beta_names(opts.get("anthropic_beta"), settings.name)
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    auth = opts.get("auth", "x-api-key")
    if auth not in ("x-api-key", "bearer"):
        raise ConfigError(
            f"providers.{settings.name}.auth is {auth!r}",
            hint="use 'x-api-key' (Anthropic's default) or 'bearer' (Authorization: Bearer)",
        )
    if settings.api_key:
        if auth == "bearer":
            headers["authorization"] = f"Bearer {settings.api_key.reveal()}"
        else:
            headers["x-api-key"] = settings.api_key.reveal()
    return headers


def _positive_int(opts: Any, key: str, default: int, name: str) -> int:
    value = opts.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"providers.{name}.{key} must be a positive integer, not {value!r}")
    return value


def _encode(body: dict[str, Any]) -> bytes:
    return json_encode.dumps(body)


#: what ``GET /v1/models`` documents, for naming the place an answer does not fit it
_LISTING_SHAPE = {"data": [{"id": str}]}


def _epoch(created_at: Any) -> int | None:
    # RFC 3339, e.g. "2025-02-19T00:00:00Z"; fromisoformat takes the Z from 3.11 on.
    if not isinstance(created_at, str):
        return None
    try:
        return int(datetime.fromisoformat(created_at).timestamp())
    except ValueError:
        return None


def _api_base(base_url: str) -> str:
    """``base_url`` without a ``/v1`` its path ends in (a base URL copied with it, the
    OpenAI convention, is tolerated), its query kept (see ``relaykit.http.api_url``)."""
    path, mark, query = base_url.partition("?")
    return path.rstrip("/").removesuffix("/v1") + mark + query
