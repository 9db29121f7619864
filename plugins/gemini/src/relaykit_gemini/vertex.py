"""Gemini on Google Cloud's Vertex AI: the ``vertex`` provider type.

The request and answer bodies are the Gemini API's own (``generateContent``,
``streamGenerateContent?alt=sse``, ``countTokens``), so everything but where
a request goes and how it is authorised is :class:`~relaykit_gemini.GeminiProvider`'s.
What differs:

- the URL: a project and a location (:mod:`relaykit_gemini.vertex_urls`);
- the credentials: an OAuth2 access token in ``Authorization: Bearer``, from a
  service account's key file, a user's gcloud login, the metadata server of a
  Google Cloud machine, or a static token (relaykit-google-auth's
  :class:`~relaykit_google_auth.AccessTokens`); a 401 refreshes it once and retries;
  or, in express mode, an API key in ``x-goog-api-key`` and no project;
- ``countTokens`` takes the request's fields at its top level (Vertex has no
  ``generateContentRequest``), and ``embed`` goes to the Text Embeddings API's
  ``:predict`` (:mod:`relaykit_gemini.vertex_embeddings`);
- the model listing is Vertex's ``v1beta1/publishers/google/models`` (v1 has none);
- batches are refused unsent: Vertex's batch prediction reads its input from and
  writes its output to Cloud Storage or BigQuery, which relaykit does not manage.

Prices are the Gemini API's: Vertex AI bills Gemini models at the same
per-token list prices as the Gemini API's paid tier (cloud.google.com/vertex-ai/
generative-ai/pricing against ai.google.dev/gemini-api/docs/pricing: 2.5 Flash
USD 0.30 in and 2.50 out a million tokens, 2.5 Pro 1.25 and 10 up to 200k, on
both), so :mod:`relaykit_gemini.prices` serves both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar

from relaykit import (
    AuthenticationError,
    ChatRequest,
    ConfigError,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelInfo,
    NotFoundError,
    ProviderSettings,
    ProviderUnavailableError,
    RelayError,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.embeddings import BatchAnswer, estimate_tokens, send_batches
from relaykit.http import api_url
from relaykit.secrets import SecretHeaders, scrub
from relaykit_google_auth import AccessTokens, vertex_errors, vertex_settings
from relaykit_google_auth.vertex_http import model_pages, send_authorized, stream_authorized
from relaykit_google_auth.vertex_settings import option

from . import embeddings, transcription, vertex_embeddings, vertex_urls, wire
from .prices import known_model
from .provider import GeminiProvider, listed_id

if TYPE_CHECKING:
    from relaykit.http import HttpClient, HttpResponse, HttpStreamResponse

#: the ``countTokens`` fields Vertex takes besides ``contents`` (its CountTokensRequest)
_COUNT_FIELDS = ("contents", "systemInstruction", "tools", "generationConfig")


class VertexProvider(GeminiProvider):
    """Gemini through Vertex AI (``vertex/gemini-2.5-flash``).

    Options (``[providers.vertex]``): ``project`` (else ``GOOGLE_CLOUD_PROJECT``,
    else the credentials file's project), ``location`` (else
    ``GOOGLE_CLOUD_LOCATION``, else ``global``, as google-genai does),
    ``credentials_file`` (else ``GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's
    application default credentials, else the metadata server's), ``express``
    (``api_key`` is then a Vertex express mode API key, and there is no
    project), ``api_version`` (default
    ``v1``), and the Gemini provider's ``include_thoughts`` and
    ``thinking_budget``. ``api_key`` (or ``VERTEX_ACCESS_TOKEN``) is otherwise a
    static access token, used as it is. ``base_url`` (or ``GOOGLE_VERTEX_BASE_URL``)
    replaces the location's host: a proxy, a Private Service Connect endpoint.
    """

    type: ClassVar[str] = "vertex"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "gcp.vertex_ai"
    #: the host of ``global``; left as it is, the location picks the host
    default_base_url: ClassVar[str] = vertex_urls.GLOBAL_HOST
    api_key_env: ClassVar[str | None] = "VERTEX_ACCESS_TOKEN"
    base_url_env: ClassVar[str | None] = "GOOGLE_VERTEX_BASE_URL"
    requires_api_key: ClassVar[bool] = False
    _audio_types: ClassVar[Mapping[str, str]] = transcription.VERTEX_MIME_TYPES
    #: Vertex AI's ``googleSearch`` takes ``excludeDomains``: ``blocked_domains`` goes there
    search_excludes_domains: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = (
        "project",
        "location",
        "credentials_file",
        "express",
        "api_version",
        "include_thoughts",
        "thinking_budget",
    )

    # Vertex's batch prediction jobs read and write Cloud Storage or BigQuery, not
    # the Gemini API's batchGenerateContent: the core refuses them before sending.
    submit_batch = None  # type: ignore[assignment]
    get_batch = None  # type: ignore[assignment]
    cancel_batch = None  # type: ignore[assignment]
    batch_results = None  # type: ignore[assignment]
    list_batches = None  # type: ignore[assignment]

    def __init__(
        self, settings: ProviderSettings, http: HttpClient, env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(settings, http)
        # the client's environment (Client(env=...)), as Claude on Vertex reads it
        env = settings.env if env is None else env
        name = settings.name
        opts = settings.options
        self._express = option(opts, "express", bool, name) or False
        self._location = vertex_settings.location_setting(opts, env, name)
        if self._express and option(opts, "project", str, name):
            raise ConfigError(
                f"providers.{name} is in express mode, which has no project",
                hint="leave project out, or express out to use the project's credentials",
            )
        self._project = None if self._express else vertex_settings.project_setting(opts, env, name)
        configured = settings.base_url != self.default_base_url
        #: the scheme and host, or a configured base URL (its path prefix and query
        #: kept: every URL is built under it with relaykit.http.api_url)
        self._host = (
            vertex_settings.base_host(settings.base_url, name)
            if configured or self._express
            else vertex_urls.host(self._location)
        )
        self._api_version = option(opts, "api_version", str, name) or "v1"
        # The Gemini provider sent api_key as x-goog-api-key; here it is that only in express mode.
        self._headers = SecretHeaders({"content-type": "application/json", **settings.headers})
        self._tokens: AccessTokens | None = None
        if self._express:
            if not settings.api_key:
                raise ConfigError(
                    f"providers.{name} is in express mode but has no API key",
                    hint=f"set [providers.{name}] api_key, or api_key_env = 'GOOGLE_API_KEY'",
                )
            self._headers["x-goog-api-key"] = settings.api_key.reveal()
        else:
            self._tokens = AccessTokens(
                http,
                name=name,
                static=settings.api_key,
                credentials_file=vertex_settings.credentials_file(settings),
                env=env,
                known_secrets=settings.known_secrets,
            )

    def __repr__(self) -> str:
        # a configured base URL's query may hold a credential (?key=)
        return scrub(
            f"{type(self).__name__}(name={self._name!r}, project={self._project!r}, "
            f"location={self._location!r}, host={self._host!r}, express={self._express})"
        )

    # -- where, and with what ---------------------------------------------------

    async def project(self) -> str | None:
        """The project calls go to (``None`` in express mode), read from the
        credentials file when neither config nor environment names one."""
        if self._express or self._project:
            return self._project
        assert self._tokens is not None
        credentials = await self._tokens.credentials()
        found = credentials.project if credentials is not None else None
        self._project = vertex_settings.credentials_project(found, self._name)
        return self._project

    async def _url(self, model: str, method: str) -> str:
        path = vertex_urls.model_path(
            model, method, project=await self.project(), location=self._location, name=self._name
        )
        return api_url(self._host, f"{self._api_version}/{path}")

    async def _post(self, url: str, body: bytes) -> HttpResponse:
        return await send_authorized(
            self._tokens,
            self._headers,
            lambda headers: self._http.post(url, content=body, headers=headers),
        )

    def _open_stream(
        self, url: str, body: bytes
    ) -> AbstractAsyncContextManager[HttpStreamResponse]:
        return stream_authorized(
            self._tokens,
            self._headers,
            lambda headers: self._http.stream("POST", url, content=body, headers=headers),
        )

    async def _get(self, url: str) -> HttpResponse:
        return await send_authorized(
            self._tokens, self._headers, lambda headers: self._http.get(url, headers=headers)
        )

    # -- what differs on the wire -----------------------------------------------

    def _request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The Gemini API's body, but an image URL of no known type refused unsent:
        Vertex requires ``fileData.mimeType``, where the Gemini API reads it as optional."""
        wire.refuse_untyped_images(request.messages, "Vertex AI")
        return super()._request_body(request)

    def _count_tokens_body(self, request: ChatRequest) -> dict[str, Any]:
        """Vertex's CountTokensRequest: the ``generateContent`` fields it has, at its top
        level (``toolConfig``, ``safetySettings`` and ``cachedContent`` count no tokens
        and are not fields of it)."""
        body = self._request_body(request)
        return {k: v for k, v in body.items() if k in _COUNT_FIELDS}

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One vector per text, from the Text Embeddings API's ``:predict``.

        Gemini embedding models take one text a request, the others 250 and
        20,000 tokens (:mod:`relaykit_gemini.vertex_embeddings`); one-text
        requests go several at once (the vectors in the texts' order), the
        others one after another, and a retry sends only those that got no answer.
        ``input_type`` becomes each instance's ``task_type``,
        ``dimensions`` the ``outputDimensionality``; ``extra`` is merged into
        the body. The input tokens are Vertex's ``token_count``\\ s.
        """
        embeddings.check_dimensions(request, smallest=False)
        url = await self._url(request.model, "predict")

        async def send(texts: tuple[str, ...]) -> tuple[list[tuple[float, ...]], int]:
            body = json_encode.dumps(vertex_embeddings.predict_body(request, texts))
            r = await self._post(url, body)
            if r.status_code >= 400:
                raise self._error(r.status_code, r.headers, r.content, request.model)
            try:
                data = json_decode.loads(r.content)
                # an error object in place of the answer (a proxy's) is the error it describes
                json_decode.require_answer(data, "a PredictResponse", "predictions")
                vectors, counted = vertex_embeddings.predictions(data)
            except json_decode.ErrorInAnswer:
                raise  # the core types it as the error it describes
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise self._malformed("predict", "a PredictResponse", request.model) from e
            if len(vectors) != len(texts):
                raise ProviderUnavailableError(
                    f"predict answered {len(vectors)} embeddings for {len(texts)} texts",
                    provider=self._name,
                    model=request.model,
                )
            return vectors, counted or estimate_tokens(texts)

        split = embeddings.batches(
            request.inputs,
            vertex_embeddings.batch_size(request.model),
            vertex_embeddings.MAX_TOKENS,
        )
        concurrency = vertex_embeddings.concurrency(request.model)
        starts = [0, *accumulate(map(len, split[:-1]))]  # each request's first text

        def billed(index: int, answer: tuple[list[tuple[float, ...]], int]) -> BatchAnswer:
            return BatchAnswer(
                first=starts[index], vectors=tuple(answer[0]), usage=Usage(answer[1])
            )

        answers = await send_batches(split, send, concurrency=concurrency, billed=billed)
        found = [vector for vectors, _ in answers for vector in vectors]
        tokens = sum(counted for _, counted in answers)
        return EmbeddingResponse(vectors=tuple(found), model=request.model, usage=Usage(tokens))

    async def list_models(self) -> list[ModelInfo]:
        """Google's Gemini models on Vertex (``GET v1beta1/publishers/google/models``,
        every page), the embedding models left out."""
        return await model_pages(
            self._get,
            api_url(self._host, f"v1beta1/{vertex_urls.PUBLISHER}"),
            "publisherModels",
            self._listed,
            self._error,
        )

    def _listed(self, page: Iterable[dict[str, Any]]) -> Iterator[ModelInfo]:
        """The Gemini chat models of a page of ``publisherModels``."""
        for m in page:
            model_id = listed_id(m, "/")
            if model_id.startswith("gemini-") and "embedding" not in model_id:
                window, price = known_model(model_id)
                yield ModelInfo(
                    id=model_id,
                    provider=self._name,
                    context_window=window,
                    price=price,
                    owned_by="google",
                )

    # -- errors -------------------------------------------------------------------

    def _error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: str | None
    ) -> RelayError:
        """The Gemini provider's mapping, with the fixes that are Vertex's own."""
        err = super()._error(status, headers, body, model)
        text = body.decode("utf-8", "replace")
        if isinstance(err, AuthenticationError):
            err.hint = self._auth_hint(status, text)
        elif isinstance(err, NotFoundError) and model:
            err.hint = (
                f"check the model id, and that location {self._location!r} serves {model} "
                "(Google's model pages list each model's locations; 'global' serves most "
                "Gemini models)"
            )
        return err

    def _auth_hint(self, status: int, text: str) -> str:
        if self._express:
            return f"check providers.{self._name}'s express mode API key"
        assert self._tokens is not None
        return vertex_errors.auth_hint(status, text, self._tokens, self._project)
