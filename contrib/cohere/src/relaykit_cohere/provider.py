"""The Cohere provider: HTTP calls, errors and streaming over relaykit's pooled client."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

import relaykit
from relaykit.events import StreamEvent
from relaykit.http import HttpClient, HttpResponse, api_url, base_url_credentials
from relaykit.http_errors import (
    error_from_http,
    error_in_answer,
    refuse_document_stream,
)
from relaykit.json_decode import SHAPE_ERRORS, require_answer, wrong_shape
from relaykit.secrets import scrub

from . import embeddings
from . import rerank as rerank_api  # not `rerank`: the provider's method has that name
from .wire import StreamParser, request_body, response


def _per_search(usd: str) -> relaykit.ModelPrice:
    """The price of a model billed ``usd`` per search unit (and nothing per token)."""
    return relaykit.ModelPrice(Decimal(0), Decimal(0), per_search=Decimal(usd))


#: USD per million tokens, or per search unit for rerank models (Cohere's published
#: prices; check https://cohere.com/pricing).
PRICES: dict[str, relaykit.ModelPrice] = {
    "command-a-03-2025": relaykit.ModelPrice(input=Decimal("2.50"), output=Decimal("10.00")),
    "command-r-plus-08-2024": relaykit.ModelPrice(input=Decimal("2.50"), output=Decimal("10.00")),
    "command-r-08-2024": relaykit.ModelPrice(input=Decimal("0.15"), output=Decimal("0.60")),
    "command-r7b-12-2024": relaykit.ModelPrice(input=Decimal("0.0375"), output=Decimal("0.15")),
    # Embedding models bill input tokens only (text; images are priced apart).
    "embed-v4.0": relaykit.ModelPrice(input=Decimal("0.12"), output=Decimal(0)),
    "embed-english-v3.0": relaykit.ModelPrice(input=Decimal("0.10"), output=Decimal(0)),
    "embed-multilingual-v3.0": relaykit.ModelPrice(input=Decimal("0.10"), output=Decimal(0)),
    # Rerank models bill search units (a query with up to 100 documents), not tokens:
    # USD 2.00 a thousand searches (Rerank 4 Pro: 2.50).
    "rerank-v4.0-pro": _per_search("0.0025"),
    "rerank-v4.0-fast": _per_search("0.002"),
    "rerank-v3.5": _per_search("0.002"),
}

#: Cohere's ``page_size`` maximum for ``GET /v1/models``
_PAGE_SIZE = 1000
#: what ``/v1/models`` documents, for naming the place an answer does not fit it
_LISTING_SHAPE = {"models": [{"name": str, "endpoints": [str]}]}


#: the fields of each endpoint's answer that hold the answer itself
_ANSWER_FIELDS = {"embed": ("embeddings",), "rerank": ("results",)}


class CohereProvider:
    """Cohere's v2 Chat API (``POST {base}/v2/chat``), Embed API (``POST {base}/v2/embed``),
    Rerank API (``POST {base}/v2/rerank``) and model list (``GET {base}/v1/models``).

    A call's ``reasoning=`` goes as Cohere's ``thinking`` (for its reasoning
    models, such as ``command-a-reasoning-08-2025``): off as ``disabled``, an
    effort or a budget as ``enabled`` with a ``token_budget``, ``True`` as
    ``enabled`` alone. See :mod:`relaykit_cohere.thinking`.
    """

    type: ClassVar[str] = "cohere"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "cohere"
    default_base_url: ClassVar[str] = "https://api.cohere.com"
    api_key_env: ClassVar[str | None] = "CO_API_KEY"
    base_url_env: ClassVar[str | None] = "CO_API_URL"
    requires_api_key: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: relaykit.ProviderSettings, http: HttpClient) -> None:
        self.settings = settings
        self._http = http
        headers = {"content-type": "application/json", "accept": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key.reveal()}"
        # user:password@ in base_url goes as basic auth (a ConfigError beside the key)
        base, self._headers = base_url_credentials(
            settings.base_url,
            {**headers, **settings.headers},
            where=f"providers.{settings.name}.base_url",
            known_secrets=settings.known_secrets,
        )
        #: the base URL without credentials: each path goes under its path, before
        #: its query (a gateway's), as relaykit.http.api_url puts it
        self._base = base
        self._url = api_url(base, "v2/chat")
        self._embed_url = api_url(base, "v2/embed")
        self._rerank_url = api_url(base, "v2/rerank")

    def __repr__(self) -> str:
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(
            f"CohereProvider(name={self.settings.name!r}, base_url={self.settings.base_url!r})"
        )

    def _error(self, r: HttpResponse, model: str | None) -> relaykit.RelayError:
        return error_from_http(
            r.status_code, r.headers, r.content, provider=self.settings.name, model=model
        )

    async def _post_json(self, url: str, body: dict[str, Any], model: str, endpoint: str) -> Any:
        """POST ``body`` to ``url``; the JSON answer, or the typed error for a failure."""
        content = json.dumps(body).encode()
        r = await self._http.post(url, content=content, headers=self._headers)
        if r.status_code >= 400:
            raise self._error(r, model)
        try:
            data = json.loads(r.content)
        except ValueError as e:
            came = r.headers.get("content-type") or "no content type"
            raise relaykit.ProviderUnavailableError(
                f"Cohere's {endpoint} answer is not JSON (it came as {came})",
                provider=self.settings.name,
                model=model,
                status=r.status_code,
            ) from e
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data,
            r.headers,
            r.content,
            answer=_ANSWER_FIELDS[endpoint],
            provider=self.settings.name,
            model=model,
        )
        if error is not None:
            raise error
        return data

    async def chat(self, request: relaykit.ChatRequest) -> relaykit.ChatResponse:
        """One non-streamed ``/v2/chat`` call."""
        body = json.dumps(request_body(request, stream=False)).encode()
        r = await self._http.post(self._url, content=body, headers=self._headers)
        if r.status_code >= 400:
            raise self._error(r, request.model)
        data = json.loads(r.content)
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data,
            r.headers,
            r.content,
            answer=("message",),
            provider=self.settings.name,
            model=request.model,
        )
        if error is not None:
            raise error
        return response(data, request.model, self.settings.name)

    async def stream(self, request: relaykit.ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streamed ``/v2/chat`` call, as relaykit events."""
        body = json.dumps(request_body(request, stream=True)).encode()
        headers = {**self._headers, "accept": "text/event-stream"}
        parser = StreamParser(provider=self.settings.name, model=request.model)
        async with self._http.stream("POST", self._url, content=body, headers=headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise self._error(r, request.model)
            await refuse_document_stream(  # a page, an error object
                r, expected="an event stream", provider=self.settings.name, model=request.model
            )
            # aiter_bytes() is an async generator; the protocol types it as an AsyncIterator.
            body_bytes = cast(AsyncGenerator[bytes, None], r.aiter_bytes())
            async with aclosing(body_bytes) as chunks:
                async for chunk in chunks:
                    if parser.done:
                        continue  # read to the end so the connection goes back to the pool
                    for event in parser.feed(chunk):
                        yield event
            for event in parser.close():
                yield event

    async def embed(self, request: relaykit.EmbeddingRequest) -> relaykit.EmbeddingResponse:
        """One vector per input from ``/v2/embed``, 96 texts a request.

        ``input_type`` becomes Cohere's ``search_query`` or (by default)
        ``search_document``; ``dimensions`` its ``output_dimension``. Raises
        :class:`relaykit.InvalidRequestError` for a ``dimensions`` a known model
        cannot give, before sending.
        """

        async def post(body: dict[str, Any]) -> Any:
            return await self._post_json(self._embed_url, body, request.model, "embed")

        return await embeddings.embed(request, post, provider=self.settings.name)

    async def rerank(self, request: relaykit.RerankRequest) -> relaykit.RerankResponse:
        """``request.documents`` ranked by relevance to its query, from one ``/v2/rerank`` call.

        ``top_n`` and ``max_tokens_per_doc`` are sent as Cohere's own fields.
        The response's ``search_units`` are Cohere's billed search units (what a
        rerank model's price is per). Raises :class:`relaykit.InvalidRequestError`
        for more than 10,000 documents, before sending.
        """

        async def post(body: dict[str, Any]) -> Any:
            return await self._post_json(self._rerank_url, body, request.model, "rerank")

        return await rerank_api.rerank(request, post, provider=self.settings.name)

    async def list_models(self) -> list[relaykit.ModelInfo]:
        """The models that serve the Chat endpoint, following Cohere's pagination until a
        page names no next page, or one already asked for (which would ask for the same
        pages for ever)."""
        models: list[relaykit.ModelInfo] = []
        params: dict[str, Any] = {"endpoint": "chat", "page_size": _PAGE_SIZE}
        asked: set[str] = set()
        while True:
            url = api_url(self._base, f"v1/models?{urlencode(params)}")
            r = await self._http.get(url, headers=self._headers)
            if r.status_code >= 400:
                raise self._error(r, None)
            data = json.loads(r.content)
            # {} is no empty listing (it would be cached as one)
            require_answer(data, "a model list", "models")
            try:
                models.extend(self._chat_models(data.get("models") or ()))
                token = data.get("next_page_token")
                if token and type(token) is not str:
                    raise TypeError(f"next_page_token is {type(token).__name__}, not text")
            except SHAPE_ERRORS as e:
                raise wrong_shape("a model list", e, data, _LISTING_SHAPE) from e
            if not token or token in asked:
                return models
            asked.add(token)
            params = {**params, "page_token": token}

    def _chat_models(self, listed: Iterable[dict[str, Any]]) -> Iterator[relaykit.ModelInfo]:
        """The models of a page of ``/v1/models`` that serve the Chat endpoint."""
        for m in listed:
            name = m.get("name")
            endpoints = m.get("endpoints")
            if not name or (endpoints is not None and "chat" not in endpoints):
                continue
            if type(name) is not str:
                raise TypeError(f"a model's name is {type(name).__name__}, not text")
            context = m.get("context_length")
            yield relaykit.ModelInfo(
                name,
                self.settings.name,
                context_window=int(context) if isinstance(context, int | float) else None,
                price=self.price(name),
            )

    def price(self, model: str) -> relaykit.ModelPrice | None:
        """USD per million tokens (per search unit for rerank models), or ``None`` when
        unknown (then cost stays ``None``)."""
        return PRICES.get(model)
